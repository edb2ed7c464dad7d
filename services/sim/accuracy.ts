// Ground-truth accuracy study: a simulated fleet whose per-request dynamic energy is known by
// construction, sampled like NVML (1 s averages with 1 % noise), attributed by the engine under
// each share model. Prints median and p95 per-request relative error and the conservation error.
//
//   npm run accuracy -- [--requests 100000] [--seed 1]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { HostEngine } from '../core/engine/engine.ts';
import { emptyEmissions } from '../core/engine/emissions.ts';
import { DEFAULT_CALIBRATION, KappaCalibrator } from '../core/kappa-calibration.ts';
import { fitKappa, type KappaFit, type KappaObservation } from '../core/kappa-fit.ts';
import type { ShareModelSetting } from '../core/shares.ts';
import { smallFleet, smallSettings } from '../core/small-fleet.ts';
import type { PowerSample } from '../core/types.ts';
import { table } from '../report/table.ts';
import {
  gaussian,
  llama70bTp4,
  rng,
  scheduleRequests,
  simulatePower,
  type Instance,
  type SimRequest,
} from './fleet-sim.ts';
import { parseTrace, type TraceRow } from './trace.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '100000' }, seed: { type: 'string', default: '1' } },
});
const target = Number(values.requests);
const seed = Number(values.seed);
const DATA = fileURLToPath(new URL('../../data/azure-llm-inference-2023/', import.meta.url));
const base = [
  ...parseTrace(readFileSync(DATA + 'AzureLLMInferenceTrace_conv.csv', 'utf8')),
  ...parseTrace(readFileSync(DATA + 'AzureLLMInferenceTrace_code.csv', 'utf8')),
].sort((a, b) => a.arrivalMs - b.arrivalMs);

// Repeat the trace end to end until the target count is reached.
const trace: TraceRow[] = [];
const span = base[base.length - 1]!.arrivalMs + 1000;
for (let k = 0; trace.length < target; k++)
  for (const r of base) if (trace.length < target) trace.push({ ...r, arrivalMs: r.arrivalMs + k * span });

// One host with 8 GPUs: two 70B instances (TP 4) under continuous batching, kept busy.
const host = 'h';
const instances: Instance[] = [llama70bTp4(host, [0, 1, 2, 3]), llama70bTp4(host, [4, 5, 6, 7])];
const totalSpan = trace[trace.length - 1]!.arrivalMs;
// Compress so each instance holds about 12 requests at once (continuous batching).
const compress = totalSpan / ((trace.length / 2 / 12) * 8000);
const t0 = 1_700_000_000_000;
const requests: SimRequest[] = scheduleRequests(trace, instances, t0, compress, seed, 'q');
const tEnd = Math.ceil(Math.max(...requests.map((r) => r.tEndMs)) / 1000) * 1000 + 2000;

const t = Date.now();
// Two NVML-like views of the same power: 1 s averaged readings, and an energy counter read every
// 100 ms (what nvmlDeviceGetTotalEnergyConsumption gives), both with 1 % noise.
const stepMs = 100;
const steps = Math.ceil((tEnd - t0) / stepMs);
const perStep = instances.map(() => new Float64Array(steps));
simulatePower(requests, instances, { idleW: 70, maxW: 700 }, t0, tEnd, stepMs, (k, tt, w) => {
  perStep[k]![Math.floor((tt - t0) / stepMs)] = w;
});
const noise = rng(seed + 7);
const readings1s: PowerSample[] = [];
for (let sec = 0; sec < Math.floor(steps / 10); sec++) {
  instances.forEach((inst, k) => {
    let sum = 0;
    for (let q = 0; q < 10; q++) sum += perStep[k]![sec * 10 + q]!;
    for (const g of inst.gpus)
      readings1s.push({
        kind: 'reading',
        host,
        role: 'accelerator',
        device: String(g),
        tMs: t0 + (sec + 1) * 1000,
        powerW: (sum / 10) * (1 + 0.01 * gaussian(noise)),
        averagingMs: 1000,
      });
  });
}
const counters100ms: PowerSample[] = [];
const energy = new Float64Array(8);
for (let q = 0; q < steps; q++) {
  instances.forEach((inst, k) => {
    for (const g of inst.gpus) {
      energy[g]! += (perStep[k]![q]! * (1 + 0.01 * gaussian(noise)) * stepMs) / 1000;
      counters100ms.push({
        kind: 'counter',
        host,
        role: 'accelerator',
        device: String(g),
        tMs: t0 + (q + 1) * stepMs,
        energyJ: energy[g]!,
        rangeJ: null,
      });
    }
  });
}
const simS = (Date.now() - t) / 1000;

function run(
  model: ShareModelSetting,
  kappa: number,
  sink: ((o: KappaObservation) => void) | null = null,
  samples: readonly PowerSample[] = readings1s,
  windowMs = 1000,
  online = false,
): { median: number; p95: number; conservation: number; coverage: number; seconds: number } {
  const started = Date.now();
  const fleet = smallFleet({ gpus: 8, idleW: 70 });
  const j = new HostEngine(
    fleet.hosts.get(host)!,
    fleet,
    smallSettings({
      shareModel: model,
      defaultKappa: kappa,
      idlePolicy: 'separate',
      horizonMs: 120_000,
      windowMs,
      // Request logs arrive when requests end, so every window they span is corrected: keep the
      // whole horizon's attributions cached, as the joiner's default does at 1 s windows.
      attributionCacheWindows: Math.ceil(120_000 / windowMs) + 8,
      gaps: { maxGapMs: 2000, maxHoldMs: 5000 },
    }),
  );
  j.kappaSink = sink;
  // The joiner's wiring of online kappa (decision record 0016), every fit installed at once.
  const calibrator = online ? new KappaCalibrator(DEFAULT_CALIBRATION) : null;
  if (calibrator) {
    j.kappaSink = (o) => {
      sink?.(o);
      calibrator.observe(o);
    };
    j.kappaSchedule = calibrator.schedule;
  }
  const out = emptyEmissions();
  const byEnd = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  let ri = 0;
  const attributed = new Map<string, number>();
  const bounds = new Map<string, [number, number]>();
  const keep = (rows: typeof out.requests): void => {
    for (const r of rows) {
      attributed.set(r.requestId, r.acceleratorDynamicJ);
      bounds.set(r.requestId, [r.acceleratorDynamicLoJ, r.acceleratorDynamicHiJ]);
    }
  };
  let conservation = 0;
  for (let i = 0; i < samples.length; i += 8) {
    const tNow = samples[i]!.tMs;
    for (let k = i; k < i + 8 && k < samples.length; k++) j.addPower(samples[k]!, 0, out);
    while (ri < byEnd.length && byEnd[ri]!.tEndMs <= tNow) j.addRequest(byEnd[ri++]!, 0, out);
    j.addHeartbeat({ host, stream: 'requests', tMs: tNow }, 0);
    j.advance(0, out);
    if (calibrator) for (const f of calibrator.propose(j.openWindowStartMs())) calibrator.schedule.add(f);
    keep(out.requests);
    conservation = Math.max(conservation, out.maxConservationError);
    out.requests.length = 0;
    out.ledger.length = 0;
  }
  j.addHeartbeat({ host, stream: 'requests', tMs: tEnd + 10_000 }, 0);
  j.addHeartbeat({ host, stream: 'power', tMs: tEnd + 10_000 }, 0);
  j.advance(0, out);
  j.observeRemaining();
  keep(out.requests);
  const truthful = requests.filter((r) => r.trueDynamicJ > 0);
  const inside = truthful.filter((r) => {
    const b = bounds.get(r.requestId);
    return b !== undefined && b[0] <= r.trueDynamicJ && r.trueDynamicJ <= b[1];
  }).length;
  const errs = truthful
    .map((r) => Math.abs((attributed.get(r.requestId) ?? 0) - r.trueDynamicJ) / r.trueDynamicJ)
    .sort((a, b) => a - b);
  return {
    median: errs[Math.floor(errs.length / 2)]!,
    p95: errs[Math.floor(errs.length * 0.95)]!,
    conservation,
    coverage: inside / truthful.length,
    seconds: (Date.now() - started) / 1000,
  };
}

// The simulator's prefill/decode energy ratio per token at its typical batch of 12, for reference.
const inst = instances[0]!;
const prefillJPerToken = inst.prefillWPerKTokS / 1000;
const decodeJPerToken = (inst.decodeW / (1 + inst.batchFactor * 11)) * (inst.decodeMsPerToken / 1000);
const trueKappa = prefillJPerToken / decodeJPerToken;

const rows: string[][] = [];
const addRow = (name: string, r: ReturnType<typeof run>): void => {
  rows.push([
    name,
    (r.median * 100).toFixed(2),
    (r.p95 * 100).toFixed(2),
    (r.coverage * 100).toFixed(1),
    r.conservation.toExponential(1),
    r.seconds.toFixed(1),
  ]);
};
// fit-kappa learns from the engine's own final windows; which share model runs does not matter.
const observations: KappaObservation[] = [];
addRow(
  'time share',
  run('time', 0.1, (o) => observations.push(o)),
);
const fit = fitKappa(observations)[0]!;
for (const [name, model, kappa] of [
  ['token-uniform (kappa 0.1)', 'token', 0.1],
  ['phase-aware (kappa 0.1)', 'phase', 0.1],
  [`phase-aware (kappa ${trueKappa.toFixed(3)}, simulator's own at batch 12)`, 'phase', trueKappa],
  [`phase-aware (fitted kappa ${fit.kappa.toFixed(3)})`, 'phase', fit.kappa],
] as const) {
  addRow(name, run(model, kappa));
}
addRow(
  'defaults: auto share model, online kappa (joiner defaults)',
  run('auto', 0.1, null, readings1s, 1000, true),
);
const observations100: KappaObservation[] = [];
addRow(
  'time share, 100 ms counters',
  run('time', 0.1, (o) => observations100.push(o), counters100ms, 100),
);
const fit100 = fitKappa(observations100)[0]!;
addRow(
  `phase-aware (fitted kappa ${fit100.kappa.toFixed(3)}), 100 ms counters`,
  run('phase', fit100.kappa, null, counters100ms, 100),
);
addRow('defaults, online kappa, 100 ms counters', run('auto', 0.1, null, counters100ms, 100, true));
const describe = (f: KappaFit): string =>
  `kappa ${f.kappa.toFixed(4)} +- ${f.kappaStdErr.toFixed(4)} from ${f.windows} clean windows ` +
  `(${f.prefillJPerToken.toFixed(4)} J/prefill token, ${f.decodeJPerToken.toFixed(4)} J/decode token, ` +
  `offset ${f.offsetW.toFixed(1)} W, R2 ${f.r2.toFixed(3)})`;
process.stdout.write(
  `ground truth: ${requests.length} requests (Azure LLM trace 2023, repeated), 1 host x 8 GPUs, 2 instances TP4, ` +
    `1 % noise on every sample; simulated in ${simS.toFixed(1)} s\n` +
    `fit-kappa, 1 s readings:     ${describe(fit)}\n` +
    `fit-kappa, 100 ms counters:  ${describe(fit100)}\n\n`,
);
process.stdout.write(
  table(
    [
      'share model',
      'median err %',
      'p95 err %',
      '90 % interval coverage %',
      'max conservation err',
      'engine s',
    ],
    rows,
  ),
);
