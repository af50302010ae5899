#!/usr/bin/env bash
# Starts the whole suite in the foreground: PostgreSQL, RabbitMQ, the gateway, the three services and the
# sandbox platform. Ctrl-C or SIGTERM stops everything it started.
#   SP_BOOTSTRAP_KEY  the owner API key of workspace "default" (>= 32 chars; generated when unset)
#   SP_ADMIN_TOKEN    enables the admin API
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
source scripts/infra.sh

SP_BOOTSTRAP_KEY="${SP_BOOTSTRAP_KEY:-sp_$(head -c 30 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')}"
if [ ${#SP_BOOTSTRAP_KEY} -lt 32 ]; then
  echo "SP_BOOTSTRAP_KEY must be at least 32 characters." >&2
  exit 2
fi
export SP_BOOTSTRAP_KEY SP_ADMIN_TOKEN="${SP_ADMIN_TOKEN:-}"
GATEWAY_URL="http://localhost:8080"
# Platform credentials are encrypted with this key: keep it with the data, or they can't be read back.
mkdir -p "$SP_DATA_DIR"
KEY_FILE="$SP_DATA_DIR/credentials.key"
[ -s "$KEY_FILE" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$KEY_FILE")
export SP_CREDENTIALS_KEY="$(cat "$KEY_FILE")"
WEBHOOK_KEY_FILE="$SP_DATA_DIR/webhook-secrets.key"
[ -s "$WEBHOOK_KEY_FILE" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$WEBHOOK_KEY_FILE")
export SP_WEBHOOK_SECRET_KEY="$(cat "$WEBHOOK_KEY_FILE")"

if docker_engine_available && [ -z "${SP_USE_LOCAL_INFRA:-}" ]; then
  log "Docker engine found: docker compose up"
  echo "Gateway: $GATEWAY_URL    owner API key of workspace 'default': $SP_BOOTSTRAP_KEY"
  exec docker compose up --build
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
DB=scheduledposts
PSQL=(psql -h 127.0.0.1 -p "$SP_PG_PORT" -U postgres -d postgres)
if ! "${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  "${PSQL[@]}" -qc "CREATE DATABASE $DB"
fi

log "building (Release)"
dotnet build ScheduledPosts.sln -c Release -nologo -clp:ErrorsOnly >/dev/null

LOGS="$SP_DATA_DIR/logs"
mkdir -p "$LOGS"
export ASPNETCORE_ENVIRONMENT=Production
export Internal__Secret="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export ConnectionStrings__Postgres="Host=127.0.0.1;Port=$SP_PG_PORT;Username=postgres;Database=$DB"
export RabbitMq__Host=127.0.0.1
export Credentials__Key="$SP_CREDENTIALS_KEY"
export Media__Directory="$SP_DATA_DIR/media"


# start <name> <project dir> <assembly> [VAR=value ...]: runs a built service from its output folder.
start() {
  local name="$1" dir="$ROOT/$2/bin/Release/net10.0" dll="$3"; shift 3
  (cd "$dir" && exec env "$@" dotnet "$dll") >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
}

start sandbox services/sandbox ScheduledPosts.Sandbox.dll
start scheduling services/scheduling ScheduledPosts.Scheduling.dll
start publisher services/publisher ScheduledPosts.Publisher.dll
start webhooks services/webhooks ScheduledPosts.Webhooks.dll Webhooks__AllowHttp=true Webhooks__AllowLoopback=true \
  Webhooks__SecretKey="$SP_WEBHOOK_SECRET_KEY"
start gateway gateway ScheduledPosts.Gateway.dll Bootstrap__Key="$SP_BOOTSTRAP_KEY" Admin__Token="$SP_ADMIN_TOKEN"

for url in http://localhost:8081/readyz http://localhost:8083/readyz http://localhost:8085/readyz http://localhost:8095/healthz "$GATEWAY_URL/healthz"; do
  for _ in $(seq 1 120); do
    curl -fsS "$url" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "$url" >/dev/null 2>&1 || { echo "Not ready: $url (logs in $LOGS)" >&2; exit 1; }
done

cat <<MSG

ScheduledPosts is running.
  Gateway:            $GATEWAY_URL
  Owner API key:      $SP_BOOTSTRAP_KEY   (workspace "default")
  Sandbox platform:   http://localhost:8095/sandbox/statuses
  RabbitMQ console:   http://localhost:15672 (guest/guest)
  Logs:               $LOGS
Press Ctrl-C to stop.
MSG

wait -n
log "a service exited; see $LOGS"
exit 1
