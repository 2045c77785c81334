#!/usr/bin/env bash
# `npm run bench [-- --quick]`: make sure nats-server is there, build, and run the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
[ -d node_modules ] || bash scripts/install-deps.sh
npm run build # tsc, then the CLI bundle (packaging/cli-bundle.ts)
exec node dist/scripts/bench/main.js "$@"
