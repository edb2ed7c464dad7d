import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { llama70bTp4, scheduleRequests, simulateReadings } from '../sim/fleet-sim.ts';
import { HostEngine } from './engine/engine.ts';
import { emptyEmissions, type RequestRow } from './engine/emissions.ts';
import {
  DEFAULT_CALIBRATION,
  fitProblem,
  KappaCalibrator,
  KappaSchedule,
  type KappaFitRecord,
} from './kappa-calibration.ts';
import type { KappaFit, KappaObservation } from './kappa-fit.ts';
import { smallFleet, smallSettings } from './small-fleet.ts';

const runs = Number(process.env.FC_RUNS ?? 150);

const rec = (model: string, effectiveFromMs: number, kappa: number): KappaFitRecord => ({
  model,
  effectiveFromMs,
  fromMs: 0,
  toMs: 0,
  kappa,
  kappaStdErr: 0,
  r2: 1,
  windows: 100,
  prefillJPerToken: kappa,
  decodeJPerToken: 1,
  prefillTokensPerS: 0,
});

test('the schedule gives each window the latest fit in effect at its start', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.nat(100)), { maxLength: 30 }),
      fc.constantFrom('a', 'b'),
      fc.nat(120),
      (adds, model, w) => {
        const s = new KappaSchedule();
        // Later additions of the same boundary replace earlier ones (a rewrite of the same key).
        const last = new Map<string, number>();
        adds.forEach(([m, e], i) => {
          s.add(rec(m, e * 1000, i));
          last.set(`${m}@${e * 1000}`, i);
        });
        const candidates = [...last]
          .map(([k, i]) => ({ m: k.split('@')[0], e: Number(k.split('@')[1]), i }))
          .filter((c) => c.m === model && c.e <= w * 1000)
          .sort((x, y) => y.e - x.e);
        assert.equal(s.at(model, w * 1000)?.kappa, candidates[0]?.i);
      },
    ),
    { numRuns: runs },
  );
});

test('pruning keeps the fit in effect at the cut and everything after it', () => {
  const s = new KappaSchedule();
  for (const e of [0, 10, 20, 30]) s.add(rec('m', e, e));
  s.prune(25);
  assert.equal(s.size, 2);
  assert.equal(s.at('m', 25)?.kappa, 20);
  assert.equal(s.at('m', 31)?.kappa, 30);
  assert.equal(s.at('m', 5), undefined);
});

/** Windows of a GPU whose energy is a P + b D + noise, prefill and decode varying apart. */
function observations(n: number, kappa: number, noiseJ: number, seed = 1): KappaObservation[] {
  let x = seed;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, (_, i) => {
    const p = Math.floor(rnd() * 4000);
    const d = Math.floor(rnd() * 400);
    return {
      model: 'm',
      device: '0',
      windowStartMs: i * 1000,
      windowMs: 1000,
      prefillTokens: p,
      decodeTokens: d,
      dynamicJ: kappa * 0.5 * p + 0.5 * d + 20 + (rnd() - 0.5) * 2 * noiseJ,
    };
  });
}

test('a calibrator proposes a good fit once per epoch, effective after the frontier', () => {
  const c = new KappaCalibrator({ ...DEFAULT_CALIBRATION, epochMs: 10_000 });
  for (const o of observations(200, 0.25, 5)) c.observe(o);
  const [fit, ...more] = c.propose(123_456);
  assert.ok(fit);
  assert.equal(more.length, 0);
  assert.ok(Math.abs(fit.kappa - 0.25) < 0.01, `kappa ${fit.kappa}`);
  assert.equal(fit.effectiveFromMs, 130_000, 'the next epoch boundary after the frontier');
  assert.equal(fit.windows, 200);
  assert.equal(fit.fromMs, 0);
  assert.equal(fit.toMs, 200_000);
  assert.deepEqual(c.propose(125_000), [], 'not twice in one epoch');
  assert.equal(c.schedule.size, 0, 'the caller installs a fit once it is persisted');
  c.schedule.add(fit);
  assert.equal(c.propose(131_000).length, 1, 'the next epoch refits');
});

test('a replay behind the persisted schedule does not refit', () => {
  const c = new KappaCalibrator({ ...DEFAULT_CALIBRATION, epochMs: 10_000 });
  for (const o of observations(200, 0.25, 5)) c.observe(o);
  c.schedule.add(rec('m', 500_000, 0.3));
  assert.deepEqual(c.propose(123_456), []);
  assert.equal(c.propose(500_000).length, 1, 'past the schedule, fits again');
});

test('a fit too weak to trust is not proposed', () => {
  const few = new KappaCalibrator();
  for (const o of observations(DEFAULT_CALIBRATION.thresholds.minWindows - 1, 0.25, 1)) few.observe(o);
  assert.deepEqual(few.propose(0), []);
  const noisy = new KappaCalibrator();
  for (const o of observations(200, 0.25, 3000)) noisy.observe(o);
  assert.deepEqual(noisy.propose(0), []);
  const base: KappaFit = {
    model: 'm',
    windows: 100,
    prefillJPerToken: 0.1,
    decodeJPerToken: 1,
    kappa: 0.1,
    kappaStdErr: 0.001,
    offsetW: 0,
    r2: 0.9,
    problem: null,
  };
  assert.equal(fitProblem(base), null);
  assert.match(fitProblem({ ...base, windows: 10 })!, /clean windows/);
  assert.match(fitProblem({ ...base, r2: 0.2 })!, /R2/);
  assert.match(fitProblem({ ...base, kappaStdErr: 0.05 })!, /standard error/);
  assert.match(fitProblem({ ...base, r2: NaN })!, /R2/);
  assert.equal(fitProblem({ ...base, problem: 'x' }), 'x');
});

test('the rolling set keeps the newest windows only', () => {
  const c = new KappaCalibrator({ ...DEFAULT_CALIBRATION, maxWindows: 100 });
  for (const o of observations(1000, 0.25, 1)) c.observe(o);
  const kept = c.observations('m');
  assert.equal(kept.length, 100);
  assert.equal(kept[0]!.windowStartMs, 900_000);
});

/**
 * Runs one simulated host through an engine wired as the joiner wires it: clean final windows to
 * the calibrator, a proposal after each advance, installed at once (`persisted` receives it).
 * With `preload`, the schedule starts from persisted fits, as a restarted joiner's does.
 */
function runHost(
  preload: KappaFitRecord[],
  persisted: KappaFitRecord[],
  noTtft: (i: number) => boolean = () => false,
): { rows: RequestRow[]; truth: number; trueJ: Map<string, number> } {
  const inst = { ...llama70bTp4('h', [0, 1, 2, 3]), batchFactor: 0 };
  const trace = Array.from({ length: 300 }, (_, i) => ({
    arrivalMs: i * 1000,
    promptTokens: 200 + ((i * 7919) % 1800),
    completionTokens: 5 + ((i * 104729) % 120),
  }));
  const t0 = 1_700_000_000_000;
  const requests = scheduleRequests(trace, [inst], t0, 1, 3, 'k');
  const tEnd = Math.ceil(Math.max(...requests.map((r) => r.tEndMs)) / 1000) * 1000 + 2000;
  const samples = simulateReadings(requests, [inst], { idleW: 70, maxW: 10_000 }, t0, tEnd);
  const trueJ = new Map(requests.map((r) => [r.requestId, r.trueDynamicJ]));
  // Logs without a first-token time (the simulator's energy still has both phases).
  requests.forEach((r, i) => {
    if (noTtft(i)) r.tFirstTokenMs = null;
  });
  const fleet = smallFleet({ gpus: 4, idleW: 70 });
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, smallSettings({ horizonMs: 20_000 }));
  const c = new KappaCalibrator({ ...DEFAULT_CALIBRATION, epochMs: 30_000 });
  for (const f of preload) c.schedule.add(f);
  j.kappaSink = (o) => c.observe(o);
  j.kappaSchedule = c.schedule;
  const out = emptyEmissions();
  const byEnd = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  let ri = 0;
  for (let i = 0; i < samples.length; i += inst.gpus.length) {
    const tMs = samples[i]!.tMs;
    for (const p of samples.slice(i, i + inst.gpus.length)) j.addPower(p, 0, out);
    while (ri < byEnd.length && byEnd[ri]!.tEndMs <= tMs) j.addRequest(byEnd[ri++]!, 0, out);
    j.addHeartbeat({ host: 'h', stream: 'requests', tMs }, 0);
    j.advance(0, out);
    for (const f of c.propose(j.openWindowStartMs())) {
      persisted.push(f);
      c.schedule.add(f);
    }
  }
  const truth = inst.prefillWPerKTokS / 1000 / (inst.decodeW * (inst.decodeMsPerToken / 1000));
  return { rows: out.requests, truth, trueJ };
}

test('online calibration converges, rows name their kappa, and a replay from the fits matches', () => {
  const persisted: KappaFitRecord[] = [];
  const { rows, truth } = runHost([], persisted);
  assert.ok(persisted.length > 0, 'the calibrator fitted');
  const first = persisted[0]!;
  assert.ok(Math.abs(first.kappa - truth) / truth < 0.02, `kappa ${first.kappa} vs true ${truth}`);
  const before = rows.filter((r) => r.tEndMs < first.effectiveFromMs - 1000);
  const after = rows.filter((r) => r.tStartMs >= first.effectiveFromMs);
  assert.ok(before.length > 0 && after.length > 0);
  assert.ok(
    before.every((r) => r.kappa === 0.1),
    'windows closed before the fit keep the default',
  );
  assert.ok(after.every((r) => r.kappa !== 0.1 && Math.abs(r.kappa - truth) / truth < 0.02));
  // A restarted joiner loads the persisted fits and rebuilds identical rows, refitting nothing
  // where the schedule already reaches.
  const again: KappaFitRecord[] = [];
  const replay = runHost(persisted, again);
  assert.deepEqual(replay.rows, rows);
  assert.ok(again.every((f) => f.effectiveFromMs > persisted[persisted.length - 1]!.effectiveFromMs));
});

test('a request without a first-token time gets estimated phases and does not degrade its neighbours', () => {
  const full = runHost([], []);
  const fits: KappaFitRecord[] = [];
  const gappy = runHost([], fits, (i) => i % 5 === 2);
  assert.ok(fits.length > 0);
  const from = fits[0]!.effectiveFromMs;
  assert.ok(fits[0]!.prefillTokensPerS > 0, 'the fit carries a prefill rate');
  const last = (rows: RequestRow[]) => new Map(rows.map((r) => [r.requestId, r]));
  const a = last(full.rows);
  const b = last(gappy.rows);
  // Past the epoch by more than the longest request: no request without a first-token time that
  // started before the fit (so without a rate) still runs.
  const longestMs = Math.max(...gappy.rows.map((r) => r.tEndMs - r.tStartMs));
  const after = [...b.values()].filter((r) => r.tStartMs >= from + longestMs);
  const estimated = after.filter((r) => r.flags.includes('ttft-estimated'));
  const neighbours = after.filter((r) => !r.flags.includes('ttft-estimated'));
  assert.ok(estimated.length >= 10 && neighbours.length >= 40, `${estimated.length}/${neighbours.length}`);
  assert.ok(estimated.every((r) => r.shareModel === 'phase'));
  assert.ok(
    neighbours.every((r) => r.shareModel === 'phase'),
    'neighbours keep the phase model',
  );
  const err = (r: RequestRow) =>
    Math.abs(r.acceleratorDynamicJ - gappy.trueJ.get(r.requestId)!) / gappy.trueJ.get(r.requestId)!;
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const fullErr = median(neighbours.map((r) => err(a.get(r.requestId)!)));
  const gappyErr = median(neighbours.map(err));
  const estErr = median(estimated.map(err));
  assert.ok(gappyErr <= fullErr + 0.01, `neighbours ${gappyErr} vs ${fullErr} with every first-token time`);
  assert.ok(estErr < 0.05, `estimated requests ${estErr}`);
  // Before the first fit there is no rate: those windows use the token model, unflagged.
  const early = [...b.values()].filter((r) => r.tEndMs < from - 1000 && r.shareModel === 'token');
  assert.ok(early.length > 0 && early.every((r) => !r.flags.includes('ttft-estimated')));
});
