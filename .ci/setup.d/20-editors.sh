#!/usr/bin/env bash
# Headless editors for tests/editors: Neovim 0.7 and Emacs 28 + eglot (Debian packages).
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v nvim >/dev/null 2>&1 || need+=(neovim)
command -v emacs >/dev/null 2>&1 || need+=(emacs-nox)
if ! ls /usr/share/emacs/site-lisp/elpa/eglot-* >/dev/null 2>&1 \
   && ! ls /usr/share/emacs/site-lisp/elpa-src/eglot-* >/dev/null 2>&1; then
  need+=(elpa-eglot)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "editors: already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${need[@]}"
