#!/usr/bin/env bash
# The main job (npm run demo): installs and starts what it needs, then runs the demo fleet through
# the whole pipeline and prints the report. Extra arguments go to `joulestream demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
export KAFKAJS_NO_PARTITIONER_WARNING=1
bash scripts/install.sh
if [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${CLICKHOUSE_URL:-}" ]; then
  bash deploy/native/stack.sh up
  eval "$(bash deploy/native/stack.sh env)"
fi
exec node bin/joulestream.js demo "$@"
