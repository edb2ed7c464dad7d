import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { horizonStartMs, isNeeded, neededFromMs, neededUntilMs, reachMs } from './retention.ts';
import { windowsOf } from './windows.ts';

const settingsArb = fc.record({
  windowMs: fc.constantFrom(100, 1000, 5000),
  horizonMs: fc.integer({ min: 100, max: 60_000 }),
  gaps: fc.record({
    maxGapMs: fc.integer({ min: 0, max: 10_000 }),
    maxHoldMs: fc.integer({ min: 0, max: 10_000 }),
  }),
});

test('property (retention): a request is needed for every window it spans and for none after', () => {
  fc.assert(
    fc.property(
      settingsArb,
      fc.integer({ min: 0, max: 1e6 }),
      fc.integer({ min: 0, max: 50_000 }),
      (s, t0, len) => {
        const r = { tStartMs: t0, tEndMs: t0 + len };
        const until = neededUntilMs(s, { kind: 'request', record: r });
        const spans = windowsOf(r.tStartMs, r.tEndMs, s.windowMs);
        for (const w of spans) assert.ok(isNeeded(until, w), `window ${w} of [${t0}, ${t0 + len})`);
        assert.ok(!isNeeded(until, spans[spans.length - 1]! + s.windowMs));
      },
    ),
  );
});

test('property (retention): a sample is needed for every window within its reach', () => {
  fc.assert(
    fc.property(settingsArb, fc.integer({ min: 0, max: 1e6 }), (s, tMs) => {
      const until = neededUntilMs(s, { kind: 'power', record: { tMs } });
      // The gap rules carry a value max(maxGap, maxHold) on, and a window integrates from the
      // interval before it: every window starting within that reach may change.
      const reach = Math.max(s.gaps.maxGapMs, s.gaps.maxHoldMs) + s.windowMs;
      assert.equal(reachMs(s), reach);
      assert.ok(isNeeded(until, tMs + reach));
      assert.ok(!isNeeded(until, tMs + reach + 1));
    }),
  );
});

test('property (retention): a host needs everything from the horizon, and from its oldest held request', () => {
  fc.assert(
    fc.property(
      settingsArb,
      fc.integer({ min: 0, max: 1e6 }),
      fc.option(fc.integer({ min: 0, max: 1e6 })),
      (s, open, oldest) => {
        const nextOpen = Math.floor(open / s.windowMs) * s.windowMs;
        const hs = horizonStartMs(nextOpen, s);
        // The horizon covers at least horizonMs of closed windows.
        assert.ok(nextOpen - hs >= s.horizonMs && nextOpen - hs < s.horizonMs + s.windowMs);
        const from = neededFromMs(hs, oldest ?? Number.POSITIVE_INFINITY, s.windowMs);
        assert.ok(from <= hs);
        if (oldest !== null) assert.ok(from <= oldest);
        else assert.equal(from, hs);
      },
    ),
  );
});
