// `joulestream report`: the views as terminal tables, CSV or JSON, and `--html` for a
// self-contained report with charts. Filters are validated here and quoted by sql.ts.

import { writeFileSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../adapters/clickhouse.ts';
import { loadGridFactors } from '../adapters/fleet-file.ts';
import { timeArg } from '../cli/time-arg.ts';
import type { Config } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import type { GridBasis } from '../config/grid-factors.ts';
import { gridBasisLabel } from './basis.ts';
import { renderHtml, type ReportData } from './html.ts';
import { collectIssue18, ISSUE18_VIEWS, issue18Sql } from './views-cli.ts';
import {
  boundaryBreakdown,
  co2eByMinute,
  co2eOverTime,
  conservationTotals,
  energyDistribution,
  facilityKpis,
  ledgerHourly,
  per1kTokensBy,
  perQueryBy,
  sciByModel,
  tenantStatement,
  topTenants,
  type Filters,
} from './queries.ts';
import { table } from './table.ts';

export interface ReportArgs {
  from?: string | undefined;
  to?: string | undefined;
  by?: string | undefined;
  view?: string | undefined;
  format?: string | undefined;
  html?: string | undefined;
  region?: string[] | undefined;
  facility?: string[] | undefined;
  model?: string[] | undefined;
  tenant?: string[] | undefined;
  database?: string | undefined;
}

const VIEWS = [
  'per-query',
  'per-1k-tokens',
  'tenant-statement',
  'facility-kpis',
  'ledger',
  'sci',
  'eed',
  ...ISSUE18_VIEWS,
] as const;
type View = (typeof VIEWS)[number];
type Dim = 'facility' | 'model' | 'region' | 'tenant';

/** Declared with every SCI figure: what is inside the number and what it is per. */
export const SCI_BOUNDARY =
  'accelerator + host (CPU, DRAM, rest of node) dynamic and idle energy, facility overhead (PUE), embodied emissions of accelerators and hosts; location-based grid intensity';

/** Filter values: printable, bounded; anything else is refused before it reaches SQL. */
function filterValues(name: string, values: string[] | undefined): string[] {
  const out = values ?? [];
  for (const v of out) {
    if (
      v.length === 0 ||
      v.length > 256 ||
      [...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
    )
      throw new JoulestreamError(
        `--${name} "${v.slice(0, 40)}…" is not a valid value: 1 to 256 printable characters, no control characters`,
      );
  }
  return out;
}

export function parseFilters(args: ReportArgs): Filters {
  const f: Filters = {
    fromMs: timeArg('from', args.from),
    toMs: timeArg('to', args.to),
    regions: filterValues('region', args.region),
    facilities: filterValues('facility', args.facility),
    models: filterValues('model', args.model),
    tenants: filterValues('tenant', args.tenant),
  };
  if (f.fromMs !== undefined && f.toMs !== undefined && f.toMs <= f.fromMs)
    throw new JoulestreamError('--to must be after --from');
  return f;
}

export function sqlFor(view: View, by: Dim, f: Filters): string {
  switch (view) {
    case 'per-query':
      return perQueryBy(by, f);
    case 'per-1k-tokens':
      return per1kTokensBy(by, f);
    case 'tenant-statement':
      return tenantStatement(f);
    case 'facility-kpis':
    case 'eed':
      return facilityKpis(f);
    case 'ledger':
      return ledgerHourly(f);
    case 'sci':
      return sciByModel(f);
    default:
      return issue18Sql(view, f);
  }
}

const json = async <T>(ch: ClickHouseClient, query: string) =>
  (await ch.query({ query, format: 'JSONEachRow' })).json<T>();

/** A cell's text: objects (arrays) as JSON, null as empty. */
function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'string') return v;
  return (v as number | boolean | bigint).toString();
}

export function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const esc = (v: unknown) => {
    const s = text(v);
    // Cells a spreadsheet would run as a formula are prefixed, as OWASP advises for CSV exports.
    const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n') + '\n';
}

/** The EED facility KPI export: the view's rows with the field names of the reporting template. */
export function eedRows(rows: Record<string, unknown>[], gridBasis?: string): Record<string, unknown>[] {
  return rows.map((r) => ({
    reporting_month: r.month,
    facility: r.facility,
    region: r.region,
    total_energy_consumption_kwh: r.total_kwh,
    it_energy_consumption_kwh: r.it_kwh,
    pue: r.pue,
    renewable_energy_share: r.renewable_share,
    water_input_l: r.water_l,
    wue_l_per_kwh: r.wue_l_per_kwh,
    queries: r.queries,
    wh_per_query: r.wh_per_query,
    ...(gridBasis !== undefined ? { grid_emission_factor_basis: gridBasis } : {}),
  }));
}

export async function collectHtml(
  ch: ClickHouseClient,
  f: Filters,
  by: Dim,
  gridBasis: GridBasis | null = null,
  ranges: Parameters<typeof collectIssue18>[2] = {},
): Promise<ReportData> {
  // Hourly points; daily when there are too many to read, per minute when too few to draw a line.
  type Point = ReportData['overTime'][number];
  const points = (rows: Point[]) => new Set(rows.map((r) => r.period_start)).size;
  let overTimeRows = await json<Point>(ch, co2eOverTime(f, 'hour'));
  if (points(overTimeRows) > 96) overTimeRows = await json<Point>(ch, co2eOverTime(f, 'day'));
  else if (points(overTimeRows) < 3) overTimeRows = await json<Point>(ch, co2eByMinute(f));
  // `ranges.main` (the demo's main pass) narrows the views read from raw rows; the rollup-based
  // charts keep `f`, since a range starting mid-hour would cut the hour it starts in.
  const main = { ...f, ...ranges.main };
  const [distribution, boundary, tenants, perQuery, ledger, issue18] = await Promise.all([
    json<ReportData['distribution'][number]>(ch, energyDistribution(main)),
    json<ReportData['boundary'][number]>(ch, boundaryBreakdown(f)),
    json<ReportData['tenants'][number]>(ch, topTenants(f)),
    json<Record<string, unknown>>(ch, perQueryBy(by, main)),
    json<NonNullable<ReportData['ledger']>>(ch, conservationTotals(main)),
    collectIssue18(ch, f, ranges),
  ]);
  const num = <T extends object>(rows: T[]): T[] =>
    rows.map(
      (r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v,
          ]),
        ) as T,
    );
  return {
    title: 'joulestream: energy and carbon per query',
    generatedAt: new Date().toISOString(),
    filters: describe(f),
    overTime: num(overTimeRows),
    distribution: num(distribution).map((d) => ({ ...d, wh: d.wh.map(Number) })),
    boundary: num(boundary),
    tenants: num(tenants),
    perQuery: num(perQuery),
    ledger: ledger[0] ? num(ledger)[0]! : null,
    gridBasis: gridBasisLabel(loadGridFactors(), gridBasis),
    issue18,
  };
}

function describe(f: Filters): string {
  const parts = [
    f.fromMs !== undefined ? `from ${new Date(f.fromMs).toISOString()}` : 'from the start',
    f.toMs !== undefined ? `to ${new Date(f.toMs).toISOString()}` : 'to now',
  ];
  for (const [k, v] of [
    ['regions', f.regions],
    ['facilities', f.facilities],
    ['models', f.models],
    ['tenants', f.tenants],
  ] as const)
    if (v && v.length > 0) parts.push(`${k}: ${v.join(', ')}`);
  return parts.join(' · ');
}

export async function runReport(config: Readonly<Config>, args: ReportArgs): Promise<void> {
  const by = (args.by ?? 'facility') as Dim;
  if (!['facility', 'model', 'region', 'tenant'].includes(by))
    throw new JoulestreamError('--by must be facility, model, region or tenant');
  const view = (args.view ?? 'per-query') as View;
  if (!VIEWS.includes(view)) throw new JoulestreamError(`--view must be one of ${VIEWS.join(', ')}`);
  const format = args.format ?? (view === 'eed' ? 'csv' : 'table');
  if (format !== 'table' && format !== 'csv' && format !== 'json')
    throw new JoulestreamError('--format must be table, csv or json');
  const filters = parseFilters(args);
  const database = args.database ?? config.clickhouse.database;
  const ch = createClickHouse(config.clickhouse, config.clickhouse.reader, database);
  try {
    if (args.html) {
      writeFileSync(args.html, renderHtml(await collectHtml(ch, filters, by, config.gridBasis)));
      process.stdout.write(`wrote ${args.html}\n`);
      return;
    }
    let rows = await json<Record<string, unknown>>(ch, sqlFor(view, by, filters));
    // The basis this process is configured with (JOULESTREAM_GRID_BASIS): run the report with the joiner's setting.
    const gridBasis = gridBasisLabel(loadGridFactors(), config.gridBasis);
    if (view === 'eed') rows = eedRows(rows, gridBasis);
    if (view === 'sci')
      rows = rows.map((r) => ({
        ...r,
        boundary: SCI_BOUNDARY,
        functional_units: 'query; 1,000 tokens',
        grid_basis: gridBasis,
      }));
    if (format === 'json') {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return;
    }
    if (format === 'csv') {
      process.stdout.write(toCsv(rows));
      return;
    }
    const shown =
      view === 'sci'
        ? rows.map(({ boundary: _b, functional_units: _u, grid_basis: _g, ...r }) => r)
        : view === 'eed'
          ? rows.map(({ grid_emission_factor_basis: _g, ...r }) => r)
          : rows;
    const cols = shown[0] ? Object.keys(shown[0]) : [by];
    const cells = shown.map((r) =>
      cols.map((c) => {
        const v = r[c];
        return typeof v === 'number' ? v.toPrecision(6) : text(v);
      }),
    );
    process.stdout.write(table(cols, cells));
    if (view === 'sci')
      process.stdout.write(`\nboundary: ${SCI_BOUNDARY}\nfunctional units: one query; 1,000 tokens\n`);
    if (view === 'sci' || view === 'eed') process.stdout.write(`grid factors: ${gridBasis}\n`);
  } finally {
    await ch.close();
  }
}
