#!/usr/bin/env bash
# The Redis Clusters the tests run the `redis+cluster://` backend against: three masters, no
# replicas, private throwaway redis-servers on free ports of 127.0.0.1 under
# target/services/cluster, exported as JOBS_TEST_REDIS_CLUSTER_URL; and the same over TLS
# only (to clients and between nodes) under target/services/cluster-tls, with a CA and a
# server certificate for 127.0.0.1 made there by openssl for the run, exported as
# JOBS_TEST_REDIS_CLUSTER_TLS_URL (`rediss+cluster://...?ca=<its CA file>`). Sourced by
# scripts/services.sh (it uses its log, fail, wait_for, proc_is, free_port, port_in_use).
#
# For each, the first that applies:
#   1. the variable, when set: used as given;
#   2. the private cluster in the services directory: reused while all three nodes run and
#      the cluster says `cluster_state:ok`, otherwise started (`redis-cli --cluster create`).
# A cluster is never made of servers this did not start.

_services_started_cluster=0
_services_started_cluster_tls=0

# redis-cli against the node of the cluster in DIR on PORT: over TLS with the cluster's CA
# when DIR holds one.
cluster_cli() { # DIR PORT ARGS...
  local dir=$1 port=$2
  shift 2
  if [ -f "$dir/tls/ca.crt" ]; then
    timeout 5 redis-cli --tls --cacert "$dir/tls/ca.crt" -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
  else
    timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
  fi
}

cluster_node_running() { # DIR PORT
  local pid
  pid=$(cat "$1/$2/redis.pid" 2>/dev/null) || return 1
  proc_is redis-server "$pid" &&
    [ "$(cluster_cli "$1" "$2" info server | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ]
}

cluster_state_ok() { # DIR PORT
  cluster_cli "$1" "$2" cluster info | grep -q '^cluster_state:ok'
}

cluster_private_running() { # DIR
  local port
  [ -s "$1/ports" ] || return 1
  for port in $(cat "$1/ports"); do
    cluster_node_running "$1" "$port" && cluster_state_ok "$1" "$port" || return 1
  done
}

# A CA and a certificate for 127.0.0.1 signed by it, in DIR/tls, made for this cluster.
cluster_tls_files() { # DIR
  local tls=$1/tls
  need_command openssl openssl
  mkdir -p "$tls"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=jobs test CA" \
      -keyout "$tls/ca.key" -out "$tls/ca.crt" &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$tls/server.key" -out "$tls/server.csr" &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$tls/ext" &&
      openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 2 -extfile "$tls/ext" -out "$tls/server.crt"
  } >"$tls/openssl.log" 2>&1 || fail "openssl could not make the TLS cluster's certificates; see $tls/openssl.log"
}

cluster_private_stop() { # DIR
  local dir=$1 port pid
  for port in $(cat "$dir/ports" 2>/dev/null); do
    pid=$(cat "$dir/$port/redis.pid" 2>/dev/null || true)
    if proc_is redis-server "$pid"; then
      kill "$pid" 2>/dev/null || true
      wait_for 10 eval "! proc_is redis-server $pid" || kill -9 "$pid" 2>/dev/null || true
      log "stopped the private cluster node on 127.0.0.1:$port (pid $pid)"
    fi
  done
  rm -rf "$dir"
}

# A port that is free, and whose cluster bus port (+10000) is free too.
cluster_free_port() {
  local p _
  for _ in $(seq 1 50); do
    p=$(free_port) || return 1
    if [ "$p" -lt 22000 ] && ! port_in_use $((p + 10000)); then
      echo "$p"
      return 0
    fi
  done
  fail "found no free port pair for a cluster node"
}

cluster_private_start() { # DIR [tls]
  local dir=$1 port ports="" nodes="" _ listen=() create=()
  need_command redis-server redis-server
  need_command redis-cli redis-tools
  cluster_private_stop "$dir"
  mkdir -p "$dir"
  if [ "${2:-}" = tls ]; then
    cluster_tls_files "$dir"
    create=(--tls --cacert "$dir/tls/ca.crt")
  fi
  for _ in 1 2 3; do
    port=$(cluster_free_port) || exit 1
    mkdir -p "$dir/$port"
    if [ "${2:-}" = tls ]; then
      listen=(--port 0 --tls-port "$port" --tls-cluster yes --tls-replication yes
        --tls-cert-file "$dir/tls/server.crt" --tls-key-file "$dir/tls/server.key"
        --tls-ca-cert-file "$dir/tls/ca.crt" --tls-auth-clients no)
    else
      listen=(--port "$port")
    fi
    redis-server --bind 127.0.0.1 "${listen[@]}" --cluster-enabled yes \
      --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 2000 \
      --save '' --appendonly no --daemonize yes --dir "$dir/$port" \
      --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" >/dev/null 2>&1 9>&- || true
    ports="$ports $port"
    nodes="$nodes 127.0.0.1:$port"
    echo "$ports" >"$dir/ports"
    wait_for 15 cluster_node_running "$dir" "$port" ||
      fail "a cluster node did not start on 127.0.0.1:$port; see $dir/$port/redis.log"
  done
  # shellcheck disable=SC2086 # one argument per node
  timeout 60 redis-cli "${create[@]}" --cluster create $nodes --cluster-yes >"$dir/create.log" 2>&1 ||
    fail "redis-cli --cluster create failed; see $dir/create.log"
  for port in $ports; do
    wait_for 30 cluster_state_ok "$dir" "$port" ||
      fail "the private cluster is not ok on 127.0.0.1:$port; see $dir/$port/redis.log"
  done
  log "started a private Redis Cluster${2:+ (TLS only)} on 127.0.0.1:${ports# } (three masters, $dir)"
}

# Exports VAR: as given when it is set; otherwise the URL of the private cluster in the
# services directory's DIRNAME, reused while it runs and started otherwise (over TLS only
# with `tls`); sets the flag FLAG to 1 when this started it.
ensure_cluster() { # VAR DIRNAME FLAG WHAT [tls]
  local var=$1 name=$2 flag=$3 what=$4 tls=${5:-} dir port nodes=""
  if [ -n "${!var:-}" ]; then
    log "$what: $var ($(redact "${!var}"))"
    export "${var?}"
    return 0
  fi
  dir="$(services_dir)/$name"
  if cluster_private_running "$dir"; then
    log "$what: reusing the private cluster on 127.0.0.1:$(tr -s ' ' ',' <"$dir/ports" | sed 's/^,//') ($dir)"
  else
    cluster_private_start "$dir" ${tls:+"$tls"}
    printf -v "$flag" 1
  fi
  for port in $(cat "$dir/ports"); do nodes="$nodes,127.0.0.1:$port"; done
  if [ "$tls" = tls ]; then
    printf -v "$var" 'rediss+cluster://%s?ca=%s' "${nodes#,}" "$dir/tls/ca.crt"
  else
    printf -v "$var" 'redis+cluster://%s' "${nodes#,}"
  fi
  export "${var?}"
}

ensure_redis_cluster() {
  ensure_cluster JOBS_TEST_REDIS_CLUSTER_URL cluster _services_started_cluster "redis cluster"
}

ensure_redis_cluster_tls() {
  ensure_cluster JOBS_TEST_REDIS_CLUSTER_TLS_URL cluster-tls _services_started_cluster_tls \
    "redis cluster over TLS" tls
}
