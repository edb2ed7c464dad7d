import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { integrateWindow, toIntervals } from './integrate.ts';
import type { CounterSample, ReadingSample } from './types.ts';

const gaps = { maxGapMs: 2000, maxHoldMs: 5000 };
const counter = (tMs: number, energyJ: number, rangeJ: number | null = null): CounterSample => ({
  kind: 'counter',
  host: 'h',
  role: 'accelerator',
  device: '0',
  tMs,
  energyJ,
  rangeJ,
});
const reading = (tMs: number, powerW: number, averagingMs = 1000): ReadingSample => ({
  kind: 'reading',
  host: 'h',
  role: 'accelerator',
  device: '0',
  tMs,
  powerW,
  averagingMs,
});

test('counter values are interpolated linearly at window edges', () => {
  // 100 W from t=0 to t=2000, counter sampled at 0 and 2000: half of the 200 J falls in [500, 1500).
  const iv = toIntervals([counter(0, 1000), counter(2000, 1200)], 1000);
  const e = integrateWindow(iv, 500, 1500, gaps, 50);
  assert.equal(e.energyJ, 100);
  assert.equal(e.estimatedJ, 0);
});

test('a counter decrease within the declared range is a wrap, not a negative delta', () => {
  const events: string[] = [];
  // Range 1000 J: 950 -> 50 means 100 J over 1 s (100 W), plausible.
  const iv = toIntervals([counter(0, 950, 1000), counter(1000, 50, 1000)], 700, (e) => events.push(e));
  assert.deepEqual(events, ['wrap']);
  assert.equal(integrateWindow(iv, 0, 1000, gaps, 0).energyJ, 100);
});

test('an implausible decrease is a reset: the interval is bridged, never negative', () => {
  const events: string[] = [];
  // No range declared: 5000 -> 10 is a driver reload.
  const iv = toIntervals(
    [counter(0, 4900), counter(1000, 5000), counter(2000, 10), counter(3000, 110)],
    700,
    (e) => events.push(e),
  );
  assert.deepEqual(events, ['reset']);
  const e = integrateWindow(iv, 1000, 2000, gaps, 0);
  assert.ok(e.energyJ >= 0);
  // The one-second gap is within maxGapMs, so it holds the neighbouring 100 W.
  assert.equal(e.energyJ, 100);
});

test('wrap with an implied power above the plausible maximum counts as a reset', () => {
  const events: string[] = [];
  toIntervals([counter(0, 10, 1_000_000), counter(1000, 5, 1_000_000)], 700, (e) => events.push(e));
  assert.deepEqual(events, ['reset']);
});

test('readings are averages over their interval, cut at window edges', () => {
  const iv = toIntervals([reading(1000, 100), reading(2000, 300)], 1000);
  // [0,1000) at 100 W, [1000,2000) at 300 W; window [500,1500) gets 50 + 150.
  assert.equal(integrateWindow(iv, 500, 1500, gaps, 0).energyJ, 200);
});

test('a long gap holds the last power for maxHoldMs, then idle power, flagged estimated', () => {
  const iv = toIntervals([reading(1000, 200), reading(20_000, 200)], 1000);
  // Gap from 1000 to 19000: hold 200 W until 6000, then 50 W idle.
  const e = integrateWindow(iv, 5000, 7000, gaps, 50);
  assert.equal(e.energyJ, 200 * 1 + 50 * 1);
  assert.equal(e.estimatedJ, e.energyJ);
});

test('no data at all: idle power, all estimated', () => {
  const e = integrateWindow([], 0, 1000, gaps, 70);
  assert.deepEqual(e, { energyJ: 70, estimatedJ: 70 });
});

test('property: windows tiling a span sum to the energy over the span (counter, with wraps)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 2, maxLength: 40 }),
      fc.integer({ min: 100, max: 2000 }),
      (powers, windowMs) => {
        const range = 5000;
        let e = 0;
        const samples: CounterSample[] = [counter(0, 0, range)];
        powers.forEach((w, i) => {
          e += w * 0.5; // 500 ms steps
          samples.push(counter((i + 1) * 500, e % range, range));
        });
        const iv = toIntervals(samples, 2000);
        const end = powers.length * 500;
        let total = 0;
        for (let w0 = 0; w0 < end; w0 += windowMs)
          total += integrateWindow(iv, w0, Math.min(w0 + windowMs, end), gaps, 0).energyJ;
        assert.ok(Math.abs(total - e) <= 1e-9 * Math.max(1, e), `${total} vs ${e}`);
      },
    ),
  );
});
