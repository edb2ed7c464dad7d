// The issue-18 views as `joulestream report --view NAME` and as the HTML report's data.

import type { ClickHouseClient } from '@clickhouse/client';
import type { Issue18Data } from './html-views.ts';
import type { Filters } from './queries.ts';
import {
  agentRuns,
  agentSummary,
  callsPerRun,
  cleanerCounterfactual,
  cleanerSummary,
  conversations,
  energyByLength,
  hardwareByModel,
  hourOfDayByZone,
  whVsTokens,
} from './views.ts';

export const ISSUE18_VIEWS = [
  'agent-runs',
  'calls-per-run',
  'agents',
  'conversations',
  'hardware',
  'hour-of-day',
  'length',
  'cleaner',
  'cleaner-detail',
] as const;
export type Issue18ViewName = (typeof ISSUE18_VIEWS)[number];

export function issue18Sql(view: Issue18ViewName, f: Filters): string {
  switch (view) {
    case 'agent-runs':
      return agentRuns(f);
    case 'calls-per-run':
      return callsPerRun(f);
    case 'agents':
      return agentSummary(f);
    case 'conversations':
      return conversations(f);
    case 'hardware':
      return hardwareByModel(f);
    case 'hour-of-day':
      return hourOfDayByZone(f);
    case 'length':
      return energyByLength(f);
    case 'cleaner':
      return cleanerSummary(f);
    case 'cleaner-detail':
      return cleanerCounterfactual(f);
  }
}

/** Numbers as numbers: JSONEachRow quotes 64-bit integers. */
const numeric = <T>(rows: Record<string, unknown>[]): T[] =>
  rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [
        k,
        typeof v === 'string' && /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v) ? Number(v) : v,
      ]),
    ),
  ) as T[];

/**
 * The HTML report's issue-18 data. `ranges` narrows the hardware, length and run views (`main`)
 * and the hour-of-day view (`day`) further, as the demo does for its two passes; the
 * counterfactual always uses `f`.
 */
export async function collectIssue18(
  ch: ClickHouseClient,
  f: Filters,
  ranges: { main?: Filters; day?: Filters } = {},
): Promise<Issue18Data> {
  const main = { ...f, ...ranges.main };
  const day = { ...f, ...ranges.day };
  const q = async <T>(sql: string): Promise<T[]> =>
    numeric<T>(await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>());
  const [perRun, agents, runs, hardware, hours, lengths, scatter, cleaner] = await Promise.all([
    q<Issue18Data['callsPerRun'][number]>(callsPerRun(main)),
    q<Record<string, unknown>>(agentSummary(main)),
    q<Record<string, unknown>>(agentRuns(main, 10)),
    q<Issue18Data['hardware'][number]>(hardwareByModel(main)),
    q<Issue18Data['hours'][number]>(hourOfDayByZone(day)),
    q<Record<string, unknown>>(energyByLength(main)),
    q<Issue18Data['scatter'][number]>(whVsTokens(main)),
    q<Record<string, unknown>>(cleanerSummary(f)),
  ]);
  // The run table: the columns a reader scans; trace ids shortened to their first 12 characters.
  const topRuns = runs.map((r) => ({
    trace: String(r.trace_id).slice(0, 12),
    agent: r.agent_name,
    conversation: r.conversation_id,
    calls: r.calls,
    hosts: r.hosts,
    models: r.models,
    wh: r.wh,
    g_co2e: r.co2e_location_g,
  }));
  return { callsPerRun: perRun, agents, topRuns, hardware, hours, lengths, scatter, cleaner };
}
