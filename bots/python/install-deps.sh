#!/bin/sh
# Installs what bots/python needs from Debian: python3-grpcio, python3-grpc-tools, python3-protobuf.
# Idempotent: installs only what /usr/bin/python3 cannot import yet (and nothing when all is there).
# Uses sudo when not run as root.
set -eu

missing=""
/usr/bin/python3 -c 'import grpc' 2>/dev/null || missing="$missing python3-grpcio"
/usr/bin/python3 -c 'import grpc_tools.protoc' 2>/dev/null || missing="$missing python3-grpc-tools"
/usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || missing="$missing python3-protobuf"

if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bots/python: apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  $sudo apt-get install -y -qq --no-install-recommends $missing
fi

/usr/bin/python3 -c 'import grpc, grpc_tools.protoc, google.protobuf; print("bots/python: grpcio", grpc.__version__)'
