// Versions (decision record 0011): a window's version is the number of distinct records behind it,
// its requests and every power sample from the reach before it up to its end. It depends only on
// which records exist, not on when they arrived; a correction always adds one, so versions only
// grow; a replay that re-reads the same records after a restart or a rebalance (the commit point
// keeps what the retention rule needs) reproduces the same number, so its rows tie with what is
// stored; a rebuild that lacks records has a lower version and cannot replace the complete row.

import { reachMs, type RetentionSettings } from './retention.ts';
import type { RequestIndex } from './request-index.ts';
import type { SampleStore } from './sample-store.ts';

export class Versions {
  /**
   * Versions computed during one advance, which changes no sample or request: a request row sums
   * the versions of every window it spans, and overlapping requests asked for the same windows over
   * and over (it showed in the profile).
   */
  private memo: Map<number, number> | null = null;

  constructor(
    private readonly settings: RetentionSettings,
    private readonly samples: SampleStore,
    private readonly requests: RequestIndex,
  ) {}

  /** Runs `fn` with versions memoised; nothing may add records meanwhile. */
  during<T>(fn: () => T): T {
    this.memo = new Map();
    try {
      return fn();
    } finally {
      this.memo = null;
    }
  }

  of(w: number): number {
    const known = this.memo?.get(w);
    if (known !== undefined) return known;
    const n =
      this.requests.countIn(w) + this.samples.countIn(w - reachMs(this.settings), w + this.settings.windowMs);
    this.memo?.set(w, n);
    return n;
  }
}
