// Brings a publisher's release into data/grid-annual-factors.json, so factors are refreshed from
// the source file rather than retyped. Pure: text in, the new file and a list of changes out (the CLI
// reads and writes). Two sources:
//   - Ember's yearly electricity data, long-format CSV (Area, ISO 3 code, Year, Category, Subcategory,
//     Variable, Unit, Value): the "CO2 intensity" rows, lifecycle gCO2e/kWh per country;
//   - EPA eGRID's subregion sheet (SRLyy) saved as CSV: SUBRGN, SRC2ERTA (CO2e output rate, lb/MWh,
//     direct) and SRNGENAN (net generation, MWh, the weights of zones built from subregions).
// Only zones whose factor already cites that publisher are touched; a zone the release lacks is an
// error, never a silent keep. Converted factors are recomputed from their new base, and every
// changed factor is re-sealed.

import {
  checkGridFactors,
  recompute,
  round1,
  toGPerKWh,
  type GridBasis,
  type GridDataset,
  type GridFactor,
  type GridFactorsFile,
} from '../config/grid-factors.ts';
import { JoulestreamError } from '../config/errors.ts';
import { sealed } from '../config/seal.ts';

export class ImportError extends JoulestreamError {}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks; CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell.length > 0 || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.some((c) => c.trim().length > 0));
}

/** Rows as records keyed by the header row (the first row holding every required column). */
function table(text: string, required: readonly string[], source: string): Record<string, string>[] {
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  const at = rows.findIndex((r) => required.every((c) => r.map((x) => x.trim()).includes(c)));
  if (at < 0) throw new ImportError(`${source}: no header row with the columns ${required.join(', ')}`);
  const header = rows[at]!.map((x) => x.trim());
  return rows.slice(at + 1).map((r) => Object.fromEntries(header.map((h, i) => [h, (r[i] ?? '').trim()])));
}

function number(v: string | undefined, what: string): number {
  const n = Number((v ?? '').replace(/,/g, ''));
  if (v === undefined || v === '' || !Number.isFinite(n))
    throw new ImportError(`${what} is not a number: "${v}"`);
  return n;
}

export interface ImportOptions {
  /** Id of the dataset in the file, e.g. ember-yearly-2025 or egrid2023. */
  dataset: string;
  /** The release as the publisher names it, e.g. "2025 release (data to 2024)". */
  release: string;
  /** Data year to take; the latest in the file when absent (Ember), the YEAR column (eGRID). */
  year?: number;
  /** The file's name, recorded in each imported factor. */
  sourceName: string;
  /** eGRID: lifecycle factors as the direct one times the stated ratio (default), or from the resource mix. */
  lifecycleFrom?: 'ratio' | 'mix';
  /** Ember: also derive direct factors from generation by fuel x the file's direct technology factors. */
  directFrom?: 'mix';
}

/** Ember's generation fuels (Electricity generation / Fuel) and the technology each stands for. */
export const EMBER_FUELS: Readonly<Record<string, string>> = {
  Bioenergy: 'biomass',
  Coal: 'coal',
  Gas: 'gas',
  Hydro: 'hydro',
  Nuclear: 'nuclear',
  'Other Fossil': 'other-fossil',
  'Other Renewables': 'other-renewables',
  Solar: 'solar',
  Wind: 'wind',
};

/** The first dataset in the file with technology factors on a basis. */
const factorTableFor = (file: GridFactorsFile, basis: GridBasis) =>
  Object.entries(file.datasets).find(([, d]) => d.factors?.[basis])?.[0];

/** eGRID's resource-mix columns (share of net generation) and the technology each stands for. */
export const EGRID_MIX_COLUMNS: Readonly<Record<string, string>> = {
  SRCLPR: 'coal',
  SROLPR: 'oil',
  SRGSPR: 'gas',
  SRNCPR: 'nuclear',
  SRHYPR: 'hydro',
  SRBMPR: 'biomass',
  SRWIPR: 'wind',
  SRSOPR: 'solar',
  SRGTPR: 'geothermal',
  SROFPR: 'other-fossil',
  SROPPR: 'other-unknown',
};

export interface ImportResult {
  file: GridFactorsFile;
  changes: string[];
}

const citing = (file: GridFactorsFile, f: GridFactor | undefined, publisher: string) =>
  f !== undefined && f.dataset !== undefined && file.datasets[f.dataset]?.publisher === publisher;

/** Recomputes converted factors, reseals what changed, drops uncited datasets, checks the result. */
function finish(file: GridFactorsFile, before: GridFactorsFile, changes: string[]): ImportResult {
  for (const [id, zone] of Object.entries(file.zones))
    for (const basis of ['lifecycle', 'direct'] as GridBasis[]) {
      const f = zone[basis];
      if (f?.method !== 'converted') continue;
      const v = recompute(file, zone, f, basis);
      if (typeof v !== 'number' || v === f.gPerKWh) continue;
      zone[basis] = { ...f, gPerKWh: v };
      changes.push(
        `${id} ${basis}: ${before.zones[id]?.[basis]?.gPerKWh ?? '-'} -> ${v} (converted from ${f.from})`,
      );
    }
  for (const zone of Object.values(file.zones))
    for (const basis of ['lifecycle', 'direct'] as GridBasis[])
      if (zone[basis]) zone[basis] = sealed(zone[basis]);
  const cited = new Set<string>();
  for (const zone of Object.values(file.zones))
    for (const f of [zone.lifecycle, zone.direct]) {
      if (f?.dataset) cited.add(f.dataset);
      if (f?.ratio) cited.add(f.ratio.dataset);
    }
  // Technology factor tables stay: an import may use them (--lifecycle-from mix) without a zone citing them yet.
  for (const [id, d] of Object.entries(file.datasets))
    if (!cited.has(id) && !d.factors) delete file.datasets[id];
  const problems = checkGridFactors(file);
  if (problems.length > 0)
    throw new ImportError(`the imported file fails its data check: ${problems.join('; ')}`);
  return { file, changes };
}

export function importEmber(current: GridFactorsFile, csv: string, opts: ImportOptions): ImportResult {
  const all = table(csv, ['Area', 'Year', 'Variable', 'Unit', 'Value'], opts.sourceName);
  const rows = all.filter((r) => r.Variable === 'CO2 intensity' && /^gCO2e?\/kWh$/.test(r.Unit ?? ''));
  if (rows.length === 0) throw new ImportError(`${opts.sourceName}: no "CO2 intensity" rows in gCO2/kWh`);
  const year = opts.year ?? Math.max(...rows.map((r) => number(r.Year, 'Year')));
  const file = structuredClone(current);
  const dataset: GridDataset = {
    publisher: 'Ember',
    title: 'Yearly electricity data',
    release: opts.release,
    url: 'https://ember-energy.org/data/yearly-electricity-data/',
    basis: 'lifecycle',
    unit: 'gCO2e/kWh',
    field: 'Power sector emissions: CO2 intensity (lifecycle emissions per kWh generated)',
    licence: 'CC-BY-4.0',
  };
  file.datasets[opts.dataset] = dataset;
  const directTable = factorTableFor(current, 'direct');
  if (opts.directFrom === 'mix' && !directTable)
    throw new ImportError('--direct-from mix needs a dataset with direct technology factors in the file');
  const changes: string[] = [];
  for (const [id, zone] of Object.entries(file.zones)) {
    const f = zone.lifecycle;
    if (!citing(current, f, 'Ember') || f!.method !== 'published') continue;
    const ofZone = (r: Record<string, string>) =>
      Number(r.Year) === year &&
      (f!.iso3 ? r['ISO 3 code'] === f!.iso3 || r['Country code'] === f!.iso3 : r.Area === f!.entity);
    const row = rows.find(ofZone);
    if (!row)
      throw new ImportError(
        `${opts.sourceName} has no CO2 intensity for ${f!.entity} (${f!.iso3 ?? 'no ISO code'}) in ${year}, needed by zone ${id}`,
      );
    const value = number(row.Value, `CO2 intensity of ${f!.entity} in ${year}`);
    const next: GridFactor = {
      ...f!,
      gPerKWh: round1(value),
      dataset: opts.dataset,
      dataYear: year,
      sourceValue: value,
      sourceUnit: 'gCO2e/kWh',
      checked: `Imported from ${opts.sourceName} by joulestream import-grid-factors`,
    };
    if (next.awaitingImport) {
      delete next.awaitingImport;
      delete next.estimate;
      delete next.reason;
    }
    zone.lifecycle = next;
    changes.push(`${id} lifecycle: ${f!.gPerKWh} -> ${next.gPerKWh} (${opts.dataset}, ${year})`);
    // A direct factor from another publisher (eGRID) is kept; only Ember's own mix is replaced.
    if (opts.directFrom !== 'mix' || (zone.direct && !citing(current, zone.direct, 'Ember'))) continue;
    const shares: Record<string, number> = {};
    for (const r of all.filter(
      (r) =>
        ofZone(r) && r.Category === 'Electricity generation' && r.Subcategory === 'Fuel' && r.Unit === 'TWh',
    )) {
      const tech = EMBER_FUELS[r.Variable ?? ''];
      if (!tech) throw new ImportError(`${opts.sourceName}: fuel "${r.Variable}" has no technology factor`);
      shares[tech] = (shares[tech] ?? 0) + number(r.Value, `${r.Variable} generation of ${f!.entity}`);
    }
    if (Object.keys(shares).length === 0)
      throw new ImportError(
        `${opts.sourceName} has no generation by fuel for ${f!.entity} in ${year}, needed by zone ${id}`,
      );
    const direct: GridFactor = {
      gPerKWh: 0,
      method: 'mix',
      dataset: opts.dataset,
      entity: f!.entity!,
      ...(f!.iso3 ? { iso3: f!.iso3 } : {}),
      dataYear: year,
      mix: { shares, factors: directTable! },
      estimate: true,
      reason:
        `Generation by fuel (Ember, TWh) times generic direct (combustion) factors per technology (${directTable}); not plant-level` +
        (next.estimate && next.reason ? `. ${next.reason}` : ''),
      checked: next.checked!,
      seal: '',
    };
    direct.gPerKWh = recompute(file, zone, direct, 'direct') as number;
    changes.push(
      `${id} direct: ${zone.direct?.gPerKWh ?? '-'} -> ${direct.gPerKWh} (generation mix x ${directTable})`,
    );
    zone.direct = direct;
  }
  return finish(file, current, changes);
}

export function importEgrid(current: GridFactorsFile, csv: string, opts: ImportOptions): ImportResult {
  const rows = table(csv, ['SUBRGN', 'SRC2ERTA', 'SRNGENAN'], opts.sourceName);
  const bySub = new Map(rows.filter((r) => r.SUBRGN).map((r) => [r.SUBRGN!, r]));
  const years = new Set(rows.map((r) => r.YEAR).filter((y) => y));
  const year = opts.year ?? (years.size === 1 ? number([...years][0], 'YEAR') : undefined);
  if (year === undefined)
    throw new ImportError(`${opts.sourceName}: no single YEAR column value; give --year`);
  const sub = (entity: string, zone: string) => {
    const r = bySub.get(entity);
    if (!r) throw new ImportError(`${opts.sourceName} has no subregion ${entity}, needed by zone ${zone}`);
    const lb = number(r.SRC2ERTA, `SRC2ERTA of ${entity}`);
    const mix =
      opts.lifecycleFrom === 'mix'
        ? Object.fromEntries(
            Object.entries(EGRID_MIX_COLUMNS).map(([col, tech]) => [
              tech,
              number(r[col], `${col} of ${entity}`),
            ]),
          )
        : {};
    return {
      lb,
      g: toGPerKWh(lb, 'lbCO2e/MWh') as number,
      mwh: number(r.SRNGENAN, `SRNGENAN of ${entity}`),
      mix,
    };
  };
  if (opts.lifecycleFrom === 'mix' && !Object.keys(EGRID_MIX_COLUMNS).every((c) => rows[0] && c in rows[0]))
    throw new ImportError(
      `${opts.sourceName}: --lifecycle-from mix needs the resource-mix columns ${Object.keys(EGRID_MIX_COLUMNS).join(', ')}`,
    );
  const factorTable = factorTableFor(current, 'lifecycle');
  if (opts.lifecycleFrom === 'mix' && !factorTable)
    throw new ImportError(
      '--lifecycle-from mix needs a dataset with lifecycle technology factors in the file',
    );
  const file = structuredClone(current);
  file.datasets[opts.dataset] = {
    publisher: 'U.S. EPA',
    title: 'Emissions & Generation Resource Integrated Database (eGRID)',
    release: opts.release,
    url: 'https://www.epa.gov/egrid/download-data',
    basis: 'direct',
    unit: 'lbCO2e/MWh',
    field:
      'Subregion sheet, SRC2ERTA: annual CO2e total output emission rate (combustion emissions; g/kWh = lb/MWh x 0.45359237); weights SRNGENAN (net generation, MWh)',
  };
  const changes: string[] = [];
  const stamp = {
    dataset: opts.dataset,
    dataYear: year,
    checked: `Imported from ${opts.sourceName} by joulestream import-grid-factors`,
  };
  for (const [id, zone] of Object.entries(file.zones)) {
    const f = zone.direct;
    if (!citing(current, f, 'U.S. EPA')) continue;
    let next: GridFactor;
    // Generation shares of the zone: its subregion's, or its subregions' weighted by net generation.
    const shares: Record<string, number> = {};
    const addShares = (s: ReturnType<typeof sub>, weight: number) => {
      for (const [tech, v] of Object.entries(s.mix)) shares[tech] = (shares[tech] ?? 0) + v * weight;
    };
    if (f!.method === 'published') {
      const s = sub(f!.entity!, id);
      addShares(s, 1);
      next = { ...f!, ...stamp, gPerKWh: s.g, sourceValue: s.lb, sourceUnit: 'lbCO2e/MWh' };
    } else {
      const total = f!.inputs!.reduce((t, i) => t + sub(i.entity, id).mwh, 0);
      const inputs = f!.inputs!.map((i) => {
        const s = sub(i.entity, id);
        addShares(s, s.mwh / total);
        return { entity: i.entity, gPerKWh: s.g, sourceValue: s.lb, sourceUnit: 'lbCO2e/MWh', weight: s.mwh };
      });
      next = {
        ...f!,
        ...stamp,
        inputs,
        gPerKWh: 0,
        weightBasis: 'Net generation of each subregion (SRNGENAN, MWh)',
        ...(f!.estimate
          ? {
              reason: `The zone is approximated by the eGRID subregions ${inputs.map((i) => i.entity).join(', ')}, weighted by their net generation`,
            }
          : {}),
      };
      next.gPerKWh = recompute(file, zone, next, 'direct') as number;
    }
    zone.direct = next;
    if (opts.lifecycleFrom === 'mix' && factorTable) {
      const lifecycle: GridFactor = {
        gPerKWh: 0,
        method: 'mix',
        dataset: opts.dataset,
        dataYear: year,
        mix: { shares, factors: factorTable },
        estimate: true,
        reason: `Net generation shares of ${next.entity ?? next.inputs!.map((i) => i.entity).join(' + ')} by technology (eGRID resource mix) times generic lifecycle factors per technology (${factorTable}); not plant-level`,
        checked: stamp.checked,
        seal: '',
      };
      lifecycle.gPerKWh = recompute(file, zone, lifecycle, 'lifecycle') as number;
      const before = zone.lifecycle?.gPerKWh;
      zone.lifecycle = lifecycle;
      changes.push(
        `${id} lifecycle: ${before ?? '-'} -> ${lifecycle.gPerKWh} (resource mix x ${factorTable})`,
      );
    }
    changes.push(`${id} direct: ${f!.gPerKWh} -> ${next.gPerKWh} (${opts.dataset}, ${year})`);
  }
  return finish(file, current, changes);
}

/** Re-seals every factor after a reviewed hand edit; refused while any value does not follow from its inputs. */
export function resealGrid(current: GridFactorsFile): GridFactorsFile {
  const file = structuredClone(current);
  for (const zone of Object.values(file.zones))
    for (const basis of ['lifecycle', 'direct'] as GridBasis[])
      if (zone[basis]) zone[basis] = sealed(zone[basis]);
  const problems = checkGridFactors(file);
  if (problems.length > 0) throw new ImportError(`not re-sealed: ${problems.join('; ')}`);
  return file;
}
