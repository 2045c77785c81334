#!/usr/bin/env bash
# Install the npm dependencies exactly as package-lock.json records them (`npm ci`). The lock is
# complete (every platform's optional packages), so a lock that no longer matches package.json
# fails here instead of being rewritten.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
