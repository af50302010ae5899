#!/usr/bin/env bash
# Gives each service its own broker user on a virtual host, with the permissions and tags of permissions.tsv beside
# this file, and takes every permission on that virtual host away from `guest`. Idempotent: run it on every start.
#   provision.sh <virtual host>
#   SP_RABBITMQ_PASSWORD_<USER>     each user's password (SCHEDULING, PUBLISHER, WEBHOOKS, SCHEDULING_MONITOR); required
#   SP_RABBITMQ_DELETE_GUEST=1      also delete the guest user (the broker is this deployment's alone)
#   SP_RABBITMQ_USER_PREFIX         put before each service's name to make its user name (default: none)
#   RABBITMQCTL                     the rabbitmqctl command (default: rabbitmqctl)
# The docker-compose.yml broker runs this at start, run.sh on the local broker.
set -euo pipefail
vhost="${1:?usage: provision.sh <virtual host>}"
read -r -a ctl <<<"${RABBITMQCTL:-rabbitmqctl}"
here="$(cd "$(dirname "$0")" && pwd)"

"${ctl[@]}" -q add_vhost "$vhost" 2>/dev/null || true
# The file on descriptor 3: rabbitmqctl reads standard input.
while IFS=$'\t' read -r service configure write read tags <&3; do
  case "$service" in ''|'#'*) continue ;; esac
  user="${SP_RABBITMQ_USER_PREFIX:-}$service"
  var="SP_RABBITMQ_PASSWORD_${service^^}"
  var="${var//-/_}"
  password="${!var:-}"
  if [ ${#password} -lt 16 ]; then
    echo "provision.sh: $var must be set (at least 16 characters)" >&2
    exit 2
  fi
  # The password goes through stdin, never the command line, where other users could read it.
  if "${ctl[@]}" -q list_users | cut -f1 | grep -qxF "$user"; then
    printf '%s' "$password" | "${ctl[@]}" -q change_password "$user" >/dev/null
  else
    printf '%s' "$password" | "${ctl[@]}" -q add_user "$user" >/dev/null
  fi
  # `-` in the file is nothing: no tag, and an empty pattern, which matches no exchange or queue.
  [ "$tags" = - ] && tags=""
  [ "$configure" = - ] && configure=""
  [ "$write" = - ] && write=""
  [ "$read" = - ] && read=""
  # shellcheck disable=SC2086 # tags are separate arguments
  "${ctl[@]}" -q set_user_tags "$user" ${tags//,/ } >/dev/null
  "${ctl[@]}" -q set_permissions -p "$vhost" "$user" "$configure" "$write" "$read" >/dev/null
done 3<"$here/permissions.tsv"

if "${ctl[@]}" -q list_users | cut -f1 | grep -qx guest; then
  if [ "${SP_RABBITMQ_DELETE_GUEST:-}" = 1 ]; then
    "${ctl[@]}" -q delete_user guest >/dev/null
  else
    "${ctl[@]}" -q clear_permissions -p "$vhost" guest >/dev/null 2>&1 || true
  fi
fi
