import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { llama70bTp4, scheduleRequests, simulateReadings } from '../sim/fleet-sim.ts';
import type { DeviceWindow } from './attribute.ts';
import { HostEngine } from './engine/engine.ts';
import { emptyEmissions } from './engine/emissions.ts';
import { fitKappa, kappaObservations, type KappaObservation } from './kappa-fit.ts';
import { smallFleet, smallSettings } from './small-fleet.ts';
import type { RequestLog } from './types.ts';

const runs = Number(process.env.FC_RUNS ?? 150);

const gpu = (device: string, energyJ: number, o: Partial<DeviceWindow> = {}): DeviceWindow => ({
  role: 'accelerator',
  device,
  energyJ,
  estimatedJ: 0,
  idlePowerW: 100,
  embodiedGPerMs: 0,
  maxPowerW: 700,
  ...o,
});
const req = (id: string, o: Partial<RequestLog> = {}): RequestLog => ({
  requestId: id,
  host: 'h',
  gpus: [0],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs: 0,
  tFirstTokenMs: 200,
  tEndMs: 1000,
  promptTokens: 100,
  completionTokens: 40,
  ...o,
});

test('observations count the tokens inside the window and subtract idle power', () => {
  // Prefill 0-200 ms (100 tokens), decode 200-1000 ms (40 tokens); the window is 0-500 ms.
  const [o] = kappaObservations(0, 500, [gpu('0', 200)], [req('a')]);
  assert.ok(o);
  assert.equal(o.prefillTokens, 100);
  assert.equal(o.decodeTokens, 15); // 300 of 800 decode ms
  assert.equal(o.dynamicJ, 150); // 200 J measured - 100 W x 0.5 s
  assert.equal(o.model, 'm');
});

test('observations leave out windows that cannot be fitted fairly', () => {
  const one = (d: DeviceWindow, r: RequestLog[]) => kappaObservations(0, 1000, [d], r).length;
  assert.equal(one(gpu('0', 300), [req('a')]), 1);
  assert.equal(one(gpu('0', 300, { estimatedJ: 1 }), [req('a')]), 0, 'estimated energy');
  assert.equal(one(gpu('0', 650), [req('a')]), 0, 'at the power cap');
  assert.equal(one(gpu('0', 300), [req('a'), req('b', { model: 'other' })]), 0, 'two models');
  assert.equal(one(gpu('0', 300), [req('a', { tFirstTokenMs: null })]), 0, 'no first-token time');
  assert.equal(one(gpu('0', 300), []), 0, 'nobody ran');
  assert.equal(one(gpu('1', 300), [req('a')]), 0, 'request on another GPU');
  assert.equal(one(gpu('0', 300, { role: 'cpu' }), [req('a')]), 0, 'not an accelerator');
});

test('fitKappa recovers the coefficients of exact data', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.001, max: 1, noNaN: true }),
      fc.double({ min: 0.1, max: 10, noNaN: true }),
      fc.double({ min: -50, max: 50, noNaN: true }),
      fc.array(fc.tuple(fc.nat(5000), fc.nat(500)), { minLength: 8, maxLength: 60 }),
      (a, b, c, tokens) => {
        const obs: KappaObservation[] = tokens.map(([p, d], i) => ({
          model: 'm',
          device: '0',
          windowStartMs: i * 1000,
          windowMs: 1000,
          prefillTokens: p,
          decodeTokens: d,
          dynamicJ: a * p + b * d + c,
        }));
        const [fit] = fitKappa(obs);
        assert.ok(fit);
        if (fit.problem !== null) {
          // Only degenerate designs may refuse: the columns must then be (nearly) dependent.
          assert.match(fit.problem, /never vary apart|too few/);
          return;
        }
        assert.ok(Math.abs(fit.kappa - a / b) <= 1e-6 * Math.max(1, a / b), `${fit.kappa} vs ${a / b}`);
        assert.ok(Math.abs(fit.offsetW - c) <= 1e-5 * Math.max(1, Math.abs(c)));
      },
    ),
    { numRuns: runs },
  );
});

test('fitKappa says why it cannot fit', () => {
  const o = (p: number, d: number): KappaObservation => ({
    model: 'm',
    device: '0',
    windowStartMs: p,
    windowMs: 1000,
    prefillTokens: p,
    decodeTokens: d,
    dynamicJ: p + d,
  });
  assert.equal(fitKappa([o(1, 2), o(2, 3)])[0]!.problem, 'too few clean windows');
  // Prefill always twice decode: the two cannot be told apart.
  assert.match(fitKappa([1, 2, 3, 4, 5, 6].map((k) => o(2 * k, k)))[0]!.problem!, /never vary apart/);
  assert.deepEqual(fitKappa([]), []);
});

test('the engine feeds fit-kappa final windows that recover the true ratio of a simulated GPU', () => {
  // Batch-independent decode power and light load (no power cap): energy is exactly additive per
  // token, so least squares must find the simulator's own ratio.
  const inst = { ...llama70bTp4('h', [0, 1, 2, 3]), batchFactor: 0 };
  const trace = Array.from({ length: 400 }, (_, i) => ({
    arrivalMs: i * 1000,
    promptTokens: 200 + ((i * 7919) % 1800),
    completionTokens: 5 + ((i * 104729) % 120),
  }));
  const t0 = 1_700_000_000_000;
  const requests = scheduleRequests(trace, [inst], t0, 1, 3, 'k');
  const tEnd = Math.ceil(Math.max(...requests.map((r) => r.tEndMs)) / 1000) * 1000 + 2000;
  const samples = simulateReadings(requests, [inst], { idleW: 70, maxW: 10_000 }, t0, tEnd);
  const fleet = smallFleet({ gpus: 4, idleW: 70 });
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, smallSettings({ horizonMs: 30_000 }));
  const observations: KappaObservation[] = [];
  j.kappaSink = (o) => observations.push(o);
  const out = emptyEmissions();
  const byEnd = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  let ri = 0;
  for (let i = 0; i < samples.length; i += inst.gpus.length) {
    const tMs = samples[i]!.tMs;
    for (const p of samples.slice(i, i + inst.gpus.length)) j.addPower(p, 0, out);
    while (ri < byEnd.length && byEnd[ri]!.tEndMs <= tMs) j.addRequest(byEnd[ri++]!, 0, out);
    j.addHeartbeat({ host: 'h', stream: 'requests', tMs }, 0);
    j.advance(0, out);
  }
  j.observeRemaining();
  const [fit] = fitKappa(observations);
  assert.ok(fit && fit.problem === null, fit?.problem ?? 'no fit');
  const truth = inst.prefillWPerKTokS / 1000 / (inst.decodeW * (inst.decodeMsPerToken / 1000));
  assert.ok(Math.abs(fit.kappa - truth) / truth < 0.01, `kappa ${fit.kappa} vs true ${truth}`);
  assert.ok(fit.r2 > 0.999, `R2 ${fit.r2}`);
  // The sink sees each final device-window exactly once.
  const keys = observations.map((o) => `${o.device}@${o.windowStartMs}`);
  assert.equal(new Set(keys).size, keys.length);
  assert.ok(observations.length > 1000, `${observations.length} observations`);
});
