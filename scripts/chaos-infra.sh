#!/usr/bin/env bash
# The chaos suite's own PostgreSQL and RabbitMQ, which its tests stop and start (docs/guarantees.md), apart from the shared
# test servers (PostgreSQL 55432, RabbitMQ 5672) that the other test classes use at the same time:
# a second private PostgreSQL cluster on $SP_CHAOS_PG_PORT and a second RabbitMQ node, chaos@localhost, on
# $SP_CHAOS_RABBITMQ_PORT (management on $SP_CHAOS_RABBITMQ_MANAGEMENT_PORT), both from Debian's packages.
#
# A three-node RabbitMQ cluster for the clustered-broker scenario, started only by that scenario and stopped by its
# cleanup: nodes chaos-c1..3@localhost on AMQP ports $SP_CHAOS_CLUSTER_PORT+1..3 (default 5681-5683), management
# 15681-15683, distribution 25681-25683, sharing an Erlang cookie of their own, joined to chaos-c1 with rabbitmqctl.
#
# A primary/standby PostgreSQL pair for the failover scenario, started only by that scenario and removed by its cleanup:
# the primary on $SP_REPLICA_PRIMARY_PORT (55434), a synchronous streaming standby on $SP_REPLICA_STANDBY_PORT (55435).
#
# Sourced:  source scripts/chaos-infra.sh; start_chaos_infra   # starts both, exports SP_CHAOS_*
# Invoked:  scripts/chaos-infra.sh start|stop|start-postgres|stop-postgres|start-rabbitmq|stop-rabbitmq|env
#           scripts/chaos-infra.sh start-cluster|stop-cluster|start-cluster-node N|stop-cluster-node N
#           scripts/chaos-infra.sh start-replica-pair|stop-primary|promote-standby|stop-replica-pair
# The chaos tests invoke it (SP_CHAOS_CONTROL) to stop and start each server.

SP_CHAOS_SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=infra.sh
source "$(dirname "$SP_CHAOS_SCRIPT")/infra.sh"

SP_CHAOS_PG_PORT="${SP_CHAOS_PG_PORT:-55433}"
SP_CHAOS_RABBITMQ_PORT="${SP_CHAOS_RABBITMQ_PORT:-5673}"
SP_CHAOS_RABBITMQ_MANAGEMENT_PORT="${SP_CHAOS_RABBITMQ_MANAGEMENT_PORT:-15673}"
SP_CHAOS_RABBITMQ_DIST_PORT="${SP_CHAOS_RABBITMQ_DIST_PORT:-25673}"
SP_CHAOS_RABBITMQ_NODE="chaos@localhost"
SP_CHAOS_PG_DIR="$SP_DATA_DIR/chaos-pg"
SP_CHAOS_RABBITMQ_DIR="$SP_DATA_DIR/chaos-rabbitmq"

chaos_pg_ctl() { pg_run pg_ctl -D "$SP_CHAOS_PG_DIR" "$@"; }

# An empty data directory $1 for the postgres user (initdb or pg_basebackup fills it).
pg_data_dir() {
  as_root mkdir -p "$1"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$SP_DATA_DIR" "$1"
  chmod 700 "$1" 2>/dev/null || as_root chmod 700 "$1"
}

# Starts the cluster in $1 on port $2 unless it runs; further arguments are more server settings (-c name=value).
# fsync off as for the shared test cluster: the scenarios stop servers, not the machine.
pg_start() {
  local dir="$1" port="$2"; shift 2
  if ! pg_run pg_ctl -D "$dir" status >/dev/null 2>&1; then
    log "starting the PostgreSQL in $dir on port $port"
    pg_run pg_ctl -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off $*" start >/dev/null
  fi
}

start_chaos_postgres() {
  if [ ! -f "$SP_CHAOS_PG_DIR/PG_VERSION" ]; then
    log "creating the chaos PostgreSQL cluster in $SP_CHAOS_PG_DIR"
    pg_data_dir "$SP_CHAOS_PG_DIR"
    pg_run initdb -D "$SP_CHAOS_PG_DIR" -A trust -U postgres >/dev/null
  fi
  pg_start "$SP_CHAOS_PG_DIR" "$SP_CHAOS_PG_PORT"
}

# A fast shutdown: open sessions are cut off and their transactions rolled back, as in a failover or restart.
stop_chaos_postgres() {
  if chaos_pg_ctl status >/dev/null 2>&1; then
    log "stopping the chaos PostgreSQL"
    chaos_pg_ctl -m fast -w -t 60 stop >/dev/null
  fi
}

# Runs RabbitMQ's $6 (rabbitmq-server, rabbitmqctl) with the rest as its arguments, as the rabbitmq user, for the node
# whose files are in $1: node name $2, AMQP port $3, distribution port $4, Erlang cookie in $5 (its HOME).
rabbitmq_node() {
  local dir="$1" node="$2" port="$3" dist_port="$4" home="$5" command="$6"; shift 6
  (cd "$dir" && as_root runuser -u rabbitmq -- env HOME="$home" \
    ERL_CRASH_DUMP="$dir/log/erl_crash.dump" \
    RABBITMQ_NODENAME="$node" \
    RABBITMQ_NODE_PORT="$port" \
    RABBITMQ_DIST_PORT="$dist_port" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    "/usr/lib/rabbitmq/bin/$command" "$@")
}

# Cheap (no CLI round trip): the node's pid file in $1 names a live process.
rabbitmq_node_running() {
  local pid; pid="$(cat "$1/rabbitmq.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ]
}

# A clean stop (SIGTERM, as a service manager sends) of the node in $1, called $2 in the log: connections are closed,
# durable queues and persistent messages are kept. Signalled rather than asked through rabbitmqctl, whose own start-up
# takes seconds.
stop_rabbitmq_node() {
  rabbitmq_node_running "$1" || return 0
  log "stopping $2"
  local pid; pid="$(cat "$1/rabbitmq.pid")"
  as_root kill -TERM "$pid"
  for _ in $(seq 1 600); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.1
  done
  log "$2 did not stop within 60 s"
  return 1
}

# A RabbitMQ command against the chaos node, with the rabbitmq user's own cookie.
chaos_rabbitmq() {
  rabbitmq_node "$SP_CHAOS_RABBITMQ_DIR" "$SP_CHAOS_RABBITMQ_NODE" "$SP_CHAOS_RABBITMQ_PORT" "$SP_CHAOS_RABBITMQ_DIST_PORT" \
    /var/lib/rabbitmq "$@"
}

chaos_rabbitmq_running() { rabbitmq_node_running "$SP_CHAOS_RABBITMQ_DIR"; }

chaos_management_up() {
  curl -fsS -u guest:guest "http://127.0.0.1:$SP_CHAOS_RABBITMQ_MANAGEMENT_PORT/api/overview" >/dev/null 2>&1
}

start_chaos_rabbitmq() {
  as_root mkdir -p "$SP_CHAOS_RABBITMQ_DIR/mnesia" "$SP_CHAOS_RABBITMQ_DIR/log"
  as_root sh -c "echo '[rabbitmq_management].' > '$SP_CHAOS_RABBITMQ_DIR/enabled_plugins'"
  as_root sh -c "cat > '$SP_CHAOS_RABBITMQ_DIR/rabbitmq.conf'" <<EOF
listeners.tcp.default = 127.0.0.1:$SP_CHAOS_RABBITMQ_PORT
management.tcp.port = $SP_CHAOS_RABBITMQ_MANAGEMENT_PORT
management.tcp.ip = 127.0.0.1
# Queue statistics every second (default 5 s): the tests read message counts.
collect_statistics_interval = 1000
EOF
  as_root chown -R rabbitmq:rabbitmq "$SP_CHAOS_RABBITMQ_DIR"
  if ! chaos_rabbitmq_running; then
    log "starting the chaos RabbitMQ node $SP_CHAOS_RABBITMQ_NODE on port $SP_CHAOS_RABBITMQ_PORT"
    as_root rm -f "$SP_CHAOS_RABBITMQ_DIR/rabbitmq.pid"
    chaos_rabbitmq rabbitmq-server -detached
    # Returns once the node wrote its pid file and the broker has booted.
    chaos_rabbitmq rabbitmqctl -n "$SP_CHAOS_RABBITMQ_NODE" -q wait --timeout 120 "$SP_CHAOS_RABBITMQ_DIR/rabbitmq.pid" >/dev/null
  fi
  for _ in $(seq 1 120); do
    chaos_management_up && return 0
    sleep 0.5
  done
  log "the chaos RabbitMQ's management API did not come up on $SP_CHAOS_RABBITMQ_MANAGEMENT_PORT"
  return 1
}

stop_chaos_rabbitmq() { stop_rabbitmq_node "$SP_CHAOS_RABBITMQ_DIR" "the chaos RabbitMQ"; }

SP_CHAOS_CLUSTER_PORT="${SP_CHAOS_CLUSTER_PORT:-5680}"
SP_CHAOS_CLUSTER_DIR="$SP_DATA_DIR/chaos-cluster"

cluster_node() { echo "chaos-c$1@localhost"; }

# A RabbitMQ command against cluster node $1, with the cluster's own cookie.
cluster_rabbitmq() {
  local n="$1"; shift
  rabbitmq_node "$SP_CHAOS_CLUSTER_DIR/node$n" "$(cluster_node "$n")" "$((SP_CHAOS_CLUSTER_PORT + n))" \
    "$((SP_CHAOS_CLUSTER_PORT + 20000 + n))" "$SP_CHAOS_CLUSTER_DIR/home" "$@"
}

cluster_node_running() { rabbitmq_node_running "$SP_CHAOS_CLUSTER_DIR/node$1"; }

cluster_management_up() {
  curl -fsS -u guest:guest "http://127.0.0.1:$((SP_CHAOS_CLUSTER_PORT + 10000 + $1))/api/overview" >/dev/null 2>&1
}

# Writes node $1's files and launches it unless it runs; does not wait for it (see wait_cluster_node).
launch_cluster_node() {
  local n="$1" dir="$SP_CHAOS_CLUSTER_DIR/node$1"
  as_root mkdir -p "$dir/mnesia" "$dir/log" "$SP_CHAOS_CLUSTER_DIR/home"
  if ! as_root test -f "$SP_CHAOS_CLUSTER_DIR/home/.erlang.cookie"; then
    as_root sh -c "head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \\n' > '$SP_CHAOS_CLUSTER_DIR/home/.erlang.cookie'"
  fi
  as_root sh -c "echo '[rabbitmq_management].' > '$dir/enabled_plugins'"
  as_root sh -c "cat > '$dir/rabbitmq.conf'" <<EOF
listeners.tcp.default = 127.0.0.1:$((SP_CHAOS_CLUSTER_PORT + n))
management.tcp.port = $((SP_CHAOS_CLUSTER_PORT + 10000 + n))
management.tcp.ip = 127.0.0.1
collect_statistics_interval = 1000
EOF
  as_root chown -R rabbitmq:rabbitmq "$SP_CHAOS_CLUSTER_DIR"
  as_root chmod 400 "$SP_CHAOS_CLUSTER_DIR/home/.erlang.cookie"
  if ! cluster_node_running "$n"; then
    log "starting the cluster node $(cluster_node "$n") on port $((SP_CHAOS_CLUSTER_PORT + n))"
    as_root rm -f "$dir/rabbitmq.pid"
    cluster_rabbitmq "$n" rabbitmq-server -detached
  fi
}

# Returns once node $1 has booted (its management API answers), or fails when it died or took over 4 minutes.
wait_cluster_node() {
  for _ in $(seq 1 480); do
    cluster_management_up "$1" && return 0
    # Died: its boot ended without it running.
    cluster_node_died "$1" && break
    sleep 0.5
  done
  log "$(cluster_node "$1") did not come up; see $SP_CHAOS_CLUSTER_DIR/node$1/log"
  return 1
}

start_cluster_node() { launch_cluster_node "$1"; wait_cluster_node "$1"; }

# Node $1's Erlang VM runs (booting or booted). Known by the VM's environment, not by its pid file: a node whose boot
# fails removes that file as it exits, and the file is empty for a moment while a node starts.
cluster_node_vm_alive() {
  local pid node; node="$(cluster_node "$1")"
  for pid in $(pgrep -x beam.smp); do
    as_root grep -qzx "RABBITMQ_NODENAME=$node" "/proc/$pid/environ" 2>/dev/null && return 0
  done
  return 1
}

# Node $1's boot ended without it running: no VM of its name, twice a second apart (not the instant between launching
# rabbitmq-server and its VM starting).
cluster_node_died() { ! cluster_node_vm_alive "$1" && sleep 1 && ! cluster_node_vm_alive "$1"; }

# Waits for all three nodes at once, launching again, up to twice, a node whose boot failed: RabbitMQ 3.10 can abort a
# boot while it syncs feature flags with a node still booting itself (incompatible_feature_flags, {badmap,undefined};
# seen in CI), and the others, clustered with it, wait for it meanwhile.
wait_chaos_cluster() {
  local n up relaunched=(0 0 0 0)
  for _ in $(seq 1 480); do
    up=0
    for n in 1 2 3; do
      if cluster_management_up "$n"; then
        up=$((up + 1))
      elif cluster_node_died "$n" && [ "${relaunched[$n]}" -lt 2 ]; then
        relaunched[$n]=$((relaunched[$n] + 1))
        log "$(cluster_node "$n") stopped while booting (see $SP_CHAOS_CLUSTER_DIR/node$n/log); starting it again"
        launch_cluster_node "$n"
      fi
    done
    [ "$up" -eq 3 ] && return 0
    sleep 0.5
  done
  log "the cluster did not come up; see $SP_CHAOS_CLUSTER_DIR/node*/log"
  return 1
}

# A clean stop of node $1; the others carry on, and it rejoins them when started again.
stop_cluster_node() { stop_rabbitmq_node "$SP_CHAOS_CLUSTER_DIR/node$1" "the cluster node $(cluster_node "$1")"; }

# All three nodes up and clustered. Launched together: nodes that were clustered before wait for each other at boot.
start_chaos_cluster() {
  install_packages
  local n
  for n in 1 2 3; do launch_cluster_node "$n"; done
  wait_chaos_cluster
  for n in 2 3; do
    # Node 1 lists the nodes of its cluster (running or not); a node joined before rejoins by itself.
    if ! curl -fsS -u guest:guest "http://127.0.0.1:$((SP_CHAOS_CLUSTER_PORT + 10001))/api/nodes" | grep -q "\"$(cluster_node "$n")\""; then
      log "joining $(cluster_node "$n") to $(cluster_node 1)"
      cluster_rabbitmq "$n" rabbitmqctl -n "$(cluster_node "$n")" -q stop_app
      cluster_rabbitmq "$n" rabbitmqctl -n "$(cluster_node "$n")" -q join_cluster "$(cluster_node 1)"
      cluster_rabbitmq "$n" rabbitmqctl -n "$(cluster_node "$n")" -q start_app
      wait_cluster_node "$n"
    fi
  done
  # A scenario that failed with a node down may have left its virtual host behind (a deletion needs every member):
  # the cluster serves that one scenario, one run per machine at a time, so any test virtual host here is stale.
  local vhost
  for vhost in $(curl -fsS -u guest:guest "http://127.0.0.1:$((SP_CHAOS_CLUSTER_PORT + 10001))/api/vhosts?columns=name" \
      | grep -o '"name":"sp_test_[0-9a-f]*"' | cut -d'"' -f4); do
    log "deleting the stale virtual host $vhost"
    curl -fsS -u guest:guest -X DELETE "http://127.0.0.1:$((SP_CHAOS_CLUSTER_PORT + 10001))/api/vhosts/$vhost" >/dev/null
  done
}

stop_chaos_cluster() {
  local n
  for n in 1 2 3; do stop_cluster_node "$n"; done
}

SP_REPLICA_PRIMARY_PORT="${SP_REPLICA_PRIMARY_PORT:-55434}"
SP_REPLICA_STANDBY_PORT="${SP_REPLICA_STANDBY_PORT:-55435}"
SP_REPLICA_PRIMARY_DIR="$SP_DATA_DIR/replica-primary"
SP_REPLICA_STANDBY_DIR="$SP_DATA_DIR/replica-standby"

replica_sql() { pg_run psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atqc "$2"; }

# A fresh pair every time (a promoted standby leaves a stale primary behind): a primary, and a standby cloned from it
# with pg_basebackup -R that streams its WAL. Synchronous: the primary acknowledges a commit only once the standby has
# it (synchronous_standby_names, synchronous_commit=on), so what a client was told is committed survives a failover.
# The standby gets no synchronous_standby_names: once promoted it has no standby of its own to wait for.
start_replica_pair() {
  stop_replica_pair
  log "creating the primary/standby PostgreSQL pair ($SP_REPLICA_PRIMARY_PORT, $SP_REPLICA_STANDBY_PORT)"
  pg_data_dir "$SP_REPLICA_PRIMARY_DIR"
  pg_run initdb -D "$SP_REPLICA_PRIMARY_DIR" -A trust -U postgres >/dev/null
  pg_start "$SP_REPLICA_PRIMARY_DIR" "$SP_REPLICA_PRIMARY_PORT" "-c synchronous_standby_names='*' -c synchronous_commit=on"
  pg_data_dir "$SP_REPLICA_STANDBY_DIR"
  pg_run pg_basebackup -h 127.0.0.1 -p "$SP_REPLICA_PRIMARY_PORT" -U postgres -D "$SP_REPLICA_STANDBY_DIR" -R -X stream -c fast
  pg_start "$SP_REPLICA_STANDBY_DIR" "$SP_REPLICA_STANDBY_PORT"
  for _ in $(seq 1 120); do
    [ "$(replica_sql "$SP_REPLICA_PRIMARY_PORT" "SELECT sync_state FROM pg_stat_replication")" = sync ] && return 0
    sleep 0.5
  done
  log "the standby did not become a synchronous replica; see $SP_REPLICA_STANDBY_DIR/server.log"
  return 1
}

# The primary crashes: an immediate shutdown, no checkpoint, sessions cut off mid-transaction.
stop_replica_primary() {
  log "stopping the primary PostgreSQL (immediate)"
  pg_run pg_ctl -D "$SP_REPLICA_PRIMARY_DIR" -m immediate -w -t 60 stop >/dev/null
}

promote_replica_standby() {
  log "promoting the standby PostgreSQL"
  pg_run pg_ctl -D "$SP_REPLICA_STANDBY_DIR" -w -t 60 promote >/dev/null
}

stop_replica_pair() {
  local dir
  for dir in "$SP_REPLICA_PRIMARY_DIR" "$SP_REPLICA_STANDBY_DIR"; do
    if pg_run pg_ctl -D "$dir" status >/dev/null 2>&1; then
      pg_run pg_ctl -D "$dir" -m immediate -w -t 60 stop >/dev/null
    fi
    as_root rm -rf "$dir"
  done
}

export_chaos_env() {
  export SP_CHAOS_POSTGRES="Host=127.0.0.1;Port=$SP_CHAOS_PG_PORT;Username=postgres;Database=postgres"
  export SP_CHAOS_RABBITMQ="host=127.0.0.1;port=$SP_CHAOS_RABBITMQ_PORT;username=guest;password=guest;management=http://127.0.0.1:$SP_CHAOS_RABBITMQ_MANAGEMENT_PORT/"
  export SP_CHAOS_CONTROL="$SP_CHAOS_SCRIPT"
}

# Starts both servers (installing the packages when missing) and exports where they are.
start_chaos_infra() {
  install_packages
  start_chaos_postgres
  start_chaos_rabbitmq
  export_chaos_env
}

stop_chaos_infra() {
  stop_chaos_postgres
  stop_chaos_rabbitmq
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start) start_chaos_infra ;;
    stop) stop_chaos_infra ;;
    start-postgres) start_chaos_postgres ;;
    stop-postgres) stop_chaos_postgres ;;
    start-rabbitmq) start_chaos_rabbitmq ;;
    stop-rabbitmq) stop_chaos_rabbitmq ;;
    start-cluster) start_chaos_cluster ;;
    stop-cluster) stop_chaos_cluster ;;
    start-cluster-node) [[ "${2:-}" =~ ^[123]$ ]] || { echo "which node: 1, 2 or 3" >&2; exit 2; }; start_cluster_node "$2" ;;
    stop-cluster-node) [[ "${2:-}" =~ ^[123]$ ]] || { echo "which node: 1, 2 or 3" >&2; exit 2; }; stop_cluster_node "$2" ;;
    start-replica-pair) start_replica_pair ;;
    stop-replica-pair) stop_replica_pair ;;
    stop-primary) stop_replica_primary ;;
    promote-standby) promote_replica_standby ;;
    env) export_chaos_env; printf 'export SP_CHAOS_POSTGRES="%s"\nexport SP_CHAOS_RABBITMQ="%s"\nexport SP_CHAOS_CONTROL="%s"\n' \
      "$SP_CHAOS_POSTGRES" "$SP_CHAOS_RABBITMQ" "$SP_CHAOS_CONTROL" ;;
    *) echo "usage: $0 start|stop|start-postgres|stop-postgres|start-rabbitmq|stop-rabbitmq|env|start-cluster|stop-cluster|start-cluster-node N|stop-cluster-node N|start-replica-pair|stop-replica-pair|stop-primary|promote-standby" >&2; exit 2 ;;
  esac
fi
