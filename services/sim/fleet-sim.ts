// A simulated inference fleet whose per-request energy is known by construction.
//
// Each engine instance serves requests on a fixed GPU set with continuous batching. A request draws
// phase-dependent dynamic power on each of its GPUs: prefill is compute-bound (power per prefill
// token per second), decode is memory-bound (a fixed power per decoding request, shrinking per
// request as the batch grows). GPU power = idle + the sum of active requests' dynamic power, capped
// at the GPU's maximum. Every request's true dynamic energy is the integral of its own term.

import type { PowerSample, RequestLog } from '../core/types.ts';
import type { TraceRow } from './trace.ts';

export interface Instance {
  host: string;
  gpus: number[];
  model: string;
  prefillTokensPerS: number;
  decodeMsPerToken: number;
  /** Dynamic watts per GPU per 1,000 prefill tokens/s. */
  prefillWPerKTokS: number;
  /** Dynamic watts per GPU of one decoding request when alone. */
  decodeW: number;
  /** Batch efficiency: each decoding request draws decodeW / (1 + batchFactor * (n - 1)). */
  batchFactor: number;
  /** This instance's GPU idle and maximum power, when it differs from the simulation's default. */
  gpu?: GpuSpec;
}

export interface SimRequest extends RequestLog {
  instance: number;
  /** True dynamic accelerator energy over all its GPUs, J. */
  trueDynamicJ: number;
}

export interface Rng {
  next(): number;
}

/** mulberry32: small, fast, seedable; the simulation must be reproducible. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

export function gaussian(r: Rng): number {
  const u = Math.max(r.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
}

/** Engine profiles used by the demo and the accuracy study (H100, plausible orders of magnitude). */
export const llama70bTp4 = (host: string, gpus: number[]): Instance => ({
  host,
  gpus,
  model: 'llama-3.1-70b',
  prefillTokensPerS: 6000,
  decodeMsPerToken: 30,
  prefillWPerKTokS: 60,
  decodeW: 120,
  batchFactor: 0.15,
});

export const llama8b = (host: string, gpu: number): Instance => ({
  host,
  gpus: [gpu],
  model: 'llama-3.1-8b',
  prefillTokensPerS: 12000,
  decodeMsPerToken: 12,
  prefillWPerKTokS: 35,
  decodeW: 90,
  batchFactor: 0.1,
});

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];

/** Assigns trace arrivals (time-compressed) to instances round-robin and computes each request's span. */
export function scheduleRequests(
  trace: readonly TraceRow[],
  instances: readonly Instance[],
  t0Ms: number,
  compress: number,
  seed: number,
  idPrefix = 'req',
): SimRequest[] {
  const r = rng(seed);
  const out: SimRequest[] = [];
  trace.forEach((row, i) => {
    const k = Math.floor(r.next() * instances.length);
    const inst = instances[k]!;
    const start = t0Ms + Math.round(row.arrivalMs / compress);
    const prefillMs = Math.max(1, Math.round((row.promptTokens / inst.prefillTokensPerS) * 1000));
    const decodeMs = Math.max(1, Math.round(row.completionTokens * inst.decodeMsPerToken));
    out.push({
      requestId: `${idPrefix}-${i.toString(36)}`,
      host: inst.host,
      gpus: inst.gpus,
      model: inst.model,
      tenant: TENANTS[Math.floor(r.next() * TENANTS.length)]!,
      status: 'ok',
      tStartMs: start,
      tFirstTokenMs: start + prefillMs,
      tEndMs: start + prefillMs + decodeMs,
      promptTokens: row.promptTokens,
      completionTokens: row.completionTokens,
      instance: k,
      trueDynamicJ: 0,
    });
  });
  return out;
}

export interface GpuSpec {
  idleW: number;
  maxW: number;
}

/**
 * Steps each instance at `stepMs`, computing per-GPU power and each request's dynamic energy.
 * Calls `onPower(instanceIndex, tMs, powerW)` with the power of the step [tMs, tMs + stepMs) for every
 * GPU of the instance (all GPUs of an instance draw the same). Sets trueDynamicJ on the requests.
 */
export function simulatePower(
  requests: SimRequest[],
  instances: readonly Instance[],
  gpu: GpuSpec,
  fromMs: number,
  toMs: number,
  stepMs: number,
  onPower: (instance: number, tMs: number, powerW: number) => void,
): void {
  const byInstance = instances.map(() => [] as SimRequest[]);
  for (const q of requests) byInstance[q.instance]!.push(q);
  byInstance.forEach((list, k) => {
    const inst = instances[k]!;
    list.sort((a, b) => a.tStartMs - b.tStartMs);
    let next = 0;
    let active: SimRequest[] = [];
    for (let t = fromMs; t < toMs; t += stepMs) {
      const t1 = t + stepMs;
      while (next < list.length && list[next]!.tStartMs < t1) active.push(list[next++]!);
      active = active.filter((q) => q.tEndMs > t);
      let decoding = 0;
      for (const q of active) if (q.tFirstTokenMs! < t1 && q.tEndMs > t) decoding++;
      const contrib: number[] = [];
      let dyn = 0;
      for (const q of active) {
        let w = 0;
        const ft = q.tFirstTokenMs!;
        const pre = Math.max(0, Math.min(t1, ft) - Math.max(t, q.tStartMs));
        const dec = Math.max(0, Math.min(t1, q.tEndMs) - Math.max(t, ft));
        if (pre > 0) w += (inst.prefillTokensPerS / 1000) * inst.prefillWPerKTokS * (pre / stepMs);
        if (dec > 0)
          w += (inst.decodeW / (1 + inst.batchFactor * Math.max(0, decoding - 1))) * (dec / stepMs);
        contrib.push(w);
        dyn += w;
      }
      const spec = inst.gpu ?? gpu;
      const headroom = spec.maxW - spec.idleW;
      const scale = dyn > headroom ? headroom / dyn : 1;
      active.forEach((q, i) => {
        q.trueDynamicJ += (contrib[i]! * scale * stepMs * inst.gpus.length) / 1000;
      });
      onPower(k, t, spec.idleW + dyn * scale);
    }
  });
}

/**
 * NVML-style 1 s average power readings of every GPU of every instance over [fromMs, toMs), from
 * 100 ms simulation steps; with `noise`, each reading gets that relative Gaussian noise.
 */
export function simulateReadings(
  requests: SimRequest[],
  instances: readonly Instance[],
  gpu: GpuSpec,
  fromMs: number,
  toMs: number,
  noise: { rng: Rng; relative: number } | null = null,
): PowerSample[] {
  const seconds = Math.ceil((toMs - fromMs) / 1000);
  const perSecond = instances.map(() => new Float64Array(seconds));
  simulatePower(requests, instances, gpu, fromMs, fromMs + seconds * 1000, 100, (k, t, w) => {
    perSecond[k]![Math.floor((t - fromMs) / 1000)]! += w / 10;
  });
  const out: PowerSample[] = [];
  for (let s = 0; s < seconds; s++)
    instances.forEach((inst, k) => {
      for (const g of inst.gpus)
        out.push({
          kind: 'reading',
          host: inst.host,
          role: 'accelerator',
          device: String(g),
          tMs: fromMs + (s + 1) * 1000,
          powerW: perSecond[k]![s]! * (noise ? 1 + noise.relative * gaussian(noise.rng) : 1),
          averagingMs: 1000,
        });
    });
  return out;
}
