#!/usr/bin/env bash
# The test command (npm test): installs what it needs, checks types and style, then runs every test
# in one node:test run. Integration tests use KAFKA_BROKERS/CLICKHOUSE_URL when given, else
# testcontainers when a Docker engine answers, else the native stack (deploy/native/stack.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export KAFKAJS_NO_PARTITIONER_WARNING=1
bash scripts/install.sh

if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import chdb' 2>/dev/null || { echo "== installing chdb (current ClickHouse engine, for the conformance test)"; python3 -m pip install -q --disable-pip-version-check chdb; }
else
  echo "!! WARNING: python3 is missing: the chDB conformance test (current ClickHouse) will be SKIPPED" >&2
fi

# Debian's chromium renders the HTML report in its test (through playwright-core; no downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's chromium (for the HTML report test)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "!! chromium is missing and cannot be installed here (needs root and apt): the HTML report test will fail; install chromium" >&2
  fi
fi

echo "== typecheck"
npm run -s typecheck
echo "== lint"
npm run -s lint

echo "== tests (unit, property, integration on real Kafka and ClickHouse)"
mapfile -t files < <(find services test -name '*.test.ts' | sort)
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
echo "== test command took ${SECONDS}s"

# The cluster tests: three brokers, ZooKeeper and 2 x 2 ClickHouse (deploy/native/cluster.sh), stopped afterwards.
echo "== cluster tests (replicated Kafka, sharded and replicated ClickHouse, faults)"
npm run -s test:cluster || { bash deploy/native/cluster.sh down; exit 1; }
bash deploy/native/cluster.sh down
echo "== test command with the cluster tests took ${SECONDS}s"
