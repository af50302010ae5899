#!/usr/bin/env bash
# Starts the whole suite in the foreground: PostgreSQL, RabbitMQ, the gateway, the three services and the
# sandbox platform. Ctrl-C or SIGTERM stops everything it started.
#   SP_BOOTSTRAP_KEY  the owner API key of workspace "default" (>= 32 chars; generated when unset)
#   SP_ADMIN_TOKEN    enables the admin API (and the gateway's /metrics)
# ./run.sh --monitoring also starts Prometheus (Debian's package) on localhost:9090, scraping every service's /metrics
# with the alerting rules of deploy/monitoring (the Grafana dashboard there can be imported into any Grafana).
# The processes, their ports and the settings each needs come from deploy/services.json.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
source scripts/infra.sh
MONITORING=""
for arg in "$@"; do
  case "$arg" in
    --monitoring) MONITORING=1 ;;
    *) echo "usage: ./run.sh [--monitoring]" >&2; exit 2 ;;
  esac
done

SP_BOOTSTRAP_KEY="${SP_BOOTSTRAP_KEY:-sp_$(head -c 30 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')}"
if [ ${#SP_BOOTSTRAP_KEY} -lt 32 ]; then
  echo "SP_BOOTSTRAP_KEY must be at least 32 characters." >&2
  exit 2
fi
export SP_BOOTSTRAP_KEY SP_ADMIN_TOKEN="${SP_ADMIN_TOKEN:-}"

# Secrets are generated once and kept with the data: the keys decrypt what is stored (platform credentials, webhook
# signing secrets), and the infrastructure passwords are set when its volumes are first created.
mkdir -p "$SP_DATA_DIR"
secret() { # secret <file> <random bytes>: the secret in $SP_DATA_DIR/<file>, generated when missing
  local file="$SP_DATA_DIR/$1"
  [ -s "$file" ] || (umask 077 && head -c "$2" /dev/urandom | base64 | tr -d '\n' > "$file")
  cat "$file"
}
# The internal identity: the gateway and the publisher each sign with a P-256 key pair of their own; the services
# that receive their calls get only the public halves.
keypair() { # keypair <name>: $SP_DATA_DIR/<name>.key (private, generated when missing) and <name>.pub (its public half)
  local key="$SP_DATA_DIR/$1.key"
  [ -s "$key" ] || (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key")
  openssl pkey -in "$key" -pubout -out "$SP_DATA_DIR/$1.pub"
}
keypair gateway-identity
keypair publisher-identity
export SP_GATEWAY_SIGNING_KEY="$(cat "$SP_DATA_DIR/gateway-identity.key")"
export SP_GATEWAY_PUBLIC_KEY="$(cat "$SP_DATA_DIR/gateway-identity.pub")"
export SP_PUBLISHER_SIGNING_KEY="$(cat "$SP_DATA_DIR/publisher-identity.key")"
export SP_PUBLISHER_PUBLIC_KEY="$(cat "$SP_DATA_DIR/publisher-identity.pub")"
export SP_CREDENTIALS_KEY="$(secret credentials.key 32)"
export SP_WEBHOOK_SECRET_KEY="$(secret webhook-secrets.key 32)"
# Each service's own broker user (deploy/rabbitmq/permissions.tsv), made by deploy/rabbitmq/provision.sh.
export SP_RABBITMQ_PASSWORD_SCHEDULING="$(secret rabbitmq-scheduling.password 24 | tr '+/' '-_')"
export SP_RABBITMQ_PASSWORD_PUBLISHER="$(secret rabbitmq-publisher.password 24 | tr '+/' '-_')"
export SP_RABBITMQ_PASSWORD_WEBHOOKS="$(secret rabbitmq-webhooks.password 24 | tr '+/' '-_')"
# The scheduling service's user for the management API (the queue depths of GET /admin/status).
export SP_RABBITMQ_PASSWORD_SCHEDULING_MONITOR="$(secret rabbitmq-scheduling-monitor.password 24 | tr '+/' '-_')"

if docker_engine_available && [ -z "${SP_USE_LOCAL_INFRA:-}" ]; then
  export SP_POSTGRES_PASSWORD="$(secret postgres.password 24 | tr '+/' '-_')"
  export SP_RABBITMQ_PASSWORD="$(secret rabbitmq.password 24 | tr '+/' '-_')"
  log "Docker engine found: docker compose up"
  echo "Gateway: http://localhost:8080    owner API key of workspace 'default': $SP_BOOTSTRAP_KEY"
  echo "RabbitMQ: docker compose exec rabbitmq rabbitmqctl … (administrator scheduledposts, password in $SP_DATA_DIR/rabbitmq.password)"
  [ -z "$MONITORING" ] || log "--monitoring starts a local Prometheus only without Docker; point yours at each service's /metrics"
  # The demo profile adds the sandbox platform the walk-through posts to.
  exec docker compose --profile demo up --build
fi

pids=()
stop() {
  trap - INT TERM EXIT
  log "stopping"
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  stop_local_infra
}
trap stop INT TERM EXIT

start_local_infra
DB="$SP_DATABASE"
# The services' own users on a virtual host of their own, which guest (the local console's user) has no access to.
RABBITMQ_VHOST=scheduledposts
RABBITMQCTL="$([ "$(id -u)" = 0 ] && echo rabbitmqctl || echo sudo rabbitmqctl)" deploy/rabbitmq/provision.sh "$RABBITMQ_VHOST"

log "building (Release)"
dotnet build ScheduledPosts.sln -c Release -nologo -clp:ErrorsOnly >/dev/null

LOGS="$SP_DATA_DIR/logs"
mkdir -p "$LOGS"
export ASPNETCORE_ENVIRONMENT=Production
# This deployment's value of every setting deploy/services.json may require; each service gets those it requires.
declare -A SETTING=(
  [Internal:SigningKeys:gateway]="$SP_GATEWAY_SIGNING_KEY"
  [Internal:TrustedKeys:gateway]="$SP_GATEWAY_PUBLIC_KEY"
  [Internal:SigningKeys:publisher]="$SP_PUBLISHER_SIGNING_KEY"
  [Internal:TrustedKeys:publisher]="$SP_PUBLISHER_PUBLIC_KEY"
  [ConnectionStrings:Postgres]="Host=127.0.0.1;Port=$SP_PG_PORT;Username=postgres;Database=$DB"
  [RabbitMq:Host]=127.0.0.1
  # Each service connects as its own broker user: the loop below takes its name and SP_RABBITMQ_PASSWORD_<NAME>.
  [RabbitMq:Username]=per-service
  [RabbitMq:Password]=per-service
  [Watch:BrokerManagementUrl]=http://127.0.0.1:15672/
  [Watch:BrokerManagementUsername]=scheduling-monitor
  [Watch:BrokerManagementPassword]="$SP_RABBITMQ_PASSWORD_SCHEDULING_MONITOR"
  [Credentials:Key]="$SP_CREDENTIALS_KEY"
  [Media:Directory]="$SP_DATA_DIR/media"
  [Webhooks:SecretKey]="$SP_WEBHOOK_SECRET_KEY"
  [Bootstrap:Key]="$SP_BOOTSTRAP_KEY"
)
# Settings of this deployment only, not required by the description.
declare -A EXTRA=(
  [webhooks]="Webhooks__AllowHttp=true Webhooks__AllowLoopback=true"
  [scheduling]="Outbound__AllowHttp=true Outbound__AllowLoopback=true"
  [publisher]="Outbound__AllowHttp=true Outbound__AllowLoopback=true"
  [gateway]="Admin__Token=$SP_ADMIN_TOKEN"
)

# One line per service, in start order, fields split by |: name, project dir, assembly, health path,
# listeners (Name=port ...), required settings, wiring (Setting=port of the listener it points at ...).
SERVICES="$(jq -r '.services as $all | .services | to_entries[] | [
    .key, (.value.project | sub("/[^/]+$"; "")), .value.assembly, .value.health,
    (.value.listeners | to_entries | map("\(.key)=\(.value)") | join(" ")),
    (.value.settings | join(" ")),
    (.value.wiring | to_entries | map(.value as $t | ($t | split(".")) as [$s, $l] | "\(.key)=\($all[$s].listeners[$l])") | join(" "))
  ] | join("|")' deploy/services.json)"

health_urls=()
scrape_targets=()
while IFS='|' read -r name dir dll health listeners settings wiring; do
  env=()
  first=""
  for listener in $listeners; do
    env+=("Kestrel__Endpoints__${listener%%=*}__Url=http://localhost:${listener#*=}")
    first="${first:-${listener#*=}}"
  done
  for setting in $settings; do
    case "$setting" in
      RabbitMq:Username) env+=("RabbitMq__Username=$name" "RabbitMq__VirtualHost=$RABBITMQ_VHOST"); continue ;;
      RabbitMq:Password) var="SP_RABBITMQ_PASSWORD_${name^^}"; env+=("RabbitMq__Password=${!var}"); continue ;;
    esac
    [ -n "${SETTING[$setting]+set}" ] || { echo "deploy/services.json requires $setting of $name; run.sh has no value for it" >&2; exit 2; }
    env+=("${setting//:/__}=${SETTING[$setting]}")
  done
  for wire in $wiring; do
    key="${wire%%=*}"
    env+=("${key//:/__}=http://localhost:${wire#*=}")
  done
  if [ -n "${EXTRA[$name]:-}" ]; then
    read -r -a extra <<<"${EXTRA[$name]}"
    env+=("${extra[@]}")
  fi
  # Runs the built service from its output folder.
  (cd "$ROOT/$dir/bin/Release/net10.0" && exec env "${env[@]}" dotnet "$dll") >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  health_urls+=("http://localhost:$first$health")
  [ "$name" = sandbox ] || scrape_targets+=("$name=localhost:$first")
  case "$name" in
    gateway) GATEWAY_URL="http://localhost:$first" ;;
    sandbox) SANDBOX_URL="http://localhost:$first" ;;
  esac
done <<<"$SERVICES"

for url in "${health_urls[@]}"; do
  for _ in $(seq 1 120); do
    curl -fsS "$url" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "$url" >/dev/null 2>&1 || { echo "Not ready: $url (logs in $LOGS)" >&2; exit 1; }
done

MONITORING_LINE=""
if [ -n "$MONITORING" ]; then
  install_prometheus
  {
    echo "global: {scrape_interval: 5s, evaluation_interval: 5s}"
    echo "rule_files: ['$ROOT/deploy/monitoring/alerts.yml']"
    echo "scrape_configs:"
    for target in "${scrape_targets[@]}"; do
      echo "  - job_name: ${target%%=*}"
      # The gateway's port is public: its metrics need the admin token (without one, that job shows as down).
      [ "${target%%=*}" = gateway ] && echo "    authorization: {credentials: '$SP_ADMIN_TOKEN'}"
      echo "    static_configs: [{targets: ['${target#*=}']}]"
    done
  } >"$SP_DATA_DIR/prometheus.yml"
  prometheus --config.file="$SP_DATA_DIR/prometheus.yml" --storage.tsdb.path="$SP_DATA_DIR/prometheus" \
    --web.listen-address=localhost:9090 >"$LOGS/prometheus.log" 2>&1 &
  pids+=($!)
  MONITORING_LINE="  Prometheus:         http://localhost:9090 (alerts: deploy/monitoring/alerts.yml)"
fi

cat <<MSG

ScheduledPosts is running.
  Gateway:            $GATEWAY_URL
  Owner API key:      $SP_BOOTSTRAP_KEY   (workspace "default")
  Sandbox platform:   $SANDBOX_URL/sandbox/statuses
  RabbitMQ console:   http://localhost:15672 (guest/guest; the services' virtual host is $RABBITMQ_VHOST)
  Logs:               $LOGS
$MONITORING_LINE
Press Ctrl-C to stop.
MSG

wait -n
log "a service exited; see $LOGS"
exit 1
