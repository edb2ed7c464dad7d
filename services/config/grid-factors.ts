// The annual grid factors (data/grid-annual-factors.json): their types, the data check and the
// factors on one accounting basis. Pure: the adapter reads the file, this validates what it read.
//
// Every zone's factor says where it comes from: `published` (a publisher's value, with the value
// and unit as published), `weighted-mean` (a zone built from subregions, with inputs and weights)
// or `converted` (the other basis of the same zone times a stated ratio; always an estimate). The
// check recomputes each value from those fields, so a value that does not follow from its stated
// inputs fails, and the seal (seal.ts) catches a changed value or source that was not re-sealed.

import { sealOf } from './seal.ts';

export const GRID_BASES = ['lifecycle', 'direct'] as const;
export type GridBasis = (typeof GRID_BASES)[number];

/** Grams of CO2e per kWh for one unit of each unit a publisher uses: 1 lb/MWh = 453.59237 g / 1000 kWh. */
export const G_PER_KWH_PER_UNIT: Readonly<Record<string, number>> = {
  'gCO2e/kWh': 1,
  'kgCO2e/MWh': 1,
  'lbCO2e/MWh': 0.45359237,
};

export interface GridDataset {
  publisher: string;
  title: string;
  release: string;
  url: string;
  /** The accounting basis of the dataset's values; null for a table that gives both (IPCC). */
  basis: GridBasis | null;
  unit: string;
  field?: string;
  licence?: string;
  note?: string;
  /** Where this session read it, when not from the publisher's own copy. */
  readVia?: string;
  /** Per-technology factors (g/kWh) by basis, for factors derived from a generation mix. */
  factors?: Partial<Record<GridBasis, Record<string, number>>>;
}

export interface FactorInput {
  entity: string;
  gPerKWh: number;
  sourceValue?: number;
  sourceUnit?: string;
  weight: number;
}

export interface GridFactor {
  gPerKWh: number;
  method: 'published' | 'weighted-mean' | 'converted' | 'mix';
  dataset?: string;
  entity?: string;
  /** ISO 3166 alpha-3 code of a country entity: how the importer finds it in the publisher's CSV. */
  iso3?: string;
  dataYear?: number;
  sourceValue?: number;
  sourceUnit?: string;
  inputs?: FactorInput[];
  weightBasis?: string;
  from?: GridBasis;
  ratio?: { numerator: number; denominator: number; dataset: string; what: string };
  /** Generation shares by technology (from `dataset`) and the dataset whose `factors` weight them. */
  mix?: { shares: Record<string, number>; factors: string };
  estimate?: boolean;
  reason?: string;
  checked?: string;
  /** The value could not be confirmed from the publisher; the next import replaces it and drops the estimate. */
  awaitingImport?: boolean;
  seal: string;
}

export interface GridZoneEntry {
  name: string;
  lifecycle?: GridFactor;
  direct?: GridFactor;
}

export interface GridFactorsFile {
  doc: string;
  schemaVersion: number;
  defaultBasis: GridBasis;
  unit: string;
  datasets: Record<string, GridDataset>;
  zones: Record<string, GridZoneEntry>;
}

/** Factors are kept to 0.1 g/kWh: finer than any publisher's own precision after conversion. */
export const round1 = (x: number): number => Math.round(x * 10) / 10;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** g/kWh of a published value, or why it cannot be converted. */
export function toGPerKWh(value: number, unit: string): number | string {
  const k = G_PER_KWH_PER_UNIT[unit];
  return k === undefined
    ? `unit ${unit} is not one of ${Object.keys(G_PER_KWH_PER_UNIT).join(', ')}`
    : round1(value * k);
}

/** What the factor's stated inputs give, or why they give nothing. */
export function recompute(
  file: GridFactorsFile,
  zone: GridZoneEntry,
  f: GridFactor,
  basis: GridBasis,
): number | string {
  switch (f.method) {
    case 'published':
      if (!finite(f.sourceValue) || typeof f.sourceUnit !== 'string')
        return 'a published factor needs sourceValue and sourceUnit';
      return toGPerKWh(f.sourceValue, f.sourceUnit);
    case 'weighted-mean': {
      const inputs = f.inputs ?? [];
      if (inputs.length === 0) return 'a weighted mean needs inputs';
      let sumW = 0;
      let sum = 0;
      for (const i of inputs) {
        if (!finite(i.weight) || i.weight <= 0) return `input ${i.entity} needs a weight > 0`;
        let v = i.gPerKWh;
        if (i.sourceValue !== undefined) {
          const c = toGPerKWh(i.sourceValue, i.sourceUnit ?? '');
          if (typeof c === 'string') return `input ${i.entity}: ${c}`;
          if (c !== v) return `input ${i.entity} says ${v} g/kWh but its source value gives ${c}`;
          v = c;
        }
        if (!finite(v)) return `input ${i.entity} needs gPerKWh`;
        sumW += i.weight;
        sum += i.weight * v;
      }
      return round1(sum / sumW);
    }
    case 'converted': {
      const r = f.ratio;
      if (!f.from || !r || !finite(r.numerator) || !finite(r.denominator) || r.denominator <= 0)
        return 'a converted factor needs from and ratio {numerator, denominator}';
      if (!file.datasets[r.dataset]) return `ratio cites dataset ${r.dataset}, which is not in datasets`;
      const other = zone[f.from];
      if (!other) return `converted from ${f.from}, which the zone lacks`;
      if (other.method === 'converted') return 'converted from a converted factor';
      return round1((other.gPerKWh * r.numerator) / r.denominator);
    }
    case 'mix': {
      const table = f.mix ? file.datasets[f.mix.factors]?.factors?.[basis] : undefined;
      if (!f.mix || !table) return `a mix factor needs mix.factors naming a dataset with ${basis} factors`;
      let sum = 0;
      let total = 0;
      for (const [tech, share] of Object.entries(f.mix.shares)) {
        const g = table[tech];
        if (g === undefined) return `${f.mix.factors} has no ${basis} factor for ${tech}`;
        if (!finite(share) || share < 0) return `the share of ${tech} must be a number >= 0`;
        sum += share * g;
        total += share;
      }
      return total > 0 ? round1(sum / total) : 'a mix needs shares that add up to more than 0';
    }
    default:
      return `method must be published, weighted-mean, converted or mix`;
  }
}

/** Everything wrong with the file; empty when every factor is traceable and consistent. */
export function checkGridFactors(raw: unknown): string[] {
  const problems: string[] = [];
  if (!isObj(raw) || !isObj(raw.zones) || !isObj(raw.datasets)) return ['root must hold datasets and zones'];
  const file = raw as unknown as GridFactorsFile;
  if (!GRID_BASES.includes(file.defaultBasis)) problems.push('defaultBasis must be lifecycle or direct');
  if (file.unit !== 'gCO2e/kWh') problems.push('unit must be gCO2e/kWh');
  for (const [id, d] of Object.entries(file.datasets)) {
    for (const key of ['publisher', 'title', 'release', 'url', 'unit'] as const)
      if (typeof d[key] !== 'string' || d[key].length === 0)
        problems.push(`datasets.${id}.${key} is missing`);
    if (d.basis !== null && !GRID_BASES.includes(d.basis))
      problems.push(`datasets.${id}.basis must be lifecycle, direct or null`);
  }
  for (const [zoneId, zone] of Object.entries(file.zones)) {
    if (typeof zone.name !== 'string' || zone.name.length === 0)
      problems.push(`zones.${zoneId}.name is missing`);
    if (!zone[file.defaultBasis])
      problems.push(`zones.${zoneId} has no ${file.defaultBasis} factor (the default basis)`);
    for (const basis of GRID_BASES) {
      const f = zone[basis];
      if (!f) continue;
      const at = `zones.${zoneId}.${basis}`;
      if (!finite(f.gPerKWh) || f.gPerKWh < 0) problems.push(`${at}.gPerKWh must be a number >= 0`);
      if (f.method !== 'converted') {
        const d = f.dataset ? file.datasets[f.dataset] : undefined;
        if (!d) problems.push(`${at}.dataset must name one of datasets`);
        // A mix takes only generation shares from its dataset; its basis is that of the factor table.
        else if (d.basis !== basis && f.method !== 'mix')
          problems.push(`${at} cites ${f.dataset}, whose basis is ${d.basis}`);
        else if (f.method === 'published' && f.sourceUnit !== d.unit)
          problems.push(`${at}.sourceUnit ${f.sourceUnit} differs from ${f.dataset}'s unit ${d.unit}`);
        if (!Number.isInteger(f.dataYear)) problems.push(`${at}.dataYear must be a year`);
      } else if (f.estimate !== true || !f.reason) {
        problems.push(`${at}: a converted factor is an estimate and must say so (estimate: true, reason)`);
      }
      if (f.method === 'published' && !f.entity)
        problems.push(`${at}.entity (the publisher's area) is missing`);
      if (f.method === 'weighted-mean' && !f.weightBasis) problems.push(`${at}.weightBasis is missing`);
      if (f.method === 'mix' && f.estimate !== true)
        problems.push(`${at}: a mix of generic technology factors is an estimate and must say so`);
      if (f.estimate === true && !f.reason) problems.push(`${at}: an estimate needs its reason`);
      const want = recompute(file, zone, f, basis);
      if (typeof want === 'string') problems.push(`${at}: ${want}`);
      else if (want !== f.gPerKWh) problems.push(`${at}.gPerKWh is ${f.gPerKWh} but its inputs give ${want}`);
      if (f.seal !== sealOf(f))
        problems.push(`${at}.seal does not match: the value or its provenance changed without re-sealing`);
    }
    // Lifecycle adds upstream emissions to combustion: a lifecycle factor below the direct one is a mix-up.
    if (zone.lifecycle && zone.direct && zone.lifecycle.gPerKWh < zone.direct.gPerKWh)
      problems.push(
        `zones.${zoneId}: lifecycle ${zone.lifecycle.gPerKWh} is below direct ${zone.direct.gPerKWh}`,
      );
  }
  return problems;
}

/** Zone -> g/kWh on one basis; zones without a factor on that basis are left out. */
export function annualFactorsOn(file: GridFactorsFile, basis: GridBasis): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, zone] of Object.entries(file.zones)) {
    const f = zone[basis];
    if (f) out[id] = f.gPerKWh;
  }
  return out;
}

/** How many of the zones' factors on a basis are estimates, for the label reports carry. */
export function estimatedZones(file: GridFactorsFile, basis: GridBasis): string[] {
  return Object.entries(file.zones)
    .filter(([, z]) => z[basis]?.estimate === true)
    .map(([id]) => id);
}
