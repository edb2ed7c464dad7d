// Approximate retained state of one host, for the state-bound metric and the docs' per-host figure.

import type { WindowAttribution } from '../attribute.ts';
import { IdleLearner } from '../idle.ts';

export interface StateCounts {
  /** Bytes of the typed-array sample columns (their capacity). */
  sampleBytes: number;
  requests: number;
  memberships: number;
  /** Closed windows held (correctable or frozen) and windows with a last-spanning entry. */
  windows: number;
  cached: Iterable<WindowAttribution>;
  learners: number;
}

export function stateBytes(c: StateCounts): number {
  // Cached attributions: a contribution holds nine numbers, each boxed on V8's heap (~270 B in a
  // heap snapshot); a ledger entry ~180 B.
  let cached = 0;
  for (const att of c.cached) cached += att.contributions.size * 270 + att.ledger.length * 180;
  return (
    c.sampleBytes +
    c.requests * 400 +
    c.memberships * 40 +
    c.windows * 60 +
    cached +
    c.learners * IdleLearner.BYTES
  );
}
