// The assertion the fault tests share: a faulty run ends with exactly the clean run's rows.
import assert from 'node:assert/strict';
import type { ChaosResult } from '../../services/chaos/faults.ts';

export function assertSameRows(r: ChaosResult): void {
  // Every request in the input ends as one row (the feed closes each stream with a heartbeat).
  assert.equal(r.requestRows, r.requestsIn, 'one request row per request');
  assert.ok(r.ledgerRows > 0);
  assert.deepEqual(
    { lost: r.lost, duplicated: r.duplicated, changed: r.changed },
    { lost: 0, duplicated: 0, changed: 0 },
  );
  assert.ok(r.recoveryMs !== null && r.recoveryMs < 120_000, `recovery ${r.recoveryMs} ms`);
}
