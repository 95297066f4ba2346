#!/usr/bin/env bash
# Installs what the dashboard's browser test needs: Debian's `chromium` and `playwright-core`
# from npm (into jobs-web/e2e/node_modules; it drives the system Chromium and downloads no
# browser). Does nothing when both are there; safe to run again and again. scripts/test calls it.
# Packages are installed only where scripts/install-policy.sh allows (CI, or a root shell with
# apt-get); elsewhere it names them and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[e2e-deps] $*" >&2; }
# shellcheck source=scripts/install-policy.sh
source scripts/install-policy.sh

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if ! apt_install "${missing[@]}"; then
    log "the browser test needs ${missing[*]}"
    exit 1
  fi
fi

if [ ! -f jobs-web/e2e/node_modules/playwright-core/package.json ]; then
  log "npm install playwright-core (no browser download)"
  (cd jobs-web/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi
log "chromium: $(chromium --version 2>/dev/null || echo missing); node: $(node --version)"
