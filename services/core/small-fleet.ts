// A small reference fleet and engine settings: the core's tests use them, and so do the simulator's
// accuracy and state-bound runs (which is why this is not a test file).
import type { Fleet } from './fleet.ts';
import type { EngineSettings } from './engine/emissions.ts';

export function smallFleet(
  opts: { gpus?: number; hosts?: string[]; pue?: number; ci?: number; idleW?: number } = {},
): Fleet {
  const hosts = opts.hosts ?? ['h'];
  return {
    hosts: new Map(
      hosts.map((id) => [
        id,
        { id, facility: 'f', gpuCount: opts.gpus ?? 1, models: { accelerator: 'gpu', rest: 'chassis' } },
      ]),
    ),
    facilities: new Map([
      [
        'f',
        {
          id: 'f',
          region: 'r',
          zone: 'Z',
          pue: opts.pue ?? 1.5,
          pueSeries: null,
          marketGPerKWh: null,
          wueLPerKWh: null,
          renewableShare: null,
        },
      ],
    ]),
    zones: new Map([
      ['Z', { id: 'Z', annualGPerKWh: opts.ci ?? 360, series: null, seriesMaxAgeMs: 7_200_000 }],
    ]),
    models: new Map([
      ['gpu', { id: 'gpu', idleW: opts.idleW ?? 50, maxW: 700, embodiedKgCO2e: 0, lifetimeYears: 5 }],
      ['chassis', { id: 'chassis', idleW: 100, maxW: 3000, embodiedKgCO2e: 0, lifetimeYears: 5 }],
    ]),
  };
}

export const smallSettings = (over: Partial<EngineSettings> = {}): EngineSettings => ({
  windowMs: 1000,
  outOfOrdernessMs: 0,
  allowedLatenessMs: 0,
  idleTimeoutMs: 1e12,
  horizonMs: 60_000,
  gaps: { maxGapMs: 2000, maxHoldMs: 5000 },
  idlePolicy: 'proportional',
  shareModel: 'auto',
  defaultKappa: 0.1,
  kappaByModel: {},
  idleSource: 'catalog',
  attributionCacheWindows: 64,
  ...over,
});
