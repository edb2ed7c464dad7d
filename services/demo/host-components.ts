// The rest of each simulated server (CPU packages, DRAM, the node as a BMC sees it), following its
// GPUs' load: what the RAPL and Redfish collectors would report.

import { gaussian, type GpuSpec, type Instance, type rng } from '../sim/fleet-sim.ts';

// RAPL's energy counters wrap at max_energy_range_uj; this is a common value on Xeon packages.
const RAPL_RANGE_UJ = 262_143_328_850;

/**
 * The rest of each server, as RAPL and a BMC would report it: two CPU packages and DRAM as RAPL
 * energy counters (1 Hz, microjoules, wrapping), and the whole node as a Redfish PowerControl
 * reading (1 s average every second; slower BMCs are discussed in docs/method.md). Their load follows the GPUs' (tokenisation, scheduling, KV
 * transfers); the node adds fans, NICs, NVSwitches and PSU losses. Host 0's counters start just
 * below the wrap, so every demo exercises wrap handling.
 */
export function simulateHostComponents(
  instances: readonly Instance[],
  perInstanceSecond: ReadonlyMap<number, Float64Array>,
  hosts: readonly string[],
  t0: number,
  seconds: number,
  noise: ReturnType<typeof rng>,
  gpuSpecOf: (host: string) => GpuSpec,
): string[] {
  const gpuW = new Map(hosts.map((h) => [h, new Float64Array(seconds)]));
  instances.forEach((inst, k) => {
    const arr = gpuW.get(inst.host)!;
    const per = perInstanceSecond.get(k)!;
    for (let s = 0; s < seconds; s++) arr[s]! += per[s]! * inst.gpus.length;
  });
  const gpusOf = new Map<string, number>();
  for (const inst of instances) gpusOf.set(inst.host, (gpusOf.get(inst.host) ?? 0) + inst.gpus.length);
  const state = hosts.map((host, hi) => ({
    host,
    n: Math.max(1, gpusOf.get(host) ?? 0),
    spec: gpuSpecOf(host),
    gpu: gpuW.get(host)!,
    counters: [
      { role: 'cpu', device: 'package-0', idle: 95, busy: 110 },
      { role: 'cpu', device: 'package-1', idle: 90, busy: 100 },
      { role: 'dram', device: 'dram', idle: 42, busy: 35 },
    ].map((c, ci) => ({
      ...c,
      uj: hi === 0 ? RAPL_RANGE_UJ - (ci + 1) * 20_000_000_000 : Math.floor(noise.next() * RAPL_RANGE_UJ),
    })),
  }));
  // Time-major, as a collector polling every host each second would write it.
  const lines: string[] = [];
  for (let s = 0; s < seconds; s++) {
    const tMs = t0 + (s + 1) * 1000;
    for (const { host, n, spec, gpu, counters } of state) {
      // The host's load follows its GPUs' dynamic share of their headroom.
      const load = Math.min(1, Math.max(0, (gpu[s]! - n * spec.idleW) / (n * (spec.maxW - spec.idleW))));
      let componentsW = gpu[s]!;
      for (const c of counters) {
        const w = (c.idle + c.busy * load) * (1 + 0.02 * gaussian(noise));
        componentsW += w;
        c.uj = (c.uj + Math.round(w * 1e6)) % RAPL_RANGE_UJ;
        lines.push(
          JSON.stringify({
            t_ms: tMs,
            host,
            role: c.role,
            device: c.device,
            energy_uj: c.uj,
            max_energy_range_uj: RAPL_RANGE_UJ,
          }),
        );
      }
      const nodeW = componentsW + (420 + 180 * load) * (1 + 0.02 * gaussian(noise));
      lines.push(
        JSON.stringify({
          t_ms: tMs,
          host,
          role: 'node',
          device: 'bmc',
          power_w: Math.round(nodeW),
          averaging_ms: 1000,
        }),
      );
    }
  }
  return lines;
}
