// Scale-out on the real stack: three joiners in one group, one killed a quarter of the way in and
// restarted halfway. The final rows equal those of a clean run over the same topics, and the group
// catches up by itself. It stops no server, so it runs beside other test files.
import { test } from 'node:test';
import { scaleOutScenario } from '../services/chaos/faults.ts';
import { QUICK_SCALE } from '../services/chaos/scenario.ts';
import { assertSameRows } from './support/chaos.ts';
import { isolatedEnv } from './support/stack.ts';

test('three joiners in one group, one killed and restarted mid-run: same rows as one', async (t) => {
  const r = await scaleOutScenario(await isolatedEnv(), QUICK_SCALE);
  t.diagnostic(`caught up ${r.recoveryMs} ms after the restart; ${r.collapsedRepeats} repeats collapsed`);
  assertSameRows(r);
});
