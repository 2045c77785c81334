#!/usr/bin/env bash
# Make sure stress-ng (Debian's package) is installed, for the CI run under CPU load; install it
# when we can (as root, or with sudo), like ensure-nats.sh does for nats-server. Exit 1 if it is
# not there afterwards: .ci/run then loads the CPU with busy-loop children instead.
set -euo pipefail
if command -v stress-ng >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "stress-ng not found: installing Debian's package (apt-get install -y stress-ng)…" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null || true
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
  echo "stress-ng not found: installing it with sudo apt-get install -y stress-ng…" >&2
  sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null || true
fi
command -v stress-ng >/dev/null 2>&1
