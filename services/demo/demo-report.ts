// The demo's terminal report of the issue-18 views: agent runs, hardware, hour of day, query
// complexity and the cleaner counterfactual, from the same queries as `joulestream report`.

import type { Filters } from '../report/queries.ts';
import { table } from '../report/table.ts';
import {
  agentSummary,
  callsPerRun,
  cleanerSummary,
  energyByLength,
  hardwareByModel,
  hourOfDayByZone,
} from '../report/views.ts';

type Row = Record<string, string | number | null>;
type Query = (sql: string) => Promise<Row[]>;

const n = (v: unknown, digits: number): string =>
  v === null || v === undefined ? '' : Number(v).toFixed(digits);

function print(title: string, cols: [string, string, number?][], rows: Row[]): void {
  process.stdout.write(`\n${title}\n`);
  process.stdout.write(
    table(
      cols.map((c) => c[1]),
      rows.map((r) => cols.map(([k, , d]) => (d === undefined ? String(r[k] ?? '') : n(r[k], d)))),
    ),
  );
}

/** A pivot: one row per `rowKey`, one column per `colKey`, cells from `value`. */
function pivot(
  title: string,
  rows: Row[],
  rowKey: string,
  colKey: string,
  value: string,
  digits: number,
): void {
  const rk = [...new Set(rows.map((r) => Number(r[rowKey])))].sort((a, b) => a - b);
  const ck = [...new Set(rows.map((r) => String(r[colKey])))].sort((a, b) =>
    Number.isFinite(Number(a)) && Number.isFinite(Number(b)) ? Number(a) - Number(b) : a.localeCompare(b),
  );
  const cell = (a: number, b: string) => rows.find((r) => Number(r[rowKey]) === a && String(r[colKey]) === b);
  process.stdout.write(`\n${title}\n`);
  process.stdout.write(
    table(
      [`${rowKey} \\ ${colKey}`, ...ck],
      rk.map((a) => [String(a), ...ck.map((b) => n(cell(a, b)?.[value], digits))]),
    ),
  );
}

/**
 * `main` selects the main pass (a busy fleet, five accelerator generations) and `day` the day pass
 * (four lightly loaded H100 hosts over 24 h): comparing hardware across both would charge the day
 * hosts' idle time to the H100s.
 */
export async function printIssue18(q: Query, ranges: { main: Filters; day: Filters }): Promise<void> {
  print(
    'Agent runs: calls per run (each run summed across the hosts its calls landed on)',
    [
      ['calls', 'calls/run'],
      ['runs', 'runs'],
      ['wh_per_run', 'Wh/run', 3],
      ['g_co2e_per_run', 'gCO2e/run', 4],
      ['hosts_per_run', 'hosts/run', 2],
    ],
    await q(callsPerRun(ranges.main)),
  );
  print(
    'Per agent ("(none)": single calls outside any agent)',
    [
      ['agent', 'agent'],
      ['runs', 'runs'],
      ['calls_per_run', 'calls/run', 2],
      ['calls_p90', 'p90 calls', 0],
      ['wh_per_run', 'Wh/run', 3],
      ['g_co2e_per_run', 'gCO2e/run', 4],
      ['max_hosts', 'max hosts'],
    ],
    await q(agentSummary(ranges.main)),
  );
  print(
    'Hardware: the same model on each accelerator, main pass (Wh: facility energy; p10-p90 of Wh per query)',
    [
      ['model', 'model'],
      ['accelerator', 'accelerator'],
      ['queries', 'queries'],
      ['wh_per_query', 'Wh/query', 3],
      ['wh_per_query_p10', 'p10', 3],
      ['wh_per_query_p90', 'p90', 3],
      ['g_co2e_per_query', 'gCO2e/query', 4],
      ['wh_per_1k_tokens', 'Wh/1k tok', 3],
      ['g_co2e_per_1k_tokens', 'gCO2e/1k tok', 4],
    ],
    await q(hardwareByModel(ranges.main)),
  );
  pivot(
    'gCO2e per query by hour of day (UTC) and zone (the day pass; SYNTHETIC hourly grid series)',
    await q(hourOfDayByZone(ranges.day)),
    'hour_of_day',
    'zone',
    'g_co2e_per_query',
    4,
  );
  const lengths = await q(energyByLength(ranges.main));
  for (const model of [...new Set(lengths.map((r) => String(r.model)))].sort())
    pivot(
      `Wh per query of ${model} by prompt tokens (rows, bucket lower bound) and completion tokens (columns)`,
      lengths.filter((r) => r.model === model),
      'prompt_bucket',
      'completion_bucket',
      'wh_per_query',
      3,
    );
  print(
    "COUNTERFACTUAL, not a measurement: each model's measured Wh/query (both passes) priced with every zone's intensity at every hour of day",
    [
      ['model', 'model'],
      ['wh_per_query', 'Wh/query', 3],
      ['actual_g_per_query', 'actual g', 4],
      ['cleanest_zone', 'cleanest zone'],
      ['cleanest_hour_utc', 'hour'],
      ['cleanest_g_per_query', 'g there', 4],
      ['dirtiest_zone', 'dirtiest zone'],
      ['dirtiest_hour_utc', 'hour'],
      ['dirtiest_g_per_query', 'g there', 4],
    ],
    await q(cleanerSummary({})),
  );
}
