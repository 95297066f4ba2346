#!/usr/bin/env bash
# The Redis Cluster the tests run the `redis+cluster://` backend against: three masters, no
# replicas, private throwaway redis-servers on free ports of 127.0.0.1 under
# target/services/cluster, exported as JOBS_TEST_REDIS_CLUSTER_URL. Sourced by
# scripts/services.sh (it uses its log, fail, wait_for, proc_is, free_port, port_in_use).
#
# The first that applies:
#   1. JOBS_TEST_REDIS_CLUSTER_URL, when set: used as given;
#   2. the private cluster in the services directory: reused while all three nodes run and
#      the cluster says `cluster_state:ok`, otherwise started (`redis-cli --cluster create`).
# A cluster is never made of servers this did not start.

_services_started_cluster=0

cluster_node_running() { # DIR PORT
  local pid
  pid=$(cat "$1/$2/redis.pid" 2>/dev/null) || return 1
  proc_is redis-server "$pid" && [ "$(redis_process_id "$2")" = "$pid" ]
}

cluster_state_ok() { # PORT
  timeout 5 redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

cluster_private_running() { # DIR
  local port
  [ -s "$1/ports" ] || return 1
  for port in $(cat "$1/ports"); do
    cluster_node_running "$1" "$port" && cluster_state_ok "$port" || return 1
  done
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

cluster_private_start() { # DIR
  local dir=$1 port ports="" nodes="" _
  need_command redis-server redis-server
  need_command redis-cli redis-tools
  cluster_private_stop "$dir"
  mkdir -p "$dir"
  for _ in 1 2 3; do
    port=$(cluster_free_port) || exit 1
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
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
  timeout 60 redis-cli --cluster create $nodes --cluster-yes >"$dir/create.log" 2>&1 ||
    fail "redis-cli --cluster create failed; see $dir/create.log"
  for port in $ports; do
    wait_for 30 cluster_state_ok "$port" ||
      fail "the private cluster is not ok on 127.0.0.1:$port; see $dir/$port/redis.log"
  done
  log "started a private Redis Cluster on 127.0.0.1:${ports# } (three masters, $dir)"
}

ensure_redis_cluster() {
  if [ -n "${JOBS_TEST_REDIS_CLUSTER_URL:-}" ]; then
    log "redis cluster: JOBS_TEST_REDIS_CLUSTER_URL ($(redact "$JOBS_TEST_REDIS_CLUSTER_URL"))"
    export JOBS_TEST_REDIS_CLUSTER_URL
    return 0
  fi
  local dir port url=""
  dir="$(services_dir)/cluster"
  if cluster_private_running "$dir"; then
    log "redis cluster: reusing the private cluster on 127.0.0.1:$(tr ' ' ',' <"$dir/ports") ($dir)"
  else
    cluster_private_start "$dir"
    _services_started_cluster=1
  fi
  for port in $(cat "$dir/ports"); do url="$url,127.0.0.1:$port"; done
  export JOBS_TEST_REDIS_CLUSTER_URL="redis+cluster://${url#,}"
}
