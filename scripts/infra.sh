# Sourced by run.sh and test.sh: PostgreSQL and RabbitMQ for a machine that has only the .NET SDK.
# Without a Docker engine they come from Debian's packages (installed when missing): a private
# PostgreSQL cluster on $SP_PG_PORT and the system RabbitMQ with its management plugin.

SP_DATA_DIR="${SP_DATA_DIR:-/var/tmp/scheduledposts}"
SP_PG_PORT="${SP_PG_PORT:-55432}"
# The database run.sh and `dotnet run` in Development use (appsettings.Development.json); the tests make their own.
SP_DATABASE=scheduledposts
SP_RABBITMQ_PORT=5672
SP_RABBITMQ_MANAGEMENT_PORT=15672

log() { printf '\033[1m[infra]\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

docker_engine_available() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install_packages() {
  local missing=()
  [ -n "$(pg_bin)" ] || missing+=(postgresql)
  command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
  # run.sh reads deploy/services.json with it
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian's packages"
    as_root apt-get update -qq
    # policy-rc.d may refuse to start services at install time; we start them ourselves below.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Prometheus and promtool (Debian's package, without its recommends): `run.sh --monitoring` runs a server scraping the
# suite, and the tests check the alerting rules and scrape a running suite. Its own system service is not wanted.
install_prometheus() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && return 0
  log "installing prometheus from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  as_root service prometheus stop >/dev/null 2>&1 || true
}

# kubectl (Debian's kubernetes-client): the tests render deploy/kubernetes with `kubectl kustomize` and pass it through
# `kubectl apply --dry-run=client` against a stand-in API server of their own. No cluster is needed.
install_kubectl() {
  command -v kubectl >/dev/null 2>&1 && return 0
  log "installing kubernetes-client from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
}

# Runs a PostgreSQL binary as the postgres user when we are root (initdb refuses to run as root).
pg_run() {
  local bin; bin="$(pg_bin)/$1"; shift
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin" "$@"; else "$bin" "$@"; fi
}

start_postgres() {
  local dir="$SP_DATA_DIR/pg"
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating a PostgreSQL cluster in $dir"
    as_root mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$SP_DATA_DIR" "$dir"
    chmod 700 "$dir" 2>/dev/null || as_root chmod 700 "$dir"
    pg_run initdb -D "$dir" -A trust -U postgres >/dev/null
  fi
  if ! pg_run pg_ctl -D "$dir" status >/dev/null 2>&1; then
    log "starting PostgreSQL on port $SP_PG_PORT"
    SP_STARTED_POSTGRES=1
    pg_run pg_ctl -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $SP_PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=500 ${SP_PG_EXTRA_OPTIONS:-}" start >/dev/null
  fi
}

start_rabbitmq() {
  if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    SP_STARTED_RABBITMQ=1
    as_root rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
    as_root service rabbitmq-server start >/dev/null || as_root sh -c 'rabbitmq-server -detached'
  fi
  as_root rabbitmqctl -q await_startup --timeout 120 >/dev/null
  if ! curl -fsS -u guest:guest "http://127.0.0.1:$SP_RABBITMQ_MANAGEMENT_PORT/api/overview" >/dev/null 2>&1; then
    as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
    for _ in $(seq 1 60); do
      curl -fsS -u guest:guest "http://127.0.0.1:$SP_RABBITMQ_MANAGEMENT_PORT/api/overview" >/dev/null 2>&1 && break
      sleep 1
    done
  fi
}

# Starts both from the system's packages and exports where they are.
start_local_infra() {
  install_packages
  start_postgres
  start_rabbitmq
  local psql=(psql -h 127.0.0.1 -p "$SP_PG_PORT" -U postgres -d postgres)
  if ! "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$SP_DATABASE'" | grep -q 1; then
    "${psql[@]}" -qc "CREATE DATABASE $SP_DATABASE"
  fi
  export SP_POSTGRES_ADMIN="Host=127.0.0.1;Port=$SP_PG_PORT;Username=postgres;Database=postgres"
  export SP_TEST_POSTGRES="$SP_POSTGRES_ADMIN"
  export SP_TEST_RABBITMQ="host=127.0.0.1;port=$SP_RABBITMQ_PORT;username=guest;password=guest;management=http://127.0.0.1:$SP_RABBITMQ_MANAGEMENT_PORT/"
}

# Stops what start_local_infra started (and only that).
stop_local_infra() {
  if [ -n "${SP_STARTED_POSTGRES:-}" ]; then
    log "stopping PostgreSQL"
    pg_run pg_ctl -D "$SP_DATA_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -n "${SP_STARTED_RABBITMQ:-}" ]; then
    log "stopping RabbitMQ"
    as_root service rabbitmq-server stop >/dev/null 2>&1 || as_root rabbitmqctl -q stop >/dev/null 2>&1 || true
  fi
}
