#!/usr/bin/env bash
# The test command (npm test): installs what it needs, then runs every test file in three node:test
# runs, with the typecheck and lint beside the last two:
#   1. the integration files (test/) that leave the servers running, several at a time: each has
#      its own topics, consumer group and database, so they can share the servers;
#   2. the files that stop Kafka or ClickHouse (found by their use of stackControl or kafkaControl),
#      one at a time, alone on the stack;
#   3. beside run 2, which mostly waits for servers to stop and start: the unit and property tests
#      (services/) and the test/ files that never ask for the stack (chDB, compose), which need no
#      server, and the typecheck and lint. Their output is shown once run 2 is over.
#   4. the cluster file (test/cluster/cluster.cluster.ts) on the native cluster, after the others.
# The closing lines sum the runs; a failure in any, or in the typecheck or lint, fails the
# command. Integration tests use KAFKA_BROKERS/CLICKHOUSE_URL when given, else testcontainers when
# a Docker engine answers, else the native stack (deploy/native/stack.sh).
#
#   JOULESTREAM_TEST_CONCURRENCY   integration files at a time in run 1 (default 4)
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

jobs=${JOULESTREAM_TEST_CONCURRENCY:-4}
# testcontainers maps Kafka to the fixed host port 19092 and each test process starts its own
# containers, so with Docker (and no endpoints given) files run one at a time, as before.
if [ -z "${KAFKA_BROKERS:-}${CLICKHOUSE_URL:-}" ] && { [ -S /var/run/docker.sock ] || [ -n "${DOCKER_HOST:-}" ]; }; then
  echo "== a Docker engine may answer: test files run one at a time (testcontainers uses fixed ports)"
  jobs=1
fi

# The slowest files start first, so the concurrent run does not end waiting on one of them (each
# took 40-85 s in a full run on the loaded 2-core machine; most other files take under 20 s).
slow_first=(test/report.test.ts test/crash.test.ts test/bad-input.test.ts test/scale-out.test.ts
  test/prefetch.test.ts test/kafka-security.test.ts test/secrets.test.ts test/fit-kappa.test.ts)
# Files in test/ that never ask for the stack (chDB, the compose file) need no server: run 3.
mapfile -t all < <(grep -l 'support/stack' $(find test -name '*.test.ts' | sort))
mapfile -t unit < <({ find services -name '*.test.ts'; grep -L 'support/stack' $(find test -name '*.test.ts'); } | sort)
mapfile -t stopping < <(grep -lE '\b(stackControl|kafkaControl)\(' "${all[@]}" "${unit[@]}" || true)
shared=()
for f in "${slow_first[@]}"; do [ -f "$f" ] && ! printf '%s\n' "${stopping[@]}" | grep -qxF "$f" && shared+=("$f"); done
for f in "${all[@]}"; do
  printf '%s\n' "${stopping[@]}" "${slow_first[@]}" | grep -qxF "$f" || shared+=("$f")
done
# A unit test that stops a server would be a mistake; it still runs alone in run 2, not in run 3.
units=()
for f in "${unit[@]}"; do printf '%s\n' "${stopping[@]}" | grep -qxF "$f" || units+=("$f"); done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0

echo "== tests, run 1 of 3: ${#shared[@]} integration files that leave the servers running, $jobs at a time"
node --import tsx --test --test-concurrency="$jobs" --test-reporter=spec "${shared[@]}" 2>&1 | tee "$logs/run1.log" \
  || status=1

echo "== in the background, beside run 2: run 3 of 3 (${#units[@]} files that need no server, 2 at a time), typecheck and lint"
( npm run -s typecheck && echo "== typecheck passed" && npm run -s lint ) >"$logs/static.log" 2>&1 &
static_pid=$!
# Two at a time: these are CPU-bound, and the machine has two cores.
if [ "${#units[@]}" -gt 0 ]; then
  node --import tsx --test --test-concurrency=2 --test-reporter=spec "${units[@]}" >"$logs/run3.log" 2>&1 &
else
  true >"$logs/run3.log" &
fi
unit_pid=$!

if [ "${#stopping[@]}" -gt 0 ]; then
  echo "== tests, run 2 of 3: ${#stopping[@]} files that stop Kafka or ClickHouse, one at a time: ${stopping[*]}"
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "${stopping[@]}" 2>&1 | tee "$logs/run2.log" \
    || status=1
fi

unit_rc=0
wait "$unit_pid" || unit_rc=$?
echo "== tests, run 3 of 3 (files that need no server, ran beside run 2)"
cat "$logs/run3.log"
[ "$unit_rc" = 0 ] || status=1

static_rc=0
wait "$static_pid" || static_rc=$?
echo "== typecheck and lint output"
cat "$logs/static.log"
if [ "$static_rc" != 0 ]; then
  echo "!! typecheck or lint FAILED (exit $static_rc)"
  status=1
fi

# The cluster tests: three brokers, ZooKeeper and 2 x 2 ClickHouse (deploy/native/cluster.sh), stopped
# afterwards. The broker-failover scenario runs in npm run test:cluster only (docs/operations.md: a
# joiner stall after a leader change is not understood yet, and CI must not depend on it).
echo "== tests, run 4: the cluster (replicated Kafka, sharded and replicated ClickHouse, faults)"
# From empty data: a clickhouse-server that finds replicated tables of an earlier run loads them at
# start and needs ZooKeeper's sessions then; under load that start timed out (issue 17's note).
bash deploy/native/cluster.sh reset >/dev/null 2>&1 || true
node --import tsx --test --test-concurrency=1 --test-reporter=spec test/cluster/cluster.cluster.ts 2>&1 \
  | tee "$logs/run4.log" || status=1
bash deploy/native/cluster.sh reset || true

# The closing lines sum the runs, in node:test's own format. A run that died before its
# summary leaves no lines to sum; its exit status has already failed the command.
echo "== totals over the runs"
for key in tests suites pass fail cancelled skipped todo; do
  n=$(cat "$logs"/run*.log | sed -n "s/^ℹ $key \([0-9][0-9]*\)$/\1/p" | awk '{ s += $1 } END { print s + 0 }')
  echo "ℹ $key $n"
done
echo "== test command took ${SECONDS}s"
exit "$status"
