import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { smallFleet as testFleet } from './small-fleet.ts';
import type { RequestLog } from './types.ts';
import { validateRequest } from './validate.ts';

const NOW = 1_800_000_000_000;
const fleet = testFleet({ gpus: 2 });
const clock = { maxPastMs: 7 * 86_400_000, maxFutureMs: 300_000 };
const r = (over: Partial<RequestLog>): RequestLog => ({
  requestId: 'q',
  host: 'h',
  gpus: [0],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs: NOW - 10_000,
  tEndMs: NOW - 8_000,
  tFirstTokenMs: NOW - 9_500,
  promptTokens: 10,
  completionTokens: 5,
  ...over,
});

test('each contradiction has its own reason; a valid request passes', () => {
  assert.equal(validateRequest(r({}), fleet, NOW, clock), null);
  const reason = (over: Partial<RequestLog>) => validateRequest(r(over), fleet, NOW, clock)?.reason;
  assert.equal(reason({ tEndMs: NOW - 11_000, tFirstTokenMs: null }), 'end-before-start');
  assert.equal(reason({ tFirstTokenMs: NOW - 7_000 }), 'ttft-outside-span');
  assert.equal(reason({ promptTokens: 2 ** 63 }), 'out-of-range');
  assert.equal(reason({ completionTokens: -1 }), 'out-of-range');
  assert.equal(reason({ promptTokens: 1.5 }), 'invalid-field');
});

test('clock bounds are the caller’s: a backfill bound accepts what the default refuses', () => {
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 90 }), (daysAgo) => {
      const old = r({
        tStartMs: NOW - daysAgo * 86_400_000,
        tEndMs: NOW - daysAgo * 86_400_000 + 1000,
        tFirstTokenMs: null,
      });
      assert.equal(validateRequest(old, fleet, NOW, clock)?.reason, 'clock-skew');
      assert.equal(validateRequest(old, fleet, NOW, { ...clock, maxPastMs: 91 * 86_400_000 }), null);
    }),
  );
});
