// Measures the joiner engine's retained state per host against its own estimate (stateBytes).
// Hosts of 8 GPUs (one 70B TP4 instance and four 8B instances) serve the Azure trace; GPUs report
// 1 Hz readings, CPU/DRAM RAPL counters and a BMC node reading every second. The run lasts longer
// than the correction horizon, so the state has reached its steady size; the heap is measured
// after a forced GC, before and after the engines are dropped.
//
// Retained is the V8 heap plus ArrayBuffer stores after a forced GC.
//
//   node --expose-gc --import tsx services/sim/state-bound.ts [--hosts 20] [--minutes 20] [--horizon-min 15] [--hz 1]
//
// --hz sets the GPU reading rate (1 Hz readings of 1 s averages by default; 10 for NVML's 100 ms).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HostEngine } from '../core/engine/engine.ts';
import { emptyEmissions } from '../core/engine/emissions.ts';
import { smallFleet, smallSettings } from '../core/small-fleet.ts';
import type { PowerSample } from '../core/types.ts';
import {
  llama70bTp4,
  llama8b,
  scheduleRequests,
  simulatePower,
  simulateReadings,
  type GpuSpec,
  type Instance,
  type SimRequest,
} from './fleet-sim.ts';
import { parseTrace } from './trace.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '20' },
    minutes: { type: 'string', default: '20' },
    'horizon-min': { type: 'string', default: '15' },
    hz: { type: 'string', default: '1' },
  },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const nHosts = Number(values.hosts);
const seconds = Number(values.minutes) * 60;
const horizonMs = Number(values['horizon-min']) * 60_000;
const hz = Number(values.hz);
if (!(hz > 0 && hz <= 100)) throw new Error('--hz takes a rate between 0 and 100');

const DATA = fileURLToPath(new URL('../../data/azure-llm-inference-2023/', import.meta.url));
const trace = parseTrace(readFileSync(DATA + 'AzureLLMInferenceTrace_conv.csv', 'utf8'));
const hosts = Array.from({ length: nHosts }, (_, i) => `h${i}`);
const fleet = smallFleet({ gpus: 8, hosts, idleW: 70 });
const t0 = 1_700_000_000_000;
const settings = smallSettings({ horizonMs, outOfOrdernessMs: 2000, allowedLatenessMs: 1000 });

/** GPU readings of (1000 / hz) ms averages, one per GPU of each instance, in time order. */
function readingsAt(hz: number, reqs: SimRequest[], instances: Instance[], spec: GpuSpec): PowerSample[] {
  const step = Math.round(1000 / hz);
  const out: PowerSample[] = [];
  simulatePower(reqs, instances, spec, t0, t0 + seconds * 1000, step, (k, t, w) => {
    const inst = instances[k]!;
    for (const g of inst.gpus)
      out.push({
        kind: 'reading',
        host: inst.host,
        role: 'accelerator',
        device: String(g),
        tMs: t + step,
        powerW: w,
        averagingMs: step,
      });
  });
  return out.sort((a, b) => a.tMs - b.tMs);
}

gc();
// Heap plus ArrayBuffer backing stores: the engine keeps samples in typed arrays (issue 16), whose
// bytes live outside V8's heap, so heapUsed alone would not see them.
const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
// ArrayBuffer stores are freed after the collection that finds them dead, by a later task: collect
// and yield a few times before each reading.
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
};
await settle();
const heap0 = used();
const engines: HostEngine[] = [];
let requests = 0;
const out = emptyEmissions();
for (const [hi, host] of hosts.entries()) {
  const instances: Instance[] = [
    llama70bTp4(host, [0, 1, 2, 3]),
    ...[4, 5, 6, 7].map((g) => llama8b(host, g)),
  ];
  // About 3 requests per second per host, the trace's own mix.
  const span = trace[trace.length - 1]!.arrivalMs;
  const compress = span / 1000 / (trace.length / 3);
  const reqs = scheduleRequests(trace, instances, t0, compress, hi + 1, host).filter(
    (r) => r.tEndMs < t0 + seconds * 1000,
  );
  requests += reqs.length;
  const spec = { idleW: 70, maxW: 700 };
  const gpu =
    hz === 1
      ? simulateReadings(reqs, instances, spec, t0, t0 + seconds * 1000)
      : readingsAt(hz, reqs, instances, spec);
  const j = new HostEngine(fleet.hosts.get(host)!, fleet, settings);
  const byEnd = [...reqs].sort((a, b) => a.tEndMs - b.tEndMs);
  let ri = 0;
  let gi = 0;
  const energy = [0, 0, 0];
  for (let s = 1; s <= seconds; s++) {
    const tMs = t0 + s * 1000;
    while (gi < gpu.length && gpu[gi]!.tMs <= tMs) j.addPower(gpu[gi++]!, 0, out);
    ['package-0', 'package-1', 'dram'].forEach((device, k) => {
      energy[k]! += 150;
      const c: PowerSample = {
        kind: 'counter',
        host,
        role: k < 2 ? 'cpu' : 'dram',
        device,
        tMs,
        energyJ: energy[k]!,
        rangeJ: 262_143.32885,
        source: 'rapl',
      };
      j.addPower(c, 0, out);
    });
    j.addPower(
      {
        kind: 'reading',
        host,
        role: 'node',
        device: 'bmc',
        tMs,
        powerW: 3000,
        averagingMs: 1000,
        source: 'bmc',
      },
      0,
      out,
    );
    while (ri < byEnd.length && byEnd[ri]!.tEndMs <= tMs) j.addRequest(byEnd[ri++]!, 0, out);
    j.addHeartbeat({ host, stream: 'requests', tMs }, 0);
    j.advance(0, out);
    out.requests.length = 0;
    out.ledger.length = 0;
  }
  engines.push(j);
}
await settle();
const heapHeld = used();
const estimate = engines.reduce((s, j) => s + j.stateBytes(), 0);
const rss = process.memoryUsage().rss;
engines.length = 0;
await settle();
const heapAfterDrop = used();
const perHost = (heapHeld - heapAfterDrop) / nHosts;
const mb = (b: number): string => (b / 1e6).toFixed(2);
process.stdout.write(
  `${nHosts} hosts x 8 GPUs, ${seconds / 60} simulated min, H = ${horizonMs / 60_000} min, 1 s windows, ` +
    `${requests} requests (~${(requests / nHosts / seconds).toFixed(1)}/s per host), 8 GPU series at ${hz} Hz and 4 host series at 1 Hz per host\n` +
    `measured: ${mb(perHost)} MB per host retained (heap + array buffers with engines ${mb(heapHeld - heap0)} MB, after dropping them ${mb(heapAfterDrop - heap0)} MB; RSS ${mb(rss)} MB)\n` +
    `estimate: ${mb(estimate / nHosts)} MB per host (HostEngine.stateBytes)\n`,
);
