// The joiner killed with SIGKILL at random moments, ten times, over a fixed input: the final
// ClickHouse contents (FINAL) equal those of one clean run, row for row, versions included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sigkillScenario } from '../services/chaos/faults.ts';
import { isolatedEnv } from './support/stack.ts';

test('SIGKILL ten times at random moments: the same final rows as one clean run', async (t) => {
  const r = await sigkillScenario(await isolatedEnv());
  t.diagnostic(
    `${r.killedAfterProgress} of 10 lives killed after progress; ${r.collapsedRepeats} repeated rows collapsed; recovery ${r.recoveryMs} ms`,
  );
  assert.ok(r.killedAfterProgress! >= 3, 'kills landed mid-stream');
  assert.ok(r.requestRows >= 600 * 0.99 && r.ledgerRows > 0);
  assert.deepEqual(
    { lost: r.lost, duplicated: r.duplicated, changed: r.changed },
    { lost: 0, duplicated: 0, changed: 0 },
  );
});
