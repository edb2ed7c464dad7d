// Splits one host-window's measured energy among the requests that ran in it.
//
// Invariant (conservation): for every device, and so every group, attributed + unattributed equals
// measured. Shares sum to one, so the only slack is floating-point rounding, which the joiner checks.

import { J_PER_KWH, type FacilityFactors } from './fleet.ts';
import { SENSOR_REL, shareBounds, type KappaBand } from './intervals.ts';
import { isActive, shares, type ShareModel, type ShareModelSetting } from './shares.ts';
import type { RequestLog, Role } from './types.ts';

export type Group = 'accelerator' | 'cpu' | 'dram' | 'rest';
export const GROUPS: readonly Group[] = ['accelerator', 'cpu', 'dram', 'rest'];
export type IdlePolicy = 'proportional' | 'separate';

export interface DeviceWindow {
  role: Role;
  device: string;
  energyJ: number;
  estimatedJ: number;
  idlePowerW: number;
  embodiedGPerMs: number;
  /** The device's rated maximum power, when the catalog knows it. */
  maxPowerW?: number;
}

export interface AttributionSettings {
  idlePolicy: IdlePolicy;
  shareModel: ShareModelSetting;
  kappaOf: (model: string) => number;
  /** kappa's plausible range (the error bars); the point kappa alone when absent. */
  kappaBandOf?: KappaBand;
}

export interface LedgerEntry {
  group: Group;
  measuredJ: number;
  idleJ: number;
  dynamicJ: number;
  attributedJ: number;
  unattributedJ: number;
  estimatedJ: number;
  /** Node reading below the sum of its components: the remainder was set to zero, not negative. */
  nodeDeficitJ: number;
}

/** One request's part of one host-window. Energies in joules, emissions in grams. */
export interface Contribution {
  acceleratorDynamicJ: number;
  acceleratorIdleJ: number;
  hostDynamicJ: number;
  hostIdleJ: number;
  estimatedJ: number;
  embodiedG: number;
  itJ: number;
  overheadJ: number;
  co2eLocationG: number;
  co2eMarketG: number | null;
  waterL: number | null;
  fromSeries: boolean;
  /** The poorest share model used for this request in this window (0 time, 1 token, 2 phase). */
  modelRank: number;
  /** Bounds of the error bar (intervals.ts): accelerator dynamic, IT and CO2e (location). */
  acceleratorDynamicLoJ: number;
  acceleratorDynamicHiJ: number;
  itLoJ: number;
  itHiJ: number;
  co2eLocationLoG: number;
  co2eLocationHiG: number;
}

export interface WindowAttribution {
  ledger: LedgerEntry[];
  contributions: Map<string, Contribution>;
  /** max over devices of |attributed + unattributed - measured| / max(measured, 1 J). */
  conservationError: number;
}

const MODEL_RANK: Record<ShareModel, number> = { time: 0, token: 1, phase: 2 };
export const RANK_MODEL: readonly ShareModel[] = ['time', 'token', 'phase'];

export function emptyContribution(): Contribution {
  return {
    acceleratorDynamicJ: 0,
    acceleratorIdleJ: 0,
    hostDynamicJ: 0,
    hostIdleJ: 0,
    estimatedJ: 0,
    embodiedG: 0,
    itJ: 0,
    overheadJ: 0,
    co2eLocationG: 0,
    co2eMarketG: null,
    waterL: null,
    fromSeries: false,
    modelRank: 2,
    acceleratorDynamicLoJ: 0,
    acceleratorDynamicHiJ: 0,
    itLoJ: 0,
    itHiJ: 0,
    co2eLocationLoG: 0,
    co2eLocationHiG: 0,
  };
}

/** Adds b into a (both for the same request). */
export function addContribution(a: Contribution, b: Contribution): void {
  a.acceleratorDynamicJ += b.acceleratorDynamicJ;
  a.acceleratorIdleJ += b.acceleratorIdleJ;
  a.hostDynamicJ += b.hostDynamicJ;
  a.hostIdleJ += b.hostIdleJ;
  a.estimatedJ += b.estimatedJ;
  a.embodiedG += b.embodiedG;
  a.itJ += b.itJ;
  a.overheadJ += b.overheadJ;
  a.co2eLocationG += b.co2eLocationG;
  if (b.co2eMarketG !== null) a.co2eMarketG = (a.co2eMarketG ?? 0) + b.co2eMarketG;
  if (b.waterL !== null) a.waterL = (a.waterL ?? 0) + b.waterL;
  a.fromSeries ||= b.fromSeries;
  a.modelRank = Math.min(a.modelRank, b.modelRank);
  a.acceleratorDynamicLoJ += b.acceleratorDynamicLoJ;
  a.acceleratorDynamicHiJ += b.acceleratorDynamicHiJ;
  a.itLoJ += b.itLoJ;
  a.itHiJ += b.itHiJ;
  a.co2eLocationLoG += b.co2eLocationLoG;
  a.co2eLocationHiG += b.co2eLocationHiG;
}

function groupOf(role: Role): Group {
  return role === 'node' ? 'rest' : role;
}

/**
 * The node reading covers the whole server; its components are measured on their own. The
 * remainder `rest` = node - components is a device group of its own so no joule counts twice.
 */
export function deriveRest(devices: readonly DeviceWindow[]): { devices: DeviceWindow[]; deficitJ: number } {
  const node = devices.find((d) => d.role === 'node');
  if (!node) return { devices: [...devices], deficitJ: 0 };
  const parts = devices.filter((d) => d.role !== 'node');
  const componentsJ = parts.reduce((s, d) => s + d.energyJ, 0);
  const restJ = node.energyJ - componentsJ;
  const rest: DeviceWindow = {
    ...node,
    device: 'rest',
    energyJ: Math.max(0, restJ),
    estimatedJ: Math.min(Math.max(0, restJ), node.estimatedJ),
  };
  return { devices: [...parts, rest], deficitJ: Math.max(0, -restJ) };
}

export function attributeWindow(
  w0: number,
  w1: number,
  rawDevices: readonly DeviceWindow[],
  requests: readonly RequestLog[],
  factors: FacilityFactors,
  settings: AttributionSettings,
): WindowAttribution {
  const windowMs = w1 - w0;
  const { devices, deficitJ } = deriveRest(rawDevices);
  const active = requests.filter((r) => isActive(r, w0, w1));
  const contributions = new Map<string, Contribution>();
  const ledger = new Map<Group, LedgerEntry>();
  let conservationError = 0;

  const entry = (g: Group): LedgerEntry => {
    let e = ledger.get(g);
    if (!e) {
      e = {
        group: g,
        measuredJ: 0,
        idleJ: 0,
        dynamicJ: 0,
        attributedJ: 0,
        unattributedJ: 0,
        estimatedJ: 0,
        nodeDeficitJ: 0,
      };
      ledger.set(g, e);
    }
    return e;
  };
  const contributionOf = (id: string): Contribution => {
    let c = contributions.get(id);
    if (!c) {
      c = emptyContribution();
      contributions.set(id, c);
    }
    return c;
  };

  for (const d of devices) {
    const group = groupOf(d.role);
    const led = entry(group);
    const measured = d.energyJ;
    const idle = Math.min(measured, (d.idlePowerW * windowMs) / 1000);
    const dynamic = measured - idle;
    led.measuredJ += measured;
    led.idleJ += idle;
    led.dynamicJ += dynamic;
    led.estimatedJ += d.estimatedJ;

    const idx = d.role === 'accelerator' ? Number(d.device) : -1;
    const users =
      d.role === 'accelerator' ? active.filter((r) => r.gpus.length === 0 || r.gpus.includes(idx)) : active;
    let attributed = 0;
    if (users.length > 0) {
      const { model, shares: sh } = shares(users, settings.shareModel, settings.kappaOf, w0, w1);
      const idleShared = settings.idlePolicy === 'proportional' ? idle : 0;
      const estFraction = measured > 0 ? d.estimatedJ / measured : 0;
      const band =
        settings.kappaBandOf ?? ((m: string) => [settings.kappaOf(m), settings.kappaOf(m)] as const);
      const bounds = d.role === 'accelerator' ? shareBounds(users, model, sh, band, w0, w1) : null;
      // What the sensor cannot resolve, and an estimated part that may be off by all of itself.
      const measuredRel = SENSOR_REL + estFraction;
      for (let i = 0; i < users.length; i++) {
        const s = sh[i]!;
        const c = contributionOf(users[i]!.requestId);
        const dyn = dynamic * s;
        const idl = idleShared * s;
        if (bounds) {
          const lo = Math.max(0, dynamic * bounds.lo[i]! - measured * s * measuredRel);
          const hi = dynamic * bounds.hi[i]! + measured * s * measuredRel;
          c.acceleratorDynamicLoJ += lo;
          c.acceleratorDynamicHiJ += hi;
          c.itLoJ += lo - dyn;
          c.itHiJ += hi - dyn;
        }
        if (d.role === 'accelerator') {
          c.acceleratorDynamicJ += dyn;
          c.acceleratorIdleJ += idl;
        } else {
          c.hostDynamicJ += dyn;
          c.hostIdleJ += idl;
        }
        c.estimatedJ += (dyn + idl) * estFraction;
        c.embodiedG += d.embodiedGPerMs * windowMs * s;
        c.modelRank = Math.min(c.modelRank, MODEL_RANK[model]);
        attributed += dyn + idl;
      }
    }
    const unattributed = measured - attributed;
    led.attributedJ += attributed;
    led.unattributedJ += unattributed;
    const err = Math.abs(attributed + unattributed - measured) / Math.max(measured, 1);
    if (err > conservationError) conservationError = err;
  }
  if (deficitJ > 0) entry('rest').nodeDeficitJ = deficitJ;

  for (const c of contributions.values()) {
    c.itJ = c.acceleratorDynamicJ + c.acceleratorIdleJ + c.hostDynamicJ + c.hostIdleJ;
    const facilityJ = c.itJ * factors.pue;
    c.overheadJ = facilityJ - c.itJ;
    const kwh = facilityJ / J_PER_KWH;
    c.co2eLocationG = kwh * factors.ciGPerKWh;
    c.co2eMarketG = factors.marketGPerKWh === null ? null : kwh * factors.marketGPerKWh;
    // WUE is site water per IT kWh (The Green Grid), so it multiplies IT energy (decision record 0004).
    c.waterL = factors.wueLPerKWh === null ? null : (c.itJ / J_PER_KWH) * factors.wueLPerKWh;
    // The IT bounds so far hold the accelerator's deviations; the rest of IT is taken as measured.
    c.itLoJ = Math.max(0, c.itJ + c.itLoJ);
    c.itHiJ = c.itJ + c.itHiJ;
    c.co2eLocationLoG = ((c.itLoJ * factors.pue) / J_PER_KWH) * factors.ciGPerKWh;
    c.co2eLocationHiG = ((c.itHiJ * factors.pue) / J_PER_KWH) * factors.ciGPerKWh;
    c.fromSeries = factors.ciSource === 'series';
  }

  return {
    ledger: GROUPS.map((g) => ledger.get(g)).filter((e): e is LedgerEntry => e !== undefined),
    contributions,
    conservationError,
  };
}
