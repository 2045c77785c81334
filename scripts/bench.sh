#!/usr/bin/env bash
# `npm run bench [-- --quick]`: make sure nats-server is there, build, and run the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
[ -d node_modules ] || bash scripts/install-deps.sh
npx tsc -p tsconfig.json
exec node dist/scripts/bench/main.js "$@"
