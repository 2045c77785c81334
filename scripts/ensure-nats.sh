#!/usr/bin/env bash
# Make sure nats-server (Debian's package, 2.9.10 or newer) is installed; install it when we can.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "nats-server not found: installing Debian's package (apt-get install -y nats-server)…" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "nats-server not found: installing it with sudo apt-get install -y nats-server…" >&2
  sudo apt-get update -qq >/dev/null
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
else
  echo "FERRY_NATS_MISSING: nats-server is not installed — hint: sudo apt-get install -y nats-server (2.9.10 or newer)" >&2
  exit 1
fi
