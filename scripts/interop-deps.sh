#!/usr/bin/env bash
# Installs what the Ruby Sidekiq interop tests need: Ruby and the Sidekiq gem as Debian
# packages them (`ruby-sidekiq`, Sidekiq 6.4 on bookworm). Does nothing when `ruby` can
# already `require "sidekiq"`; safe to run again and again. scripts/test calls it.
set -euo pipefail

log() { echo "[interop-deps] $*" >&2; }

have_sidekiq() { command -v ruby >/dev/null 2>&1 && ruby -e 'require "sidekiq"' >/dev/null 2>&1; }

if have_sidekiq; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "ruby-sidekiq is missing and apt-get is not available; the Ruby interop tests will skip"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
log "apt-get update"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
log "apt-get install ruby-sidekiq"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby-sidekiq >/dev/null
if ! have_sidekiq; then
  log "ruby-sidekiq was installed but \`ruby -e 'require \"sidekiq\"'\` still fails"
  exit 1
fi
log "installed Sidekiq $(ruby -e 'require "sidekiq"; print Sidekiq::VERSION')"
