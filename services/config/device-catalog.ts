// The device catalog (data/device-catalog.json): the data check. Every number the engine reads
// (idleW, maxW, embodiedKgCO2e, lifetimeYears) carries its provenance: a datasheet, a share of a
// published product carbon footprint (recomputed here from the PCF it cites), a derivation from
// other entries, or an estimate or assumption with its reasoning. Pure: the adapter reads the file.

import { sealOf } from './seal.ts';

export const MODEL_FIELDS = ['idleW', 'maxW', 'embodiedKgCO2e', 'lifetimeYears'] as const;
type Field = (typeof MODEL_FIELDS)[number];

export interface Pcf {
  publisher: string;
  product: string;
  standard: string;
  /** What the footprint covers: life-cycle stages and the physical unit (per baseboard, per GPU, ...). */
  boundary: string;
  kgCO2e: number;
  /** Units of the accelerator the footprint is spread over (8 GPUs on an HGX baseboard). */
  accelerators: number;
  url: string;
  checked: string;
}

export type Provenance =
  | { kind: 'datasheet'; source: string; readVia?: string }
  | { kind: 'pcf-share'; pcf: string; note?: string }
  | { kind: 'derived'; from: string; factor: number; reason: string; estimate: true }
  | { kind: 'estimate'; reason: string; estimate: true }
  | { kind: 'assumption'; reason: string };

export interface CatalogModel {
  id: string;
  role: string;
  idleW: number;
  maxW: number;
  embodiedKgCO2e: number;
  lifetimeYears: number;
  /** What the embodied figure covers, so two entries of one server never count a part twice. */
  boundary: string;
  /** The parts inside embodiedKgCO2e, as tags; within one platform no tag may appear twice. */
  includes: string[];
  provenance: Record<Field, Provenance>;
  seal: string;
}

export interface Catalog {
  doc: string;
  schemaVersion: number;
  pcfs: Record<string, Pcf>;
  /** Servers as the fleet file composes them: one model per role, e.g. HGX H100 = GPU x 8 + chassis. */
  platforms: Record<string, { accelerator: string; rest: string; cpu?: string; dram?: string }>;
  models: CatalogModel[];
}

const ROLES = ['accelerator', 'cpu', 'dram', 'rest'];
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Equal to the precision the file keeps (0.01), so a derivation's rounding is not a mismatch. */
const same = (a: number, b: number) => Math.abs(a - b) < 0.005;

export function checkCatalog(raw: unknown): string[] {
  if (!isObj(raw) || !Array.isArray(raw.models) || !isObj(raw.pcfs))
    return ['root must hold pcfs and models'];
  const cat = raw as unknown as Catalog;
  const problems: string[] = [];
  const byId = new Map<string, CatalogModel>();
  for (const m of cat.models) {
    if (byId.has(m.id)) problems.push(`model ${m.id} is listed twice`);
    byId.set(m.id, m);
  }
  for (const [id, p] of Object.entries(cat.pcfs)) {
    for (const key of ['publisher', 'product', 'standard', 'boundary', 'url', 'checked'] as const)
      if (typeof p[key] !== 'string' || p[key].length === 0) problems.push(`pcfs.${id}.${key} is missing`);
    if (!(p.kgCO2e > 0) || !Number.isInteger(p.accelerators) || p.accelerators < 1)
      problems.push(`pcfs.${id} needs kgCO2e > 0 and a whole number of accelerators`);
  }
  const pcfUse = new Map<string, number>();
  for (const m of cat.models) {
    const at = `model ${m.id}`;
    if (!ROLES.includes(m.role)) problems.push(`${at}: role must be one of ${ROLES.join(', ')}`);
    if (typeof m.boundary !== 'string' || m.boundary.length === 0)
      problems.push(`${at}: boundary is missing`);
    if (!(m.maxW > 0) || !(m.idleW >= 0) || m.idleW > m.maxW)
      problems.push(`${at}: needs 0 <= idleW <= maxW`);
    if (!(m.embodiedKgCO2e >= 0) || !(m.lifetimeYears > 0))
      problems.push(`${at}: needs embodiedKgCO2e >= 0 and lifetimeYears > 0`);
    for (const field of MODEL_FIELDS) {
      const p = isObj(m.provenance) ? m.provenance[field] : undefined;
      if (!p) {
        problems.push(`${at}: ${field} has no provenance`);
        continue;
      }
      const value = m[field];
      switch (p.kind) {
        case 'datasheet':
          if (!p.source) problems.push(`${at}: ${field} names no datasheet`);
          break;
        case 'pcf-share': {
          const pcf = cat.pcfs[p.pcf];
          if (field !== 'embodiedKgCO2e') problems.push(`${at}: only embodiedKgCO2e can come from a PCF`);
          else if (!pcf) problems.push(`${at}: cites PCF ${p.pcf}, which is not in pcfs`);
          else if (!same(value, pcf.kgCO2e / pcf.accelerators))
            problems.push(
              `${at}: embodiedKgCO2e ${value} is not ${pcf.kgCO2e} / ${pcf.accelerators} from ${p.pcf}`,
            );
          else pcfUse.set(p.pcf, (pcfUse.get(p.pcf) ?? 0) + 1);
          break;
        }
        case 'derived': {
          const base = byId.get(p.from);
          if (!base) problems.push(`${at}: ${field} is derived from ${p.from}, which is not in the catalog`);
          else if (!same(value, base[field] * p.factor))
            problems.push(`${at}: ${field} ${value} is not ${p.from}'s ${base[field]} x ${p.factor}`);
          if (!p.reason || p.estimate !== true)
            problems.push(`${at}: ${field} derivation needs estimate: true and a reason`);
          break;
        }
        case 'estimate':
          if (!p.reason || p.estimate !== true)
            problems.push(`${at}: ${field} estimate needs estimate: true and a reason`);
          break;
        case 'assumption':
          if (!p.reason) problems.push(`${at}: ${field} assumption needs its reason`);
          break;
        default:
          problems.push(
            `${at}: ${field} provenance kind must be datasheet, pcf-share, derived, estimate or assumption`,
          );
      }
    }
    if (m.seal !== sealOf(m))
      problems.push(`${at}: seal does not match: a value or its provenance changed without re-sealing`);
  }
  for (const [id, platform] of Object.entries(isObj(cat.platforms) ? cat.platforms : {})) {
    const seen = new Map<string, string>();
    for (const modelId of Object.values(platform)) {
      const m = byId.get(modelId);
      if (!m) {
        problems.push(`platforms.${id} names ${modelId}, which is not in the catalog`);
        continue;
      }
      for (const part of Array.isArray(m.includes) ? m.includes : []) {
        const other = seen.get(part);
        if (other) problems.push(`platforms.${id}: ${part} is counted in both ${other} and ${modelId}`);
        seen.set(part, modelId);
      }
    }
  }
  for (const m of cat.models)
    if (!Array.isArray(m.includes) || m.includes.length === 0)
      problems.push(`model ${m.id}: includes is missing`);
  for (const id of Object.keys(cat.pcfs))
    if (!pcfUse.has(id)) problems.push(`pcfs.${id} is cited by no model`);
  return problems;
}
