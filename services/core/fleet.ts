// The fleet as the core sees it: hosts, facilities, device models and grid zones, already validated.

import type { Role } from './types.ts';
import { FleetError } from './errors.ts';

/** A step function of time: each value holds from its timestamp until the next one. */
export interface StepSeries {
  tMs: readonly number[];
  value: readonly number[];
}

export function valueAt(series: StepSeries, tMs: number): number | undefined {
  const i = lastIndexAtOrBefore(series, tMs);
  return i >= 0 ? series.value[i] : undefined;
}

export interface DeviceModel {
  id: string;
  idleW: number;
  maxW: number;
  embodiedKgCO2e: number;
  lifetimeYears: number;
}

export interface Facility {
  id: string;
  region: string;
  zone: string;
  /** A constant, or a series (e.g. monthly measured PUE); the constant applies before the series starts. */
  pue: number;
  pueSeries: StepSeries | null;
  /** Market-based factor (contracts, RECs) by period; null where none is declared. */
  marketGPerKWh: StepSeries | null;
  /** Site water per IT kWh (The Green Grid's WUE), L/kWh; null where unknown. */
  wueLPerKWh: number | null;
  /** Share of the facility's energy from renewable sources (EED reporting), 0–1; null where undeclared. */
  renewableShare: number | null;
}

export interface HostSpec {
  id: string;
  facility: string;
  gpuCount: number;
  /** Device model per role; `rest` is the node's remainder (PSU losses, fans, NICs, chassis). */
  models: Partial<Record<Role | 'rest', string>>;
}

export interface GridZone {
  id: string;
  annualGPerKWh: number;
  /** Hourly (or finer) location-based intensity; stale after maxAgeMs, then the annual factor applies. */
  series: StepSeries | null;
  seriesMaxAgeMs: number;
}

export interface Fleet {
  hosts: ReadonlyMap<string, HostSpec>;
  facilities: ReadonlyMap<string, Facility>;
  zones: ReadonlyMap<string, GridZone>;
  models: ReadonlyMap<string, DeviceModel>;
  /** Serving-engine instances (OTLP service.instance.id) -> host and GPUs. */
  instances?: ReadonlyMap<string, { host: string; gpus: readonly number[] }>;
}

export type CiSource = 'series' | 'annual';

export interface FacilityFactors {
  pue: number;
  ciGPerKWh: number;
  ciSource: CiSource;
  marketGPerKWh: number | null;
  wueLPerKWh: number | null;
}

/** The factors in force at tMs for a facility. */
export function factorsAt(fleet: Fleet, facility: Facility, tMs: number): FacilityFactors {
  const zone = fleet.zones.get(facility.zone);
  if (!zone)
    throw new FleetError(`facility ${facility.id} names grid zone ${facility.zone}, which the fleet lacks`);
  let ci = zone.annualGPerKWh;
  let ciSource: CiSource = 'annual';
  if (zone.series) {
    const idx = lastIndexAtOrBefore(zone.series, tMs);
    if (idx >= 0 && tMs - zone.series.tMs[idx]! <= zone.seriesMaxAgeMs) {
      ci = zone.series.value[idx]!;
      ciSource = 'series';
    }
  }
  const pue = (facility.pueSeries && valueAt(facility.pueSeries, tMs)) ?? facility.pue;
  const market = facility.marketGPerKWh ? (valueAt(facility.marketGPerKWh, tMs) ?? null) : null;
  return { pue, ciGPerKWh: ci, ciSource, marketGPerKWh: market, wueLPerKWh: facility.wueLPerKWh };
}

function lastIndexAtOrBefore(series: StepSeries, tMs: number): number {
  let lo = 0;
  let hi = series.tMs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (series.tMs[mid]! <= tMs) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export const MS_PER_YEAR = 365.25 * 24 * 3600 * 1000;

/** Embodied emissions amortised over the device's life, grams per millisecond of use. */
export function embodiedGPerMs(model: DeviceModel | undefined): number {
  if (!model || model.lifetimeYears <= 0) return 0;
  return (model.embodiedKgCO2e * 1000) / (model.lifetimeYears * MS_PER_YEAR);
}

export const J_PER_KWH = 3.6e6;

/** The series with one more point (replacing a point at the same time); sorted, never mutated. */
export function withPoint(series: StepSeries | null, tMs: number, value: number): StepSeries {
  const t = series ? [...series.tMs] : [];
  const v = series ? [...series.value] : [];
  const i = series ? lastIndexAtOrBefore(series, tMs) : -1;
  if (i >= 0 && t[i] === tMs) v[i] = value;
  else {
    t.splice(i + 1, 0, tMs);
    v.splice(i + 1, 0, value);
  }
  return { tMs: t, value: v };
}
