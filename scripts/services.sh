#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up on 127.0.0.1: Redis on 6379 and
# PostgreSQL on 5432 (user root, database test, trust auth), starting them if installed
# and installing them with apt-get if missing. Safe to run again and again.
set -euo pipefail

log() { echo "[services] $*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up"; return 1
}

ensure_redis() {
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    return 0
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting redis-server on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "redis" redis-cli -h 127.0.0.1 -p 6379 ping
}

pg_ok() { psql "postgres://root@127.0.0.1:5432/test" -Atc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if command -v psql >/dev/null && pg_ok; then return 0; fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    local ver
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $ver"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster "$ver" main start
    wait_for "postgres" pg_isready -h 127.0.0.1 -p 5432
  fi
  if ! pg_ok; then
    log "configuring role root, database test and trust auth on 127.0.0.1"
    local hba
    hba=$(su postgres -c "psql -Atc 'show hba_file'")
    if ! grep -q "jobs-tests" "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust # jobs-tests\nhost all all ::1/128 trust # jobs-tests\nlocal all all trust # jobs-tests' "$hba"
      su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
    fi
    su postgres -c "psql -Atc \"select 1 from pg_roles where rolname='root'\"" | grep -q 1 \
      || su postgres -c "psql -c 'create role root superuser login'"
    su postgres -c "psql -Atc \"select 1 from pg_database where datname='test'\"" | grep -q 1 \
      || su postgres -c "createdb -O root test"
    wait_for "postgres as root" pg_ok
  fi
}

ensure_redis
ensure_postgres
log "redis and postgres are up"
