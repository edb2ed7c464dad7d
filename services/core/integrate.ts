// Energy of one device over one window, from counters or readings, with gaps bridged and flagged.
//
// Both kinds of source become a list of (start, end, average power) intervals; a window's energy is
// the sum of each interval's power times its overlap with the window. Time not covered by any
// interval is a gap: short gaps (<= maxGapMs, ordinary sampling jitter) hold the neighbouring power
// and count as measured; longer ones hold the last power for maxHoldMs, then fall back to the
// device's idle power, and that energy is flagged as estimated.

import type { PowerSample } from './types.ts';

export interface GapPolicy {
  maxGapMs: number;
  maxHoldMs: number;
}

export interface Interval {
  startMs: number;
  endMs: number;
  powerW: number;
}

export interface WindowEnergy {
  energyJ: number;
  /** Part of energyJ that was estimated (long gap bridged by hold or idle power). */
  estimatedJ: number;
}

export type CounterEvent = 'wrap' | 'reset';

/**
 * Turns time-sorted samples of one device into contiguous intervals of average power.
 * A counter decrease is a wrap when the source declares a range and the wrapped delta implies a
 * power no higher than maxPlausibleW; otherwise it is a reset (driver reload) and the interval is
 * left uncovered, so it is bridged like any gap and never yields a negative delta.
 */
export function toIntervals(
  samples: readonly PowerSample[],
  maxPlausibleW: number,
  onCounterEvent?: (event: CounterEvent, tMs: number) => void,
): Interval[] {
  const out: Interval[] = [];
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    const dtMs = cur.tMs - prev.tMs;
    if (dtMs <= 0) continue;
    if (cur.kind === 'counter' && prev.kind === 'counter') {
      let deltaJ = cur.energyJ - prev.energyJ;
      if (deltaJ < 0) {
        const range = cur.rangeJ ?? prev.rangeJ;
        const wrapped = range !== null && range > 0 ? cur.energyJ + range - prev.energyJ : -1;
        if (wrapped >= 0 && (wrapped / dtMs) * 1000 <= maxPlausibleW) {
          deltaJ = wrapped;
          onCounterEvent?.('wrap', cur.tMs);
        } else {
          onCounterEvent?.('reset', cur.tMs);
          continue;
        }
      }
      out.push({ startMs: prev.tMs, endMs: cur.tMs, powerW: (deltaJ / dtMs) * 1000 });
    } else if (cur.kind === 'reading') {
      const startMs = Math.max(cur.tMs - cur.averagingMs, prev.tMs);
      out.push({ startMs, endMs: cur.tMs, powerW: cur.powerW });
    }
  }
  // The first reading covers its own averaging interval; there is no earlier sample to cut it.
  const first = samples[0];
  if (first && first.kind === 'reading' && first.averagingMs > 0) {
    out.unshift({ startMs: first.tMs - first.averagingMs, endMs: first.tMs, powerW: first.powerW });
  }
  return out;
}

/** Index of the first interval whose end is after tMs (intervals sorted and non-overlapping). */
function firstEndingAfter(intervals: readonly Interval[], tMs: number): number {
  let lo = 0;
  let hi = intervals.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (intervals[mid]!.endMs <= tMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Energy over [startMs, endMs). `idlePowerW` is the catalog (or learned) idle power used when a
 * gap outlasts the hold; with no interval at all the whole window is idle power, estimated.
 */
export function integrateWindow(
  intervals: readonly Interval[],
  startMs: number,
  endMs: number,
  gaps: GapPolicy,
  idlePowerW: number,
): WindowEnergy {
  let energyJ = 0;
  let estimatedJ = 0;
  let cursor = startMs;
  let i = firstEndingAfter(intervals, startMs);

  const bridge = (fromMs: number, toMs: number): void => {
    // The gap in the data is wider than the part inside this window: measure its full extent.
    const prev = intervalBefore(intervals, fromMs);
    const next = intervals[i];
    const gapStart = prev ? prev.endMs : Number.NEGATIVE_INFINITY;
    const gapEnd = next ? next.startMs : Number.POSITIVE_INFINITY;
    const holdW = prev ? prev.powerW : next ? next.powerW : idlePowerW;
    if (gapEnd - gapStart <= gaps.maxGapMs) {
      energyJ += (holdW * (toMs - fromMs)) / 1000;
      return;
    }
    if (!prev && !next) {
      const e = (idlePowerW * (toMs - fromMs)) / 1000;
      energyJ += e;
      estimatedJ += e;
      return;
    }
    // Hold the last known power for maxHoldMs after the data stopped, then assume idle.
    const holdEnd = prev ? gapStart + gaps.maxHoldMs : Number.NEGATIVE_INFINITY;
    const heldMs = Math.max(0, Math.min(toMs, holdEnd) - fromMs);
    const idleMs = toMs - fromMs - heldMs;
    const e = (holdW * heldMs + idlePowerW * idleMs) / 1000;
    energyJ += e;
    estimatedJ += e;
  };

  while (cursor < endMs) {
    const iv = intervals[i];
    if (!iv || iv.startMs >= endMs) {
      bridge(cursor, endMs);
      break;
    }
    if (iv.startMs > cursor) {
      bridge(cursor, iv.startMs);
      cursor = iv.startMs;
    }
    const to = Math.min(iv.endMs, endMs);
    energyJ += (iv.powerW * (to - cursor)) / 1000;
    cursor = to;
    i++;
  }
  return { energyJ, estimatedJ };
}

function intervalBefore(intervals: readonly Interval[], tMs: number): Interval | undefined {
  // Last interval ending at or before tMs: the one just before the first that ends after it.
  const i = firstEndingAfter(intervals, tMs);
  return i > 0 ? intervals[i - 1] : undefined;
}
