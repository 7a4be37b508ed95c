#!/usr/bin/env bash
# Adds a ratchetd user to the NATS relay's users file (or replaces its line: a new password), with
# the permissions that give the relay's ACL. Then reload every node.
#
#   add-user.sh USERS_FILE USER_ID PASSWORD_FILE
#   add-user.sh --remove USERS_FILE USER_ID
#
# USER_ID is the daemon's user id (its ready line, or `ratchetd ctl whoami`): it is the MQTT
# username, and the permissions name it. PASSWORD_FILE holds the password on one line, the same
# file the daemon reads with --broker-password-file (trailing newlines ignored); a bcrypt hash
# ($2a$...) instead of the password also works, since nats-server accepts one. The password never
# appears on a command line.
#
# Afterwards copy USERS_FILE to every node and reload each: kill -HUP <pid> (or nats-server
# --signal reload=<pid>). The daemon, retrying its login, connects at its next attempt.
set -euo pipefail

usage() {
  echo "usage: add-user.sh USERS_FILE USER_ID PASSWORD_FILE | add-user.sh --remove USERS_FILE USER_ID" >&2
  exit 2
}

remove=0
if [[ "${1:-}" == "--remove" ]]; then
  remove=1
  shift
  [[ $# -eq 2 ]] || usage
else
  [[ $# -eq 3 ]] || usage
fi
users="$1"
user_id="$2"
marker="# ratchetd users: add-user.sh inserts them above this line"

[[ "$user_id" =~ ^[a-z2-7]{32}$ ]] || { echo "add-user.sh: \"$user_id\" is not a ratchetd user id (32 characters a-z, 2-7)" >&2; exit 2; }
[[ -f "$users" ]] || { echo "add-user.sh: no users file $users (render-cluster.sh writes it)" >&2; exit 1; }
grep -qF "$marker" "$users" || { echo "add-user.sh: $users lacks the line \"$marker\"" >&2; exit 1; }

line=""
if [[ $remove -eq 0 ]]; then
  password_file="$3"
  [[ -r "$password_file" ]] || { echo "add-user.sh: cannot read the password file $password_file" >&2; exit 1; }
  # The password goes into a quoted config string: refuse what would need escaping there.
  password="$(tr -d '\r\n' <"$password_file")"
  [[ -n "$password" ]] || { echo "add-user.sh: the password file $password_file is empty" >&2; exit 1; }
  [[ "$password" =~ ^[A-Za-z0-9._~+/=\$-]+$ ]] || { echo "add-user.sh: the password may hold only A-Z a-z 0-9 . _ ~ + / = \$ - (base64 is fine)" >&2; exit 1; }
  p="ratchetd.v1"
  line="    { user: \"$user_id\", password: \"$password\", allowed_connection_types: [\"MQTT\"], permissions: { publish: { allow: [\"$p.bundle.$user_id\", \"$p.inbox.*\"] }, subscribe: { allow: [\"$p.inbox.$user_id\", \"$p.bundle.*\", \"\$MQTT.sub.>\"] } } }"
fi

umask 077
tmp="$users.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Drop the user's old line (if any), and insert the new one above the marker.
awk -v id="user: \"$user_id\"," -v marker="$marker" -v line="$line" '
  index($0, id) > 0 { next }
  index($0, marker) > 0 && line != "" { print line }
  { print }
' "$users" >"$tmp"
mv "$tmp" "$users"
trap - EXIT
if [[ $remove -eq 1 ]]; then
  echo "add-user.sh: removed $user_id from $users; copy it to every node and reload each (kill -HUP)" >&2
else
  echo "add-user.sh: $user_id in $users; copy it to every node and reload each (kill -HUP)" >&2
fi
