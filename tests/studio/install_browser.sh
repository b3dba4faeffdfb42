#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium and the Python Playwright driver (no browser
# download: the tests launch /usr/bin/chromium). Idempotent; run from the repository root.
set -euo pipefail
VENV="${VENV:-.venv}"
PLAYWRIGHT_VERSION="1.65.2"
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-nanum >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-nanum >/dev/null
fi
if ! "$VENV/bin/python" -c "import playwright, importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
  "$VENV/bin/pip" install -q "playwright==$PLAYWRIGHT_VERSION"
fi
