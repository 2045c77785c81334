#!/usr/bin/env bash
# Install the npm dependencies from the lock file. `npm ci` first; if it refuses because the lock
# file lacks entries for other platforms' optional packages (a registry mirror that does not serve
# them cannot record them), fall back to `npm install`, which keeps the locked versions.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! npm ci --no-audit --no-fund; then
  echo "npm ci refused the lock file; installing with npm install (locked versions kept)" >&2
  npm install --no-audit --no-fund
fi
