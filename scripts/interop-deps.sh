#!/usr/bin/env bash
# Installs what the Ruby Sidekiq interop tests need: Ruby and the Sidekiq gem as Debian
# packages them (`ruby-sidekiq`, Sidekiq 6.4 on bookworm). Does nothing when `ruby` can
# already `require "sidekiq"`; safe to run again and again. scripts/test calls it. It installs
# only where scripts/install-policy.sh allows (CI, or a root shell with apt-get); elsewhere it
# names the package and the interop tests skip.
set -euo pipefail

log() { echo "[interop-deps] $*" >&2; }
# shellcheck source=scripts/install-policy.sh
source "$(dirname "$0")/install-policy.sh"

have_sidekiq() { command -v ruby >/dev/null 2>&1 && ruby -e 'require "sidekiq"' >/dev/null 2>&1; }

if have_sidekiq; then
  exit 0
fi
if [ -z "$(install_mode)" ]; then
  # The Ruby interop tests skip themselves without it; the rest of the run goes on.
  log "$(install_hint ruby-sidekiq); until then the Ruby interop tests skip"
  exit 0
fi
apt_install ruby-sidekiq
if ! have_sidekiq; then
  log "ruby-sidekiq was installed but \`ruby -e 'require \"sidekiq\"'\` still fails"
  exit 1
fi
log "installed Sidekiq $(ruby -e 'require "sidekiq"; print Sidekiq::VERSION')"
