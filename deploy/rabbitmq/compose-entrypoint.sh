#!/usr/bin/env bash
# The broker of docker-compose.yml: RabbitMQ started as its image starts it, then deploy/rabbitmq/provision.sh on the
# default virtual host, deleting guest. The health check waits for /tmp/provisioned, so no service connects before
# its user exists.
set -euo pipefail
rm -f /tmp/provisioned
docker-entrypoint.sh rabbitmq-server &
pid=$!
trap 'kill -TERM "$pid"' TERM INT
until rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || exit 1
  sleep 1
done
SP_RABBITMQ_DELETE_GUEST=1 bash /provision/provision.sh /
touch /tmp/provisioned
wait "$pid"
