#!/usr/bin/env bash
# Tests of the VS Code extension: node unit tests (stubbed vscode), the .vsix contents, and the
# end-to-end test in real VS Code (code-server) in real Chromium against `python -m torchlint server`.
# Needs .ci/setup.d/50-vscode.sh first. Screenshots: test-artifacts/vscode/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VSIX="$ROOT/client-vscode/torchlint.vsix"
failed=0

echo "== vscode: unit tests"
npm test --silent || failed=1

echo "== vscode: build + package (so the e2e test never runs a stale .vsix)"
if ! npm run package --silent >/tmp/torchlint-vsce.log 2>&1; then
  cat /tmp/torchlint-vsce.log; echo "vsce package failed"; failed=1
fi

echo "== vscode: .vsix contents"
vsix_check() {
  [ -f "$VSIX" ] || { echo "missing $VSIX (npm run package)"; return 1; }
  local listing
  listing="$(unzip -l "$VSIX")" || return 1
  echo "$listing"
  local ok=0
  for f in extension/package.json extension/dist/extension.js extension/readme.md extension/LICENSE.txt extension/media/panel.js extension/media/icon.png; do
    grep -q " $f\$" <<<"$listing" || { echo "vsix lacks $f"; ok=1; }
  done
  if grep -Eq ' extension/(node_modules|src|test|out)/' <<<"$listing"; then
    echo "vsix contains node_modules/src/test/out"; ok=1
  fi
  local size
  size=$(stat -c %s "$VSIX")
  if [ "$size" -gt 2000000 ]; then echo "vsix is $size bytes (> 2 MB)"; ok=1; fi
  return $ok
}
if vsix_check; then echo "vsix check: 1 passed, 0 failed"; else echo "vsix check: 0 passed, 1 failed"; failed=1; fi

echo "== vscode: end-to-end in code-server + Chromium"
node client-vscode/test/e2e/run.js || failed=1

exit $failed
