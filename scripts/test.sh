#!/usr/bin/env bash
# `npm test`: make sure nats-server is there, build, and run the whole suite with real parts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
[ -d node_modules ] || bash scripts/install-deps.sh
npx tsc -p tsconfig.json
exec npx vitest run "$@"
