#!/usr/bin/env bash
# Installs what the Ruby Sidekiq interop tests need: Ruby, the Sidekiq gem and Rails' Active
# Job as Debian packages them (`ruby-sidekiq`, Sidekiq 6.4, and `ruby-activejob`, Active Job
# 6.1 with the globalid gem, on bookworm). `Rack::MockRequest`, which renders Sidekiq::Web in
# tests, ships in `ruby-rack`, a dependency of `ruby-sidekiq`. Does nothing when `ruby` can
# already require all of them; safe to run again and again. scripts/test calls it. It installs
# only where scripts/install-policy.sh allows (CI, or a root shell with apt-get); elsewhere it
# names the packages and the interop tests skip.
set -euo pipefail

log() { echo "[interop-deps] $*" >&2; }
# shellcheck source=scripts/install-policy.sh
source "$(dirname "$0")/install-policy.sh"

have_ruby_lib() { command -v ruby >/dev/null 2>&1 && ruby -e "require \"$1\"" >/dev/null 2>&1; }

# Each library the tests require, and the Debian package that provides it.
missing=()
have_ruby_lib sidekiq || missing+=(ruby-sidekiq)
have_ruby_lib active_job || missing+=(ruby-activejob)
have_ruby_lib global_id || missing+=(ruby-globalid)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ -z "$(install_mode)" ]; then
  # The Ruby interop tests skip themselves without them; the rest of the run goes on.
  while IFS= read -r line; do log "$line"; done < <(install_hint "${missing[@]}")
  log "until then the Ruby interop tests that need them skip"
  exit 0
fi
apt_install "${missing[@]}"
for lib in sidekiq active_job global_id; do
  if ! have_ruby_lib "$lib"; then
    log "${missing[*]} installed but \`ruby -e 'require \"$lib\"'\` still fails"
    exit 1
  fi
done
log "installed Sidekiq $(ruby -e 'require "sidekiq"; print Sidekiq::VERSION'), Active Job $(ruby -e 'require "active_job"; print ActiveJob::VERSION::STRING')"
