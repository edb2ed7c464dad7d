// The joiner killed with SIGKILL at random moments, three times, over a fixed input spanning ten
// horizons (QUICK_SCALE; `npm run chaos` kills ten times over three times the input): the final
// ClickHouse contents (FINAL) equal those of one clean run, row for row, versions included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sigkillScenario } from '../services/chaos/faults.ts';
import { QUICK_SCALE } from '../services/chaos/scenario.ts';
import { assertSameRows } from './support/chaos.ts';
import { isolatedEnv } from './support/stack.ts';

test('SIGKILL three times at random moments: the same final rows as one clean run', async (t) => {
  const r = await sigkillScenario(await isolatedEnv(), QUICK_SCALE);
  t.diagnostic(
    `${r.killedAfterProgress} of ${QUICK_SCALE.kills} lives killed after progress; ${r.collapsedRepeats} repeated rows collapsed; recovery ${r.recoveryMs} ms`,
  );
  // Each kill waits up to 15 s for its life to write newer rows. A life that starts after the feed
  // ended and the one before it caught up has nothing newer to write (at full scale 6 of 10 lives
  // made progress), so of three, at least two must land mid-stream.
  assert.ok(r.killedAfterProgress! >= 2, `kills landed mid-stream: ${r.killedAfterProgress}`);
  assertSameRows(r);
});
