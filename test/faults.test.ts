// Scale-out and outages on the real stack: three joiners in one group with one killed and restarted,
// ClickHouse stopped for 30 s, and the broker restarted, each mid-run. The final rows equal those
// of a clean run over the same topics, and the pipeline catches up by itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  brokerRestartScenario,
  clickhouseOutageScenario,
  scaleOutScenario,
  type ChaosResult,
} from '../services/chaos/faults.ts';
import { isolatedEnv, stackControl } from './support/stack.ts';

function assertSameRows(r: ChaosResult): void {
  assert.ok(r.requestRows >= 594, `request rows: ${r.requestRows}`);
  assert.ok(r.ledgerRows > 0);
  assert.deepEqual(
    { lost: r.lost, duplicated: r.duplicated, changed: r.changed },
    { lost: 0, duplicated: 0, changed: 0 },
  );
  assert.ok(r.recoveryMs !== null && r.recoveryMs < 120_000);
}

test('three joiners in one group, one killed and restarted mid-run: same rows as one', async (t) => {
  const r = await scaleOutScenario(await isolatedEnv());
  t.diagnostic(`caught up ${r.recoveryMs} ms after the restart; ${r.collapsedRepeats} repeats collapsed`);
  assertSameRows(r);
});

test('ClickHouse stopped for 30 s mid-run: consumption pauses, nothing lost or changed', async (t) => {
  const control = await stackControl();
  if (!control) return t.skip('the servers are not this run’s own native stack');
  const r = await clickhouseOutageScenario(await isolatedEnv(), control.clickhouse);
  t.diagnostic(`caught up ${r.recoveryMs} ms after ClickHouse came back`);
  assert.ok(r.pausedDuringOutage, 'the joiner paused consumption and held its rows during the outage');
  assertSameRows(r);
});

test('Kafka broker restarted mid-run: the joiner reconnects and catches up by itself', async (t) => {
  const control = await stackControl();
  if (!control) return t.skip('the servers are not this run’s own native stack');
  const r = await brokerRestartScenario(await isolatedEnv(), control.kafka);
  t.diagnostic(`caught up ${r.recoveryMs} ms after the broker came back`);
  assertSameRows(r);
});
