// The demo fleet's engine instances: which models each host serves, on which accelerator.

import type { Fleet } from '../core/fleet.ts';
import { llama70bTp4, llama8b, type GpuSpec, type Instance } from '../sim/fleet-sim.ts';
import { onAccelerator } from '../sim/hardware.ts';

/** A host's accelerator and its catalog idle and maximum power. */
export function acceleratorOf(fleet: Fleet, host: string): { id: string; gpu: GpuSpec } {
  const id = fleet.hosts.get(host)?.models.accelerator ?? 'nvidia-h100-sxm5-80gb';
  const m = fleet.models.get(id);
  return { id, gpu: { idleW: m?.idleW ?? 70, maxW: m?.maxW ?? 700 } };
}

export function instancesFor(hosts: string[], fleet: Fleet): Instance[] {
  const out: Instance[] = [];
  for (const host of hosts) {
    // GPUs 0-3 serve a 70B model with tensor parallelism 4; GPUs 4-7 each serve an 8B model; the
    // engine profiles scale with the host's accelerator generation.
    const acc = acceleratorOf(fleet, host);
    out.push(onAccelerator(llama70bTp4(host, [0, 1, 2, 3]), acc.id, acc.gpu));
    for (const g of [4, 5, 6, 7]) out.push(onAccelerator(llama8b(host, g), acc.id, acc.gpu));
  }
  return out;
}

/** The day pass's hosts (services/demo/day.ts) stay out of the main pass. */
export const isDayHost = (host: string): boolean => /-day-\d+$/.test(host);
