// Outages on the real stack: ClickHouse stopped mid-run, and the broker restarted mid-run. The final
// rows equal those of a clean run over the same topics, and the pipeline catches up by itself.
// These stop servers that every test shares, so scripts/test.sh runs this file alone, after the
// others (it finds such files by their use of stackControl or kafkaControl).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brokerRestartScenario, clickhouseOutageScenario } from '../services/chaos/faults.ts';
import { QUICK_SCALE } from '../services/chaos/scenario.ts';
import { assertSameRows } from './support/chaos.ts';
import { isolatedEnv, stackControl } from './support/stack.ts';

test(`ClickHouse stopped for ${QUICK_SCALE.clickhouseOutageMs / 1000} s mid-run: consumption pauses, nothing lost or changed`, async (t) => {
  const control = await stackControl();
  if (!control) return t.skip('the servers are not this run’s own native stack');
  const r = await clickhouseOutageScenario(await isolatedEnv(), control.clickhouse, QUICK_SCALE);
  t.diagnostic(`caught up ${r.recoveryMs} ms after ClickHouse came back`);
  assert.ok(r.pausedDuringOutage, 'the joiner paused consumption and held its rows during the outage');
  assertSameRows(r);
});

test('Kafka broker restarted mid-run: the joiner reconnects and catches up by itself', async (t) => {
  const control = await stackControl();
  if (!control) return t.skip('the servers are not this run’s own native stack');
  const r = await brokerRestartScenario(await isolatedEnv(), control.kafka, QUICK_SCALE);
  t.diagnostic(`caught up ${r.recoveryMs} ms after the broker came back`);
  assertSameRows(r);
});
