// The report queries for agent runs, hardware, time of day, query complexity and the cleaner
// counterfactual. Each is the SQL view of migration 007 (the one definition users, Grafana and
// this report share) with the report's filters applied to the request rows the view reads: the
// view's `FROM request_energy FINAL` becomes a filtered subquery. Filter values go through sql.ts.

import { listMigrations, statements } from '../adapters/clickhouse.ts';
import { int } from '../adapters/sql.ts';
import { where, type Filters } from './queries.ts';

export type Issue18View =
  | 'v_agent_runs'
  | 'v_conversations'
  | 'v_hardware_by_model'
  | 'v_hour_of_day_zone'
  | 'v_energy_by_length'
  | 'v_cleaner_counterfactual';

let bodies: Map<string, string> | null = null;

/** The SELECT of each view, read once from the migrations (the same text the server was given). */
function viewBodies(): Map<string, string> {
  if (bodies) return bodies;
  bodies = new Map();
  for (const m of listMigrations())
    for (const stmt of statements(m.sql)) {
      const hit = /^CREATE VIEW IF NOT EXISTS (\w+) AS\s+([\s\S]+)$/.exec(stmt.trim());
      if (hit) bodies.set(hit[1]!, hit[2]!);
    }
  return bodies;
}

/** A view's SELECT over the filtered request rows (t_start is MATERIALIZED, so `*` lacks it). */
export function viewSql(name: Issue18View, f: Filters): string {
  const body = viewBodies().get(name);
  if (!body) throw new Error(`view ${name} is not defined by any migration`);
  const rows = `(SELECT *, t_start FROM request_energy FINAL WHERE ${where(f)})`;
  const direct = body.replace(/FROM request_energy FINAL/g, `FROM ${rows}`);
  // v_conversations reads v_agent_runs: filter the rows under it the same way.
  return /FROM v_agent_runs\b/.test(direct)
    ? direct.replace(/FROM v_agent_runs\b/g, () => `FROM (${viewSql('v_agent_runs', f)})`)
    : direct;
}

/** The agent runs with the most emissions. */
export function agentRuns(f: Filters, limit = 20): string {
  return `
SELECT * FROM (${viewSql('v_agent_runs', f)})
ORDER BY co2e_location_g DESC, trace_id
LIMIT ${int(limit)}`;
}

/** How many calls runs make: runs, energy and CO2e per run by number of calls. */
export function callsPerRun(f: Filters): string {
  return `
SELECT calls, count() AS runs, sum(wh) / count() AS wh_per_run, sum(co2e_location_g) / count() AS g_co2e_per_run,
    sum(hosts_count) / count() AS hosts_per_run
FROM (${viewSql('v_agent_runs', f)})
GROUP BY calls
ORDER BY calls`;
}

/** Per agent: runs, calls per run (mean, median, p90), energy and CO2e per run. */
export function agentSummary(f: Filters): string {
  return `
SELECT agent, n AS runs, c / n AS calls_per_run, cq[1] AS calls_p50, cq[2] AS calls_p90,
    w / n AS wh_per_run, g / n AS g_co2e_per_run, hmax AS max_hosts
FROM
(
    SELECT if(agent_name = '', '(none)', agent_name) AS agent, count() AS n, sum(calls) AS c,
        quantilesExact(0.5, 0.9)(calls) AS cq, sum(wh) AS w, sum(co2e_location_g) AS g,
        max(hosts_count) AS hmax
    FROM (${viewSql('v_agent_runs', f)})
    GROUP BY agent
)
ORDER BY agent`;
}

/** Conversations or sessions with the most emissions. */
export function conversations(f: Filters, limit = 20): string {
  return `
SELECT * FROM (${viewSql('v_conversations', f)})
ORDER BY co2e_location_g DESC, conversation_id
LIMIT ${int(limit)}`;
}

/** The same model on different accelerators. */
export function hardwareByModel(f: Filters): string {
  return `
SELECT * FROM (${viewSql('v_hardware_by_model', f)})
ORDER BY model, accelerator`;
}

/** gCO2e per query by hour of day (UTC) and zone. */
export function hourOfDayByZone(f: Filters): string {
  return `
SELECT * FROM (${viewSql('v_hour_of_day_zone', f)})
ORDER BY zone, hour_of_day`;
}

/** Energy per query by prompt and completion length bucket. */
export function energyByLength(f: Filters): string {
  return `
SELECT * FROM (${viewSql('v_energy_by_length', f)})
ORDER BY model, prompt_bucket, completion_bucket`;
}

/** Every (model, zone, hour) of the counterfactual. */
export function cleanerCounterfactual(f: Filters): string {
  return `
SELECT * FROM (${viewSql('v_cleaner_counterfactual', f)})
ORDER BY model, counterfactual_g_per_query, zone, hour_of_day`;
}

/** Per model: what its queries emitted, and the cleanest and dirtiest zone and hour (a counterfactual). */
export function cleanerSummary(f: Filters): string {
  return `
SELECT model, wh AS wh_per_query, actual AS actual_g_per_query,
    best_zone AS cleanest_zone, best_hour AS cleanest_hour_utc, best_g AS cleanest_g_per_query,
    worst_zone AS dirtiest_zone, worst_hour AS dirtiest_hour_utc, worst_g AS dirtiest_g_per_query
FROM
(
    SELECT model, any(wh_per_query) AS wh, any(actual_g_per_query) AS actual,
        argMin(zone, counterfactual_g_per_query) AS best_zone,
        argMin(hour_of_day, counterfactual_g_per_query) AS best_hour,
        min(counterfactual_g_per_query) AS best_g,
        argMax(zone, counterfactual_g_per_query) AS worst_zone,
        argMax(hour_of_day, counterfactual_g_per_query) AS worst_hour,
        max(counterfactual_g_per_query) AS worst_g
    FROM (${viewSql('v_cleaner_counterfactual', f)})
    GROUP BY model
)
ORDER BY model`;
}

/**
 * Points for the Wh-against-tokens chart: one per request row, a deterministic sample (by hash of
 * the request id) when there are more than `limit`, with its model and accelerator.
 */
export function whVsTokens(f: Filters, limit = 1500): string {
  return `
SELECT model, if(acc = '', 'unknown', acc) AS accelerator, tokens, wh
FROM
(
    SELECT host, model, prompt_tokens + completion_tokens AS tokens, facility_j / 3600 AS wh,
        cityHash64(request_id) AS h
    FROM (SELECT *, t_start FROM request_energy FINAL WHERE ${where(f)})
) AS p1
ANY LEFT JOIN
(
    SELECT host, accelerator AS acc FROM host_info FINAL
) AS p2
USING (host)
ORDER BY h
LIMIT ${int(limit)}`;
}
