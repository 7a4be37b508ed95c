#!/usr/bin/env bash
# Renders the configs of a 3-node ratchetd relay cluster on NATS JetStream (nats-server 2.9+) from
# ratchetd-node.conf.template.
#
#   render-cluster.sh [--store DIR] [--name CLUSTER] OUT_DIR NODE1 NODE2 NODE3
#
# Each NODE is HOST:CLIENT_PORT:CLUSTER_PORT:MQTT_PORT:MONITOR_PORT (HOST is the address the other
# nodes and the daemons reach it on; MQTT and the route listen on it, the NATS client port and the
# monitoring port on loopback), e.g. for three machines with the usual ports:
#
#   render-cluster.sh /tmp/relay 10.0.0.1:4222:6222:1883:8222 10.0.0.2:4222:6222:1883:8222 10.0.0.3:4222:6222:1883:8222
#
# Writes OUT_DIR/node-1.conf .. node-3.conf (node N's JetStream store: DIR/node-N, default
# /var/lib/nats/ratchetd/node-N) and, unless it exists, OUT_DIR/ratchetd-users.conf with no user yet
# (add-user.sh adds them). Copy node-N.conf and ratchetd-users.conf into one directory on machine N
# and run `nats-server -c node-N.conf`. The files hold the route password: mode 0600.
set -euo pipefail

usage() {
  echo "usage: render-cluster.sh [--store DIR] [--name CLUSTER] OUT_DIR HOST:CLIENT:CLUSTER:MQTT:MONITOR x3" >&2
  exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
store="/var/lib/nats/ratchetd"
name="ratchetd-relay"
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --store) [[ $# -ge 2 ]] || usage; store="$2"; shift 2 ;;
    --name) [[ $# -ge 2 ]] || usage; name="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[[ $# -eq 4 ]] || usage
out="$1"; shift
nodes=("$@")

[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "render-cluster.sh: cluster name must be letters, digits, - or _" >&2; exit 2; }
# The store path goes into a quoted config string and a sed replacement.
[[ "$store" =~ ^[A-Za-z0-9_./-]+$ ]] || { echo "render-cluster.sh: --store must be a plain path (letters, digits, . _ - /)" >&2; exit 2; }
port_ok() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )); }
for spec in "${nodes[@]}"; do
  IFS=: read -r host client cluster mqtt monitor extra <<<"$spec"
  if [[ -n "${extra:-}" || ! "$host" =~ ^[A-Za-z0-9.-]+$ ]] || ! port_ok "$client" || ! port_ok "$cluster" || ! port_ok "$mqtt" || ! port_ok "${monitor:-}"; then
    echo "render-cluster.sh: bad node \"$spec\" (want HOST:CLIENT_PORT:CLUSTER_PORT:MQTT_PORT:MONITOR_PORT)" >&2
    exit 2
  fi
done

umask 077
mkdir -p "$out"
route_password="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"

routes=""
for spec in "${nodes[@]}"; do
  IFS=: read -r host _client cluster _mqtt _monitor <<<"$spec"
  routes+="    nats-route://ratchetd-route:${route_password}@${host}:${cluster}"$'\n'
done
routes="${routes%$'\n'}"

n=0
for spec in "${nodes[@]}"; do
  n=$((n + 1))
  IFS=: read -r host client cluster mqtt monitor <<<"$spec"
  file="$out/node-$n.conf"
  # Line by line, so the multi-line route list needs no escaping for sed.
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == "@ROUTES@" ]]; then
      printf '%s\n' "$routes"
      continue
    fi
    line="${line//@NODE_NAME@/$name-$n}"
    line="${line//@CLUSTER_NAME@/$name}"
    line="${line//@HOST@/$host}"
    line="${line//@CLIENT_PORT@/$client}"
    line="${line//@CLUSTER_PORT@/$cluster}"
    line="${line//@MQTT_PORT@/$mqtt}"
    line="${line//@MONITOR_PORT@/$monitor}"
    line="${line//@STORE_DIR@/$store/node-$n}"
    line="${line//@ROUTE_PASSWORD@/$route_password}"
    printf '%s\n' "$line"
  done <"$here/ratchetd-node.conf.template" >"$file.tmp"
  mv "$file.tmp" "$file"
done

users="$out/ratchetd-users.conf"
if [[ ! -e "$users" ]]; then
  # Authorization is on from the start: a placeholder user with a random password that may do
  # nothing, so a cluster without ratchetd users yet refuses anonymous logins.
  placeholder="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  cat >"$users.tmp" <<EOF
# ratchetd relay users: one line per ratchetd user id (add-user.sh). The same file on every node.
# Each user may log in over MQTT only, with its own user id as username, and may
#   publish   ratchetd/v1/bundle/{self}  (its own retained prekey bundle)
#   publish   ratchetd/v1/inbox/{anyone} (sealed envelopes to anyone)
#   subscribe ratchetd/v1/bundle/{anyone} (to start a session)
#   subscribe ratchetd/v1/inbox/{self}   (its own inbox only)
#   subscribe \$MQTT.sub.>               (the server's deliver subjects for QoS 1 subscriptions;
#                                         MQTT clients cannot name \$MQTT topics themselves)
# NATS maps MQTT topics to subjects: '/' becomes '.', '+' becomes '*', '#' becomes '>'.
authorization {
  users = [
    { user: "ratchetd-placeholder", password: "$placeholder", allowed_connection_types: ["MQTT"], permissions: { publish: { deny: [">"] }, subscribe: { deny: [">"] } } }
    # ratchetd users: add-user.sh inserts them above this line
  ]
}
EOF
  mv "$users.tmp" "$users"
fi
echo "render-cluster.sh: wrote $out/node-1.conf $out/node-2.conf $out/node-3.conf and $users" >&2
