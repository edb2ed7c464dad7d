// The sample store: every device's power samples, time-sorted, counters and readings kept apart.
// It answers which samples can influence a window and forgets those the retention rule lets go.

import { IdleLearner } from '../idle.ts';
import { deviceKey, type PowerSample, type Role } from '../types.ts';
import { isNeeded, neededUntilMs, reachMs, type RetentionSettings } from './retention.ts';

export interface DeviceState {
  role: Role;
  device: string;
  /** Time-sorted; counters and readings kept apart, counters preferred when both exist. */
  counters: PowerSample[];
  readings: PowerSample[];
  learner: IdleLearner | null;
}

/** Index of the first sample at or after tMs in a time-sorted list. */
export function firstSampleAtOrAfter(list: readonly PowerSample[], tMs: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.tMs < tMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts in time order; false (and no change) when the device already has a sample at that instant. */
function insertSorted(list: PowerSample[], s: PowerSample): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.tMs <= s.tMs) lo = mid + 1;
    else hi = mid;
  }
  const prev = list[lo - 1];
  if (prev && prev.tMs === s.tMs) return -1; // same device, same instant: a replay
  list.splice(lo, 0, s);
  return lo;
}

export class SampleStore {
  readonly devices = new Map<string, DeviceState>();

  constructor(
    private readonly settings: RetentionSettings,
    private readonly learnIdle: boolean,
  ) {}

  device(role: Role, device: string): DeviceState {
    const key = deviceKey(role, device);
    let d = this.devices.get(key);
    if (!d) {
      d = {
        role,
        device,
        counters: [],
        readings: [],
        learner: this.learnIdle ? new IdleLearner({ percentile: 5, minMinutes: 60 }) : null,
      };
      this.devices.set(key, d);
    }
    return d;
  }

  /** Adds a sample; null for a replay, else the times of its neighbours (NaN where none). */
  add(s: PowerSample): { prevMs: number; nextMs: number } | null {
    const d = this.device(s.role, s.device);
    const list = s.kind === 'counter' ? d.counters : d.readings;
    const i = insertSorted(list, s);
    if (i < 0) return null;
    return { prevMs: list[i - 1]?.tMs ?? Number.NaN, nextMs: list[i + 1]?.tMs ?? Number.NaN };
  }

  /**
   * The samples of one device list that can influence window [w, w + windowMs): those inside it,
   * three before (the interval ending before a gap, even across a counter reset) and two after (the
   * interval that ends a gap), never beyond the reach. Slicing keeps a window's cost independent of
   * the sampling rate.
   */
  near(samples: PowerSample[], w: number): PowerSample[] {
    const reach = reachMs(this.settings);
    const end0 = w + this.settings.windowMs;
    const inside = firstSampleAtOrAfter(samples, w);
    const start = Math.max(0, firstSampleAtOrAfter(samples, w - reach) - 1, inside - 3);
    const after = firstSampleAtOrAfter(samples, end0);
    const end = Math.min(samples.length, firstSampleAtOrAfter(samples, end0 + reach) + 1, after + 2);
    return samples.slice(start, end);
  }

  /** How many samples all devices hold in [fromMs, toMs] (for versions). */
  countIn(fromMs: number, toMs: number): number {
    let n = 0;
    const countIn = (list: PowerSample[]): number =>
      firstSampleAtOrAfter(list, toMs + 1) - firstSampleAtOrAfter(list, fromMs);
    for (const d of this.devices.values()) n += countIn(d.counters) + countIn(d.readings);
    return n;
  }

  /** Forgets samples no window from `fromMs` on needs, keeping one before: it opens the next interval. */
  evict(fromMs: number): void {
    for (const d of this.devices.values()) {
      for (const list of [d.counters, d.readings]) {
        let cut = 0;
        while (
          cut < list.length - 1 &&
          !isNeeded(neededUntilMs(this.settings, { kind: 'power', record: list[cut + 1]! }), fromMs)
        )
          cut++;
        if (cut > 0) list.splice(0, cut);
      }
    }
  }

  sampleCount(): number {
    let n = 0;
    for (const d of this.devices.values()) n += d.counters.length + d.readings.length;
    return n;
  }
}
