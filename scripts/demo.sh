#!/usr/bin/env bash
# `npm run demo`: installs what it needs, builds, and runs the demo (scripts/demo.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
[ -d node_modules ] || bash scripts/install-deps.sh
npm run build # tsc, then the CLI bundle (packaging/cli-bundle.ts)
exec node dist/scripts/demo.js "$@"
