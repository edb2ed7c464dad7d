import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { attributeWindow, type DeviceWindow } from './attribute.ts';
import { DEFAULT_KAPPA_FACTOR, kappaBand, shareBounds } from './intervals.ts';
import { shares } from './shares.ts';
import type { RequestLog } from './types.ts';

const runs = Number(process.env.FC_RUNS ?? 150);
const factors = {
  pue: 1.4,
  ciGPerKWh: 300,
  ciSource: 'annual' as const,
  marketGPerKWh: null,
  wueLPerKWh: null,
};

const request = fc
  .record({
    t0: fc.integer({ min: -3000, max: 900 }),
    len: fc.integer({ min: 0, max: 5000 }),
    ttft: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
    p: fc.option(fc.nat(4000), { nil: null }),
    c: fc.option(fc.nat(500), { nil: null }),
    gpu: fc.integer({ min: 0, max: 1 }),
  })
  .map((x): RequestLog => ({
    requestId: '',
    host: 'h',
    gpus: [x.gpu],
    model: 'm',
    tenant: 't',
    status: 'ok',
    tStartMs: x.t0,
    tEndMs: x.t0 + x.len,
    tFirstTokenMs: x.ttft === null ? null : x.t0 + x.ttft * x.len,
    promptTokens: x.p,
    completionTokens: x.c,
  }));

const gpu = (device: string, energyJ: number, estimatedJ: number): DeviceWindow => ({
  role: 'accelerator',
  device,
  energyJ,
  estimatedJ: Math.min(estimatedJ, energyJ),
  idlePowerW: 100,
  embodiedGPerMs: 0,
  maxPowerW: 700,
});

test('every bound holds its point value, and conservation of the points is unchanged', () => {
  fc.assert(
    fc.property(
      fc.array(request, { minLength: 1, maxLength: 12 }),
      fc.tuple(fc.double({ min: 0, max: 800, noNaN: true }), fc.double({ min: 0, max: 800, noNaN: true })),
      fc.double({ min: 0, max: 300, noNaN: true }),
      fc.constantFrom<'fit' | 'pinned' | 'default'>('fit', 'pinned', 'default'),
      fc.double({ min: 0.001, max: 1, noNaN: true }),
      (raw, [e0, e1], est, source, kappa) => {
        const reqs = raw.map((r, i) => ({ ...r, requestId: `r${i}` }));
        const devices = [gpu('0', e0, est), gpu('1', e1, 0)];
        const band = kappaBand(kappa, source, kappa * 0.01);
        const withBars = attributeWindow(0, 1000, devices, reqs, factors, {
          idlePolicy: 'proportional',
          shareModel: 'auto',
          kappaOf: () => kappa,
          kappaBandOf: () => band,
        });
        const without = attributeWindow(0, 1000, devices, reqs, factors, {
          idlePolicy: 'proportional',
          shareModel: 'auto',
          kappaOf: () => kappa,
        });
        assert.ok(withBars.conservationError < 1e-9);
        assert.deepEqual(withBars.ledger, without.ledger, 'the bars change no point value');
        const eps = 1e-9;
        for (const [id, c] of withBars.contributions) {
          const p = without.contributions.get(id)!;
          assert.equal(c.acceleratorDynamicJ, p.acceleratorDynamicJ);
          assert.equal(c.itJ, p.itJ);
          assert.ok(c.acceleratorDynamicLoJ <= c.acceleratorDynamicJ + eps, `lo ${id}`);
          assert.ok(c.acceleratorDynamicHiJ >= c.acceleratorDynamicJ - eps, `hi ${id}`);
          assert.ok(c.acceleratorDynamicLoJ >= 0);
          assert.ok(c.itLoJ <= c.itJ + eps && c.itHiJ >= c.itJ - eps);
          assert.ok(c.co2eLocationLoG <= c.co2eLocationG + eps && c.co2eLocationHiG >= c.co2eLocationG - eps);
        }
      },
    ),
    { numRuns: runs },
  );
});

test('share bounds hold the point share and widen with the kappa band', () => {
  const r = (id: string, p: number, c: number, ft: number): RequestLog => ({
    requestId: id,
    host: 'h',
    gpus: [0],
    model: 'm',
    tenant: 't',
    status: 'ok',
    tStartMs: 0,
    tFirstTokenMs: ft,
    tEndMs: 1000,
    promptTokens: p,
    completionTokens: c,
  });
  // A prefill-heavy request beside a decode-heavy one: kappa decides their split.
  const users = [r('a', 4000, 2, 900), r('b', 10, 200, 10)];
  const point = shares(users, 'phase', () => 0.05, 0, 1000).shares;
  const narrow = shareBounds(users, 'phase', point, () => kappaBand(0.05, 'fit'), 0, 1000);
  const wide = shareBounds(users, 'phase', point, () => kappaBand(0.05, 'default'), 0, 1000);
  for (let i = 0; i < 2; i++) {
    assert.ok(narrow.lo[i]! <= point[i]! && point[i]! <= narrow.hi[i]!);
    assert.ok(wide.lo[i]! <= narrow.lo[i]! && wide.hi[i]! >= narrow.hi[i]!);
  }
  assert.ok(wide.hi[0]! - wide.lo[0]! > 0.2, 'an unfitted kappa leaves a wide bar');
  assert.deepEqual(kappaBand(0.1, 'default'), [0.1 / DEFAULT_KAPPA_FACTOR, 0.1 * DEFAULT_KAPPA_FACTOR]);
  const [lo, hi] = kappaBand(0.1, 'fit', 0.05);
  assert.ok(
    Math.abs(lo - 0.1 * (1 - 0.8225)) < 1e-12 && Math.abs(hi - 0.1 * 1.8225) < 1e-12,
    'a large s.e. widens it',
  );
});
