// Validates a fleet description (already parsed from YAML/JSON) into the core's Fleet. Pure: the
// file reading is the adapter's job. Every error names the path of the bad field and what is expected.

import type { DeviceModel, Facility, Fleet, GridZone, HostSpec, StepSeries } from '../core/fleet.ts';
import { ConfigError } from './errors.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(path: string, what: string): never {
  throw new ConfigError(`fleet config: ${path} ${what}`);
}
function str(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0) fail(`${path}.${key}`, 'must be a non-empty string');
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(v))
    fail(`${path}.${key}`, 'may hold only letters, digits and . _ : - (1-128 chars)');
  return v;
}
function num(o: Obj, key: string, path: string, min: number, max = Number.POSITIVE_INFINITY): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    fail(`${path}.${key}`, `must be a number in [${min}, ${max}]`);
  return v;
}
function optNum(o: Obj, key: string, path: string, min: number, max?: number): number | null {
  return o[key] === undefined || o[key] === null ? null : num(o, key, path, min, max);
}
function series(v: unknown, path: string, min: number): StepSeries {
  if (!Array.isArray(v) || v.length === 0) fail(path, 'must be a non-empty list of {from, value}');
  const pts = v.map((p, i) => {
    if (!isObj(p)) fail(`${path}[${i}]`, 'must be {from, value}');
    const t = Date.parse(String(p.from));
    if (!Number.isFinite(t)) fail(`${path}[${i}].from`, 'must be an ISO date or date-time');
    return { t, v: num(p, 'value', `${path}[${i}]`, min) };
  });
  pts.sort((a, b) => a.t - b.t);
  return { tMs: pts.map((p) => p.t), value: pts.map((p) => p.v) };
}

export interface ShippedData {
  models: readonly DeviceModel[];
  annualFactors: Readonly<Record<string, number>>;
  /** The accounting basis of annualFactors (data/grid-annual-factors.json), named in errors. */
  gridBasis?: string;
}

export function parseFleet(raw: unknown, shipped: ShippedData): Fleet {
  if (!isObj(raw)) fail('(root)', 'must be a mapping with facilities and hosts');
  const models = new Map(shipped.models.map((m) => [m.id, m]));
  if (raw.models !== undefined) {
    if (!Array.isArray(raw.models)) fail('models', 'must be a list');
    raw.models.forEach((m, i) => {
      if (!isObj(m)) fail(`models[${i}]`, 'must be a mapping');
      const p = `models[${i}]`;
      models.set(str(m, 'id', p), {
        id: str(m, 'id', p),
        idleW: num(m, 'idleW', p, 0),
        maxW: num(m, 'maxW', p, 1),
        embodiedKgCO2e: num(m, 'embodiedKgCO2e', p, 0),
        lifetimeYears: num(m, 'lifetimeYears', p, 0.1),
      });
    });
  }

  const zones = new Map<string, GridZone>();
  const zoneRaw = isObj(raw.zones) ? raw.zones : {};
  const facilities = new Map<string, Facility>();
  if (!Array.isArray(raw.facilities) || raw.facilities.length === 0)
    fail('facilities', 'must be a non-empty list');
  raw.facilities.forEach((f, i) => {
    const p = `facilities[${i}]`;
    if (!isObj(f)) fail(p, 'must be a mapping');
    const id = str(f, 'id', p);
    if (facilities.has(id)) fail(`${p}.id`, `repeats facility ${id}`);
    const zone = str(f, 'zone', p);
    if (!zones.has(zone)) {
      const z = zoneRaw[zone];
      const zObj = isObj(z) ? z : {};
      const annual =
        (zObj.annualGPerKWh as number | undefined) ??
        shipped.annualFactors[zone] ??
        fail(
          `${p}.zone`,
          `${zone} has no annual factor${shipped.gridBasis ? ` on the ${shipped.gridBasis} basis` : ''}: add zones.${zone}.annualGPerKWh or use a zone from data/grid-annual-factors.json`,
        );
      // A fleet's own factor may say its basis; one on the other basis would mix bases in one report.
      if (zObj.annualBasis !== undefined && shipped.gridBasis && zObj.annualBasis !== shipped.gridBasis)
        fail(
          `zones.${zone}.annualBasis`,
          `is ${JSON.stringify(zObj.annualBasis)} but the annual factors are on the ${shipped.gridBasis} basis (JOULESTREAM_GRID_BASIS)`,
        );
      zones.set(zone, {
        id: zone,
        annualGPerKWh: annual,
        series: zObj.series !== undefined ? series(zObj.series, `zones.${zone}.series`, 0) : null,
        seriesMaxAgeMs: (optNum(zObj, 'seriesMaxAgeHours', `zones.${zone}`, 0) ?? 2) * 3_600_000,
      });
    }
    const pue = f.pue;
    facilities.set(id, {
      id,
      region: str(f, 'region', p),
      zone,
      pue: typeof pue === 'number' ? num(f, 'pue', p, 1, 5) : 1,
      pueSeries: Array.isArray(pue) ? series(pue, `${p}.pue`, 1) : null,
      marketGPerKWh:
        f.marketGPerKWh === undefined
          ? null
          : typeof f.marketGPerKWh === 'number'
            ? { tMs: [0], value: [num(f, 'marketGPerKWh', p, 0)] }
            : series(f.marketGPerKWh, `${p}.marketGPerKWh`, 0),
      wueLPerKWh: optNum(f, 'wueLPerKWh', p, 0, 20),
      renewableShare: optNum(f, 'renewableShare', p, 0, 1),
    });
    if (typeof pue !== 'number' && !Array.isArray(pue))
      fail(`${p}.pue`, 'must be a number >= 1 or a list of {from, value}');
  });

  const hosts = new Map<string, HostSpec>();
  if (!Array.isArray(raw.hosts) || raw.hosts.length === 0) fail('hosts', 'must be a non-empty list');
  raw.hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    if (!isObj(h)) fail(p, 'must be a mapping');
    const facility = str(h, 'facility', p);
    if (!facilities.has(facility)) fail(`${p}.facility`, `names ${facility}, which is not among facilities`);
    const gpuCount = num(h, 'gpuCount', p, 0, 64);
    const m = isObj(h.models) ? h.models : {};
    const hostModels: HostSpec['models'] = {};
    for (const role of ['accelerator', 'cpu', 'dram', 'rest'] as const) {
      if (m[role] === undefined) continue;
      const id = str(m, role, `${p}.models`);
      if (!models.has(id))
        fail(`${p}.models.${role}`, `names device model ${id}, which is neither shipped nor in models`);
      hostModels[role] = id;
    }
    const ids: string[] =
      h.count !== undefined
        ? Array.from(
            { length: num(h, 'count', p, 1, 100_000) },
            (_, k) => `${str(h, 'prefix', p)}${String(k + 1).padStart(3, '0')}`,
          )
        : [str(h, 'id', p)];
    for (const id of ids) {
      if (hosts.has(id)) fail(p, `repeats host ${id}`);
      hosts.set(id, { id, facility, gpuCount, models: hostModels });
    }
  });
  const instances = new Map<string, { host: string; gpus: number[] }>();
  if (raw.instances !== undefined && !Array.isArray(raw.instances)) fail('instances', 'must be a list');
  ((raw.instances as unknown[] | undefined) ?? []).forEach((x, i) => {
    const p = `instances[${i}]`;
    if (!isObj(x)) fail(p, 'must be a mapping {id, host, gpus}');
    const id = str(x, 'id', p);
    const host = str(x, 'host', p);
    const spec = hosts.get(host);
    if (!spec) fail(`${p}.host`, `names ${host}, which is not among hosts`);
    if (!Array.isArray(x.gpus) || !x.gpus.every((g) => Number.isInteger(g) && g >= 0 && g < spec.gpuCount))
      fail(`${p}.gpus`, `must list GPU indices of ${host} (0-${spec.gpuCount - 1})`);
    if (instances.has(id)) fail(p, `repeats instance ${id}`);
    instances.set(id, { host, gpus: x.gpus as number[] });
  });
  return { hosts, facilities, zones, models, instances };
}
