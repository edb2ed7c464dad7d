// The sample store: every device's power samples, time-sorted, counters and readings kept apart, in
// typed-array columns (sample-column.ts). It answers which samples can influence a window and forgets
// those the retention rule lets go.

import { IdleLearner } from '../idle.ts';
import { deviceKey, type PowerSample, type Role } from '../types.ts';
import { isNeeded, neededUntilMs, reachMs, type RetentionSettings } from './retention.ts';
import { SampleColumn } from './sample-column.ts';

export interface DeviceState {
  role: Role;
  device: string;
  /** Time-sorted; counters and readings kept apart, counters preferred when both exist. */
  counters: SampleColumn;
  readings: SampleColumn;
  learner: IdleLearner | null;
}

export class SampleStore {
  readonly devices = new Map<string, DeviceState>();

  constructor(
    private readonly host: string,
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
        counters: new SampleColumn('counter'),
        readings: new SampleColumn('reading'),
        learner: this.learnIdle ? new IdleLearner({ percentile: 5, minMinutes: 60 }) : null,
      };
      this.devices.set(key, d);
    }
    return d;
  }

  /**
   * Adds one sample given by its parts (so a frame's entries need no object each); `aux` is rangeJ
   * (NaN for none) for counters, averagingMs for readings. Null for a replay, else the times of its
   * neighbours (NaN where none).
   */
  add(
    role: Role,
    device: string,
    kind: 'counter' | 'reading',
    tMs: number,
    value: number,
    aux: number,
  ): { prevMs: number; nextMs: number } | null {
    const d = this.device(role, device);
    const col = kind === 'counter' ? d.counters : d.readings;
    const i = col.insert(tMs, value, aux);
    if (i < 0) return null;
    return {
      prevMs: i > 0 ? col.timeAt(i - 1) : Number.NaN,
      nextMs: i + 1 < col.length ? col.timeAt(i + 1) : Number.NaN,
    };
  }

  /**
   * The samples of one device column that can influence window [w, w + windowMs): those inside it,
   * three before (the interval ending before a gap, even across a counter reset) and two after (the
   * interval that ends a gap), never beyond the reach. Slicing keeps a window's cost independent of
   * the sampling rate.
   */
  near(d: DeviceState, col: SampleColumn, w: number): PowerSample[] {
    const reach = reachMs(this.settings);
    const end0 = w + this.settings.windowMs;
    const inside = col.firstAtOrAfter(w);
    const start = Math.max(0, col.firstAtOrAfter(w - reach) - 1, inside - 3);
    const after = col.firstAtOrAfter(end0);
    const end = Math.min(col.length, col.firstAtOrAfter(end0 + reach) + 1, after + 2);
    return col.slice(start, Math.max(start, end), this.host, d.role, d.device);
  }

  /** How many samples all devices hold in [fromMs, toMs] (for versions). */
  countIn(fromMs: number, toMs: number): number {
    let n = 0;
    const countIn = (col: SampleColumn): number => col.firstAtOrAfter(toMs + 1) - col.firstAtOrAfter(fromMs);
    for (const d of this.devices.values()) n += countIn(d.counters) + countIn(d.readings);
    return n;
  }

  /** Forgets samples no window from `fromMs` on needs, keeping one before: it opens the next interval. */
  evict(fromMs: number): void {
    const needed = (col: SampleColumn, i: number): boolean =>
      isNeeded(neededUntilMs(this.settings, { kind: 'power', record: { tMs: col.timeAt(i) } }), fromMs);
    for (const d of this.devices.values()) {
      for (const col of [d.counters, d.readings]) {
        // The first needed sample, by binary search: the rule is monotonic in time, and a column
        // holds H of samples (9,000 per GPU at 10 Hz and H = 15 min).
        let lo = 0;
        let hi = col.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (needed(col, mid + 1)) hi = mid;
          else lo = mid + 1;
        }
        if (lo > 0) col.dropFront(lo);
      }
    }
  }

  sampleCount(): number {
    let n = 0;
    for (const d of this.devices.values()) n += d.counters.length + d.readings.length;
    return n;
  }

  /** Bytes the sample columns hold (their capacity). */
  bytes(): number {
    let n = 0;
    for (const d of this.devices.values()) n += d.counters.bytes() + d.readings.bytes();
    return n;
  }
}
