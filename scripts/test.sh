#!/usr/bin/env bash
# `npm test`: make sure nats-server is there, build, and run the whole suite with real parts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
[ -d node_modules ] || bash scripts/install-deps.sh
npm run build # tsc, then the CLI bundle (packaging/cli-bundle.ts)
exec npx vitest run "$@"
