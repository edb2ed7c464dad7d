// Per-accelerator power models for the simulator. The engine profiles in fleet-sim.ts are H100
// figures; other generations scale them by datasheet ratios: prefill is compute-bound (dense BF16
// throughput), decode is memory-bound (HBM bandwidth), dynamic power follows the board power limit.
// Illustrative ratios for a simulation whose truth is known by construction, not measurements of
// these parts; the idle and maximum watts are the device catalog's.

import type { GpuSpec, Instance } from './fleet-sim.ts';

export interface AcceleratorProfile {
  /** Prefill tokens/s relative to an H100 SXM (dense BF16 TFLOPS ratio). */
  prefillSpeedup: number;
  /** Decode tokens/s relative to an H100 SXM (HBM bandwidth ratio). */
  decodeSpeedup: number;
  /** Dynamic power relative to an H100 SXM (board power limit ratio). */
  powerFactor: number;
  /** Label the DCGM stand-in reports as modelName. */
  dcgmName: string;
}

/**
 * H100 SXM5: 989 TFLOPS BF16 dense, 3.35 TB/s, 700 W. A100 SXM4: 312, 2.0, 400. H200: 989, 4.8, 700.
 * B200: about 2,250, 8.0, 1,000. MI300X: 1,307, 5.3, 750 (vendor datasheets). Real serving throughput
 * differs by software stack; these only give each generation a plausible place.
 */
export const ACCELERATOR_PROFILES: Readonly<Record<string, AcceleratorProfile>> = {
  'nvidia-a100-sxm4-80gb': {
    prefillSpeedup: 0.32,
    decodeSpeedup: 0.6,
    powerFactor: 0.57,
    dcgmName: 'NVIDIA A100-SXM4-80GB',
  },
  'nvidia-h100-sxm5-80gb': {
    prefillSpeedup: 1,
    decodeSpeedup: 1,
    powerFactor: 1,
    dcgmName: 'NVIDIA H100 80GB HBM3',
  },
  'nvidia-h200-sxm-141gb': {
    prefillSpeedup: 1,
    decodeSpeedup: 1.43,
    powerFactor: 1,
    dcgmName: 'NVIDIA H200',
  },
  'nvidia-b200-sxm-180gb': {
    prefillSpeedup: 2.27,
    decodeSpeedup: 2.39,
    powerFactor: 1.43,
    dcgmName: 'NVIDIA B200',
  },
  'amd-mi300x-oam-192gb': {
    prefillSpeedup: 1.32,
    decodeSpeedup: 1.58,
    powerFactor: 1.07,
    dcgmName: 'AMD Instinct MI300X',
  },
};

/**
 * An H100 engine profile moved to another accelerator: faster phases draw the scaled dynamic power
 * for less time, so energy per token changes by powerFactor / speedup.
 */
export function onAccelerator(inst: Instance, accelerator: string, gpu: GpuSpec): Instance {
  const p = ACCELERATOR_PROFILES[accelerator];
  if (!p)
    throw new Error(`no simulator profile for accelerator ${accelerator}; add one to ACCELERATOR_PROFILES`);
  return {
    ...inst,
    prefillTokensPerS: inst.prefillTokensPerS * p.prefillSpeedup,
    decodeMsPerToken: inst.decodeMsPerToken / p.decodeSpeedup,
    // Dynamic W per 1,000 prefill tokens/s: power scales by powerFactor while throughput scales by speedup.
    prefillWPerKTokS: (inst.prefillWPerKTokS * p.powerFactor) / p.prefillSpeedup,
    decodeW: inst.decodeW * p.powerFactor,
    gpu,
  };
}
