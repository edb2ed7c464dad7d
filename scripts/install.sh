#!/usr/bin/env bash
# Node dependencies from the lockfile; reinstalled only when the lockfile changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing node dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
