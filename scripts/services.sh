#!/usr/bin/env bash
# Finds the Redis and PostgreSQL servers the tests talk to, or starts private throwaway ones
# under target/, and exports their URLs as JOBS_TEST_REDIS_URL and JOBS_TEST_DATABASE_URL.
#
# It never reconfigures the machine: no file outside the checkout is written (nothing under
# /etc, no client-authentication file), no role or database is created in a server it did not start, and
# packages are installed only as scripts/install-policy.sh allows.
#
# For each server, the first that applies:
#   1. JOBS_TEST_REDIS_URL / JOBS_TEST_DATABASE_URL, when set: used as given (checked when
#      redis-cli / psql are installed);
#   2. the default local server, when it answers without a password: Redis at
#      JOBS_TEST_REDIS_DEFAULT (127.0.0.1:6379), PostgreSQL as
#      postgres://root@JOBS_TEST_PG_DEFAULT/test (JOBS_TEST_PG_DEFAULT: 127.0.0.1:5432);
#   3. the private instance in JOBS_SERVICES_DIR (target/services): reused while it runs,
#      otherwise started on a free port on 127.0.0.1 (redis-server; initdb + pg_ctl, run as the
#      `postgres` OS user, or `nobody`, when this runs as root, since initdb refuses root).
#
# Usage:
#   bash scripts/services.sh [up]       print `export ...` lines; private servers keep running
#   bash scripts/services.sh run CMD..  run CMD with the URLs set, then stop what this started
#   bash scripts/services.sh stop       stop the private servers in JOBS_SERVICES_DIR
#   source scripts/services.sh; services_trap; services_up    (what scripts/test does)
# services_trap stops, when the shell exits, the private servers this run started (not the
# ones it reused), unless JOBS_KEEP_SERVICES=1.

JOBS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/install-policy.sh
source "$JOBS_ROOT/scripts/install-policy.sh"
# shellcheck source=scripts/services-cluster.sh
source "$JOBS_ROOT/scripts/services-cluster.sh"

PG_ROLE="jobs"
PG_DATABASE="test"
# A password file that does not exist: probes must answer without any password.
NO_PGPASS="$JOBS_ROOT/target/no-such-pgpass"
_services_started_redis=0
_services_started_postgres=0

log() { echo "[services] $*" >&2; }
fail() {
  log "$*"
  exit 1
}

# The directory holding the private servers (absolute).
services_dir() {
  local dir=${JOBS_SERVICES_DIR:-$JOBS_ROOT/target/services}
  mkdir -p "$dir"
  (cd "$dir" && pwd)
}

# A URL with its password, if any, replaced by ***.
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds or time is up.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.2
  done
}

# Whether process PID is alive (not a zombie) and its command name is NAME.
proc_is() { # NAME PID
  [ -n "$2" ] || return 1
  if [ -r "/proc/$2/comm" ]; then
    [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ] &&
      [ "$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$2/stat" 2>/dev/null)" != Z ]
  else
    [ "$(ps -p "$2" -o comm= 2>/dev/null)" = "$1" ]
  fi
}

# shellcheck disable=SC2016 # the inner bash expands $1
port_in_use() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# A port on 127.0.0.1 nothing listens on (below Linux's ephemeral range).
free_port() {
  local p _
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  fail "found no free port on 127.0.0.1"
}

# Whether the Redis at HOST PORT answers PING without a password (no redis-cli needed).
# shellcheck disable=SC2016 # the inner bash expands $1 and $2
redis_ping() { # HOST PORT
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r line <&3
    [[ $line == "+PONG"* ]]' _ "$1" "$2" 2>/dev/null
}

# The process id the Redis on 127.0.0.1:PORT reports (INFO server).
# shellcheck disable=SC2016 # the inner bash expands $1
redis_process_id() { # PORT
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "INFO server\r\n" >&3
    while IFS= read -r line <&3; do
      case $line in process_id:*) line=${line#process_id:}; echo "${line%$'\''\r'\''}"; exit 0 ;; esac
    done
    exit 1' _ "$1" 2>/dev/null
}

# Whether URL answers `select 1` without a password: no prompt, no ~/.pgpass, no PGPASSWORD.
pg_answers() { # URL
  env -u PGPASSWORD PGPASSFILE="$NO_PGPASS" PGCONNECT_TIMEOUT=3 \
    timeout 10 psql -w -X -q -At -d "$1" -c 'select 1' 2>/dev/null | grep -qx 1
}

# Makes sure COMMAND exists, installing PACKAGE when the install policy allows.
need_command() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "$1 is not installed"
  apt_install "$2" || fail "stopping: $1 is missing"
  command -v "$1" >/dev/null 2>&1 || fail "$2 was installed but $1 is still not on PATH"
}

# The directory holding initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/*.
pg_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  for d in $(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null)
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  fi
  return 1
}

# The OS user private clusters run as: empty (the current user) unless this runs as root,
# where initdb refuses to run; then the existing `postgres` user (Debian's package creates
# it), else `nobody`. No user is ever created.
pg_owner() {
  if [ "$(id -u)" != 0 ]; then
    return 0
  elif id -u postgres >/dev/null 2>&1; then
    echo postgres
  else
    echo nobody
  fi
}

# Runs COMMAND as OWNER (empty: as is), from DIR, without services_up's lock descriptor (a
# server that inherited it would hold the lock for its whole life).
as_owner() { # OWNER DIR COMMAND...
  local owner=$1 dir=$2
  shift 2
  if [ -z "$owner" ]; then
    (cd "$dir" && "$@") 9>&-
  elif command -v runuser >/dev/null 2>&1; then
    (cd "$dir" && runuser -u "$owner" -- "$@") 9>&-
  else
    (cd "$dir" && setpriv --reuid "$owner" --regid "$(id -g "$owner")" --clear-groups -- "$@") 9>&-
  fi
}

# Creates DIR for a cluster owned by OWNER, and checks OWNER can reach it.
pg_make_dir() { # OWNER DIR
  mkdir -p "$2"
  if [ -n "$1" ]; then
    chown "$1:" "$2"
    as_owner "$1" / test -w "$2" ||
      fail "the '$1' OS user cannot write $2 (a parent directory is not searchable by it): run as a normal user, set JOBS_SERVICES_DIR to a directory it can reach (e.g. /tmp/jobs-services), or set JOBS_TEST_DATABASE_URL"
  fi
}

# Writes the settings of a private cluster into its own postgresql.conf.
pg_configure() { # DATA SOCKET_DIR
  local sock=$2
  # A Unix socket path is limited to 107 bytes; past that, TCP only.
  if [ $((${#sock} + 20)) -gt 107 ]; then sock=""; fi
  cat >>"$1/postgresql.conf" <<EOF

# Private throwaway cluster of the jobs test command (scripts/services.sh).
listen_addresses = '127.0.0.1'
unix_socket_directories = '${sock//\'/\'\'}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

# Starts the cluster in DATA (as OWNER) on a free port; prints the port.
pg_start() { # BINDIR OWNER DIR DATA
  local bindir=$1 owner=$2 dir=$3 data=$4 port _
  for _ in 1 2 3; do
    port=$(free_port) || exit 1
    if as_owner "$owner" "$dir" "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" \
      -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
      echo "$port"
      return 0
    fi
    as_owner "$owner" "$dir" "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  done
  fail "PostgreSQL did not start in $data; see $dir/postgres.log"
}

# ---- Redis ----

redis_private_running() { # DIR
  local port pid
  port=$(cat "$1/port" 2>/dev/null) || return 1
  pid=$(cat "$1/redis.pid" 2>/dev/null) || return 1
  proc_is redis-server "$pid" && [ "$(redis_process_id "$port")" = "$pid" ]
}

redis_private_stop() { # DIR
  local dir=$1 pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  if proc_is redis-server "$pid"; then
    kill "$pid" 2>/dev/null || true
    wait_for 10 eval "! proc_is redis-server $pid" || kill -9 "$pid" 2>/dev/null || true
    log "stopped the private redis-server (pid $pid)"
  fi
  rm -rf "$dir"
}

redis_private_start() { # DIR
  local dir=$1 port pid _
  need_command redis-server redis-server
  redis_private_stop "$dir"
  mkdir -p "$dir"
  for _ in 1 2 3; do
    port=$(free_port) || exit 1
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null 2>&1 9>&- || true
    echo "$port" >"$dir/port"
    if wait_for 15 redis_private_running "$dir"; then
      pid=$(cat "$dir/redis.pid")
      log "started a private redis-server on 127.0.0.1:$port (pid $pid, $dir)"
      return 0
    fi
    pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    if proc_is redis-server "$pid"; then kill "$pid" 2>/dev/null || true; fi
    rm -f "$dir/redis.pid"
  done
  fail "redis-server did not start; see $dir/redis.log"
}

ensure_redis() {
  if [ -n "${JOBS_TEST_REDIS_URL:-}" ]; then
    if command -v redis-cli >/dev/null 2>&1 &&
      ! timeout 5 redis-cli -u "$JOBS_TEST_REDIS_URL" ping 2>/dev/null | grep -q PONG; then
      fail "JOBS_TEST_REDIS_URL ($(redact "$JOBS_TEST_REDIS_URL")) does not answer PING"
    fi
    log "redis: JOBS_TEST_REDIS_URL ($(redact "$JOBS_TEST_REDIS_URL"))"
    export JOBS_TEST_REDIS_URL
    return 0
  fi
  local default=${JOBS_TEST_REDIS_DEFAULT:-127.0.0.1:6379}
  if redis_ping "${default%:*}" "${default##*:}"; then
    log "redis: the local server at $default"
    export JOBS_TEST_REDIS_URL="redis://$default/0"
    return 0
  fi
  log "redis: nothing answers PING without a password at $default"
  local dir
  dir="$(services_dir)/redis"
  if redis_private_running "$dir"; then
    log "redis: reusing the private redis-server on 127.0.0.1:$(cat "$dir/port") ($dir)"
  else
    redis_private_start "$dir"
    _services_started_redis=1
  fi
  JOBS_TEST_REDIS_URL="redis://127.0.0.1:$(cat "$dir/port")/0"
  export JOBS_TEST_REDIS_URL
}

# ---- PostgreSQL ----

postgres_private_url() { # DIR
  echo "postgres://$PG_ROLE@127.0.0.1:$(cat "$1/port")/$PG_DATABASE"
}

postgres_private_running() { # DIR
  local port pid
  port=$(cat "$1/port" 2>/dev/null) || return 1
  pid=$(sed -n 1p "$1/data/postmaster.pid" 2>/dev/null) || return 1
  [ "$(sed -n 4p "$1/data/postmaster.pid" 2>/dev/null)" = "$port" ] &&
    proc_is postgres "$pid" && pg_answers "$(postgres_private_url "$1")"
}

postgres_private_stop() { # DIR
  local dir=$1 pid bindir owner
  pid=$(sed -n 1p "$dir/data/postmaster.pid" 2>/dev/null || true)
  if proc_is postgres "$pid"; then
    owner=$(pg_owner)
    if bindir=$(pg_bindir) && as_owner "$owner" "$dir" "$bindir/pg_ctl" -D "$dir/data" \
      -m fast -w -t 30 stop >/dev/null 2>&1; then
      :
    else
      kill -INT "$pid" 2>/dev/null || true
      wait_for 30 eval "! proc_is postgres $pid" || kill -9 "$pid" 2>/dev/null || true
    fi
    log "stopped the private PostgreSQL (pid $pid)"
  fi
  rm -rf "$dir" || fail "cannot remove $dir (made by another user?); delete it and run again"
}

postgres_private_start() { # DIR
  local dir=$1 bindir owner port
  need_command psql postgresql-client
  if ! bindir=$(pg_bindir); then
    log "initdb and pg_ctl are not installed"
    apt_install postgresql || fail "stopping: initdb and pg_ctl are missing"
    bindir=$(pg_bindir) || fail "postgresql was installed but initdb is still not found"
  fi
  postgres_private_stop "$dir"
  owner=$(pg_owner)
  pg_make_dir "$owner" "$dir"
  log "initdb $dir/data (role $PG_ROLE, trust on 127.0.0.1 and the socket in $dir only${owner:+, as OS user $owner})"
  as_owner "$owner" "$dir" "$bindir/initdb" -D "$dir/data" -U "$PG_ROLE" --auth=trust \
    -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
    fail "initdb failed; see $dir/initdb.log"
  pg_configure "$dir/data" "$dir"
  port=$(pg_start "$bindir" "$owner" "$dir" "$dir/data") || exit 1
  echo "$port" >"$dir/port"
  env -u PGPASSWORD PGPASSFILE="$NO_PGPASS" psql -w -X -q \
    -d "postgres://$PG_ROLE@127.0.0.1:$port/postgres" -c "CREATE DATABASE $PG_DATABASE" >/dev/null ||
    fail "could not create database $PG_DATABASE in the private cluster; see $dir/postgres.log"
  log "started a private PostgreSQL on 127.0.0.1:$port (pid $(sed -n 1p "$dir/data/postmaster.pid"), $dir)"
}

ensure_postgres() {
  if [ -n "${JOBS_TEST_DATABASE_URL:-}" ]; then
    # Checked with the caller's own environment (PGPASSWORD, ~/.pgpass), as the tests connect.
    if command -v psql >/dev/null 2>&1 &&
      ! PGCONNECT_TIMEOUT=3 timeout 10 psql -w -X -q -At -d "$JOBS_TEST_DATABASE_URL" -c 'select 1' >/dev/null 2>&1; then
      fail "JOBS_TEST_DATABASE_URL ($(redact "$JOBS_TEST_DATABASE_URL")) does not answer select 1"
    fi
    log "postgres: JOBS_TEST_DATABASE_URL ($(redact "$JOBS_TEST_DATABASE_URL"))"
    export JOBS_TEST_DATABASE_URL
    return 0
  fi
  need_command psql postgresql-client
  local default=${JOBS_TEST_PG_DEFAULT:-127.0.0.1:5432}
  if pg_answers "postgres://root@$default/test"; then
    log "postgres: the local server at $default (user root, database test)"
    export JOBS_TEST_DATABASE_URL="postgres://root@$default/test"
    return 0
  fi
  log "postgres: postgres://root@$default/test does not answer without a password"
  local dir
  dir="$(services_dir)/postgres"
  if postgres_private_running "$dir"; then
    log "postgres: reusing the private PostgreSQL on 127.0.0.1:$(cat "$dir/port") ($dir)"
  else
    postgres_private_start "$dir"
    _services_started_postgres=1
  fi
  JOBS_TEST_DATABASE_URL=$(postgres_private_url "$dir")
  export JOBS_TEST_DATABASE_URL
}

# ---- entry points ----

# Finds or starts both servers and exports JOBS_TEST_REDIS_URL and JOBS_TEST_DATABASE_URL.
services_up() {
  local dir lock=0
  dir=$(services_dir)
  if command -v flock >/dev/null 2>&1; then
    # Two runs in one checkout must not start the same private server twice.
    exec 9>"$dir/.lock"
    flock 9
    lock=1
  fi
  ensure_redis
  ensure_postgres
  ensure_redis_cluster
  ensure_redis_cluster_tls
  if [ "$lock" = 1 ]; then exec 9>&-; fi
  log "JOBS_TEST_REDIS_URL=$(redact "$JOBS_TEST_REDIS_URL") JOBS_TEST_DATABASE_URL=$(redact "$JOBS_TEST_DATABASE_URL") JOBS_TEST_REDIS_CLUSTER_URL=$JOBS_TEST_REDIS_CLUSTER_URL JOBS_TEST_REDIS_CLUSTER_TLS_URL=$JOBS_TEST_REDIS_CLUSTER_TLS_URL"
}

# Stops the private servers this shell started, unless JOBS_KEEP_SERVICES=1.
services_release() {
  local dir
  if [ "$_services_started_redis$_services_started_postgres$_services_started_cluster$_services_started_cluster_tls" = 0000 ]; then return 0; fi
  dir=$(services_dir)
  if [ "${JOBS_KEEP_SERVICES:-}" = 1 ]; then
    log "JOBS_KEEP_SERVICES=1: the private servers in $dir keep running (bash scripts/services.sh stop)"
    return 0
  fi
  if [ "$_services_started_redis" = 1 ]; then redis_private_stop "$dir/redis"; fi
  if [ "$_services_started_postgres" = 1 ]; then postgres_private_stop "$dir/postgres"; fi
  if [ "$_services_started_cluster" = 1 ]; then cluster_private_stop "$dir/cluster"; fi
  if [ "$_services_started_cluster_tls" = 1 ]; then cluster_private_stop "$dir/cluster-tls"; fi
  _services_started_redis=0
  _services_started_postgres=0
  _services_started_cluster=0
  _services_started_cluster_tls=0
}

# Calls services_release when the shell exits, on an error, Ctrl-C or SIGTERM too.
services_trap() {
  trap services_release EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Stops every private server in the services directory, whoever started it.
services_stop_all() {
  local dir
  dir=$(services_dir)
  redis_private_stop "$dir/redis"
  postgres_private_stop "$dir/postgres"
  cluster_private_stop "$dir/cluster"
  cluster_private_stop "$dir/cluster-tls"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-up}" in
  up)
    # A failure half-way stops what was started; on success the servers keep running.
    trap 'if [ $? != 0 ]; then services_release; fi' EXIT
    services_up
    printf 'export JOBS_TEST_REDIS_URL=%q\n' "$JOBS_TEST_REDIS_URL"
    printf 'export JOBS_TEST_DATABASE_URL=%q\n' "$JOBS_TEST_DATABASE_URL"
    printf 'export JOBS_TEST_REDIS_CLUSTER_URL=%q\n' "$JOBS_TEST_REDIS_CLUSTER_URL"
    printf 'export JOBS_TEST_REDIS_CLUSTER_TLS_URL=%q\n' "$JOBS_TEST_REDIS_CLUSTER_TLS_URL"
    if [ "$_services_started_redis$_services_started_postgres$_services_started_cluster$_services_started_cluster_tls" != 0000 ]; then
      log "the private servers keep running; stop them with: bash scripts/services.sh stop"
    fi
    ;;
  run)
    shift
    [ $# -gt 0 ] || fail "usage: scripts/services.sh run COMMAND [ARGS...]"
    services_trap
    services_up
    "$@"
    ;;
  stop) services_stop_all ;;
  *) fail "usage: scripts/services.sh [up | run COMMAND... | stop]" ;;
  esac
fi
