#!/usr/bin/env bash
# Shows that scripts/services.sh leaves alone a machine whose servers want passwords.
#
# Stand-ins for the machine's default servers, on free ports under target/: a PostgreSQL
# cluster with `md5` auth (its `root` role and `test` database exist but need a password) and
# a Redis with `requirepass`. Pointed at them (JOBS_TEST_PG_DEFAULT, JOBS_TEST_REDIS_DEFAULT),
# services.sh must not use them but start private servers under target/ whose URLs answer;
# afterwards the md5 cluster's client-authentication file is byte-identical, its roles, databases and
# loaded auth rules are unchanged, the protected Redis holds no key and the same settings,
# and /etc/passwd, /etc/group and /etc/postgresql (with postgresql-common and redis) are as
# they were. It also checks that a second run reuses the running private servers, that
# `stop` stops them, and that `run` (the path scripts/test takes) stops what it started.
# scripts/test runs it; it takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh # its helpers: free_port, pg_bindir, pg_owner, as_owner, ...

work="$JOBS_ROOT/target/services-md5-test"
svc="$work/services"
md5="$work/md5"
rpw="$work/redis-pw"
password="md5-test-$RANDOM$RANDOM"

say() { echo "[md5-test] $*" >&2; }
ok() { say "ok: $*"; }
die() {
  say "FAILED: $*"
  exit 1
}

cleanup() {
  local status=$? pid
  set +e
  if [ "$status" != 0 ] && [ -f "$work/services.log" ]; then
    say "scripts/services.sh said:"
    sed 's/^/    /' "$work/services.log" >&2
  fi
  JOBS_SERVICES_DIR="$svc" bash scripts/services.sh stop 2>/dev/null
  pid=$(sed -n 1p "$md5/data/postmaster.pid" 2>/dev/null)
  if proc_is postgres "$pid"; then
    as_owner "$(pg_owner)" "$md5" "$(pg_bindir)/pg_ctl" -D "$md5/data" -m immediate -w stop >/dev/null 2>&1
  fi
  pid=$(cat "$rpw/redis.pid" 2>/dev/null)
  if proc_is redis-server "$pid"; then kill "$pid"; fi
  rm -rf "$work"
  return "$status"
}

# Runs scripts/services.sh with the stand-ins as the machine's defaults; its log goes to
# $work/services.log.
services() {
  env -u JOBS_TEST_REDIS_URL -u JOBS_TEST_DATABASE_URL -u JOBS_KEEP_SERVICES \
    JOBS_SERVICES_DIR="$svc" JOBS_TEST_PG_DEFAULT="127.0.0.1:$md5_port" \
    JOBS_TEST_REDIS_DEFAULT="127.0.0.1:$redis_port" \
    bash scripts/services.sh "$@" 2>>"$work/services.log"
}

# SQL in the md5 cluster as its superuser, with the password.
md5_sql() {
  PGPASSWORD=$password PGCONNECT_TIMEOUT=3 psql -w -X -q -At \
    -d "postgres://admin@127.0.0.1:$md5_port/postgres" -c "$1"
}

# Everything of the md5 cluster services.sh could have changed.
# (The loaded auth rules are that file parsed: its hash covers them.)
md5_state() {
  sha256sum <"$auth_file"
  md5_sql "select rolname, rolsuper, rolcanlogin from pg_roles order by 1"
  md5_sql "select datname from pg_database order by 1"
}

redis_pw() { REDISCLI_AUTH=$password timeout 5 redis-cli -p "$redis_port" "$@"; }

# Everything of the protected Redis services.sh could have changed.
redis_pw_state() {
  redis_pw CONFIG GET requirepass
  redis_pw ACL LIST
  redis_pw INFO keyspace | tr -d '\r'
}

# The files under /etc the old services.sh edited, and the user and group databases.
etc_state() {
  local f d
  for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do
    if [ -r "$f" ]; then sha256sum "$f"; fi
  done
  for d in /etc/postgresql /etc/postgresql-common /etc/redis; do
    if [ -d "$d" ]; then
      find "$d" -printf '%p %m %U %G %s %T@\n' | sort
      find "$d" -type f -readable -exec sha256sum {} + | sort
    fi
  done
}

port_of() { # URL → its port
  local rest=${1##*:}
  echo "${rest%%/*}"
}

md5_port=0
redis_port=0
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
(cleanup) # what a killed earlier run left (in a subshell: cleanup turns off set -e)

# The stand-ins need the servers' binaries, as the private servers do.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
pg_bindir >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && ! apt_install "${missing[@]}"; then
  say "SKIPPED: needs ${missing[*]}"
  exit 0
fi
bindir=$(pg_bindir)
owner=$(pg_owner)
etc_before=$(etc_state)

# The machine's PostgreSQL, as on a laptop where Postgres requires passwords.
pg_make_dir "$owner" "$md5"
printf '%s\n' "$password" >"$md5/pwfile"
if [ -n "$owner" ]; then chown "$owner:" "$md5/pwfile"; fi
as_owner "$owner" "$md5" "$bindir/initdb" -D "$md5/data" -U admin --auth=md5 \
  --pwfile="$md5/pwfile" -E UTF8 --no-locale --no-sync >"$md5/initdb.log" 2>&1 ||
  die "initdb of the md5 cluster failed: $(cat "$md5/initdb.log")"
pg_configure "$md5/data" "$md5"
# The stand-in's own client-authentication file, as initdb wrote it (only ever read here).
auth_file=$(ls "$md5"/data/*hba.conf)
md5_port=$(pg_start "$bindir" "$owner" "$md5" "$md5/data")
md5_sql "create role root login password 'not-known-to-the-tests'" >/dev/null
md5_sql "create database test owner root" >/dev/null
grep -Eq '^host +all +all +127\.0\.0\.1/32 +md5' "$auth_file" ||
  die "the stand-in's client-authentication file does not ask for md5 on 127.0.0.1"
if pg_answers "postgres://root@127.0.0.1:$md5_port/test"; then
  die "the md5 stand-in answers without a password"
fi
PGPASSWORD=$password pg_answers "postgres://admin@127.0.0.1:$md5_port/postgres" &&
  die "pg_answers used PGPASSWORD"
ok "stand-in PostgreSQL on 127.0.0.1:$md5_port wants an md5 password (role root and database test exist)"

# The machine's Redis, with a password.
mkdir -p "$rpw"
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --requirepass "$password" --save '' \
  --appendonly no --daemonize yes --dir "$rpw" --pidfile "$rpw/redis.pid" \
  --logfile "$rpw/redis.log" >/dev/null
wait_for 15 eval 'redis_pw PING 2>/dev/null | grep -q PONG' || die "the protected Redis did not start"
if redis_ping 127.0.0.1 "$redis_port"; then die "the protected Redis answers without a password"; fi
ok "stand-in Redis on 127.0.0.1:$redis_port wants a password"

md5_before=$(md5_state)
redis_before=$(redis_pw_state)

# 1. services.sh starts private servers instead, under target/.
out=$(services) || die "scripts/services.sh failed"
eval "$out"
pg_url=$JOBS_TEST_DATABASE_URL
redis_url=$JOBS_TEST_REDIS_URL
[ "$(port_of "$pg_url")" != "$md5_port" ] || die "it chose the md5 server: $pg_url"
[ "$(port_of "$redis_url")" != "$redis_port" ] || die "it chose the protected Redis: $redis_url"
case "$svc" in "$JOBS_ROOT/target/"*) ;; *) die "$svc is not under target/" ;; esac
pg_pid=$(sed -n 1p "$svc/postgres/data/postmaster.pid")
[ "$(sed -n 4p "$svc/postgres/data/postmaster.pid")" = "$(port_of "$pg_url")" ] ||
  die "no private cluster in $svc/postgres listens on $pg_url"
proc_is postgres "$pg_pid" || die "the private cluster's postmaster $pg_pid is not running"
pg_answers "$pg_url" || die "$pg_url does not answer select 1"
ok "it started a private PostgreSQL in $svc/postgres; $pg_url answers select 1"
redis_pid=$(cat "$svc/redis/redis.pid")
proc_is redis-server "$redis_pid" || die "the private redis-server $redis_pid is not running"
[ "$(redis_process_id "$(port_of "$redis_url")")" = "$redis_pid" ] ||
  die "$redis_url is not the private redis-server $redis_pid"
ok "it started a private redis-server in $svc/redis; $redis_url answers PING"

# 2. A second run reuses them while they run.
out=$(services) || die "scripts/services.sh failed the second time"
eval "$out"
[ "$JOBS_TEST_DATABASE_URL $JOBS_TEST_REDIS_URL" = "$pg_url $redis_url" ] ||
  die "the second run did not reuse the private servers: $JOBS_TEST_DATABASE_URL $JOBS_TEST_REDIS_URL"
[ "$(sed -n 1p "$svc/postgres/data/postmaster.pid")" = "$pg_pid" ] || die "the private cluster was restarted"
ok "a second run reuses them"

# 3. `stop` stops them.
services stop || die "scripts/services.sh stop failed"
if proc_is postgres "$pg_pid" || proc_is redis-server "$redis_pid" || [ -e "$svc/postgres" ] ||
  [ -e "$svc/redis" ]; then
  die "scripts/services.sh stop left a private server or its directory"
fi
ok "stop stops them and deletes their directories"

# 4. `run` (services_trap + services_up, as in scripts/test) stops what it started.
# shellcheck disable=SC2016 # expanded by the inner shell
inner=$(services run bash -c 'source scripts/services.sh
  pg_answers "$JOBS_TEST_DATABASE_URL" || exit 1
  echo "$(sed -n 1p "$JOBS_SERVICES_DIR/postgres/data/postmaster.pid") $(cat "$JOBS_SERVICES_DIR/redis/redis.pid")"') ||
  die "scripts/services.sh run failed"
read -r pg_pid redis_pid <<<"$inner"
proc_is postgres "$pg_pid" && die "run left the private PostgreSQL ($pg_pid) running"
proc_is redis-server "$redis_pid" && die "run left the private redis-server ($redis_pid) running"
ok "run starts private servers for its command and stops them after it"

# 5. Nothing of the machine changed.
[ "$(md5_state)" = "$md5_before" ] || die "the md5 cluster changed: $(diff <(echo "$md5_before") <(md5_state))"
ok "the md5 cluster's client-authentication file, roles and databases are unchanged"
[ "$(redis_pw_state)" = "$redis_before" ] || die "the protected Redis changed"
ok "the protected Redis holds no key and kept its settings"
[ "$(etc_state)" = "$etc_before" ] || die "files under /etc changed: $(diff <(echo "$etc_before") <(etc_state))"
ok "/etc/passwd, /etc/group and /etc/postgresql are unchanged"
say "passed"
