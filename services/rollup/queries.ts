// The rollup's SQL: an INSERT … SELECT per grain and time range, reading deduplicated rows. Runs on
// ClickHouse 18.16 and current releases. Time bounds are whole periods (so a host-hour's ledger and
// its requests are both complete) and reach SQL only through int()/dateTime().

import { dateTime, int, quote } from '../adapters/sql.ts';

export type Grain = 'hour' | 'day';

export const GRAIN_MS: Record<Grain, number> = { hour: 3_600_000, day: 86_400_000 };

/** The range widened to whole periods of the grain (UTC: the server's time zone should be UTC). */
export function alignRange(grain: Grain, fromMs: number, toMs: number): { fromMs: number; toMs: number } {
  const g = GRAIN_MS[grain];
  return { fromMs: Math.floor(fromMs / g) * g, toMs: Math.ceil(toMs / g) * g };
}

/**
 * Requests with their share of their host-hour's unattributed energy, for one time range: the same
 * definition as the `request_energy_fully_loaded` view, with the range pushed into every subquery
 * (18.16 does not push predicates into views, and the rollup must not scan all history).
 */
export function fullyLoadedSource(fromMs: number, toMs: number): string {
  const reqRange = `t_start >= ${dateTime(fromMs)} AND t_start < ${dateTime(toMs)}`;
  const ledgerRange = `window_start >= ${dateTime(fromMs)} AND window_start < ${dateTime(toMs)}`;
  return `
(
    SELECT request_id, host, facility, region, zone, model, tenant, t_start, hour, prompt_tokens,
        completion_tokens, accelerator_dynamic_j, host_dynamic_j, accelerator_idle_j, host_idle_j,
        overhead_j, it_j, facility_j, estimated_j, embodied_g, co2e_location_g, co2e_market_g, water_l,
        method_version, unattributed_j, host_hour_it_j,
        unattributed_j * it_j / greatest(host_hour_it_j, 1e-12) AS spread_it_j,
        facility_j * (1 + unattributed_j / greatest(host_hour_it_j, 1e-12)) AS fully_loaded_facility_j,
        co2e_location_g * (1 + unattributed_j / greatest(host_hour_it_j, 1e-12)) AS fully_loaded_co2e_location_g
    FROM
    (
        SELECT request_id, host, facility, region, zone, model, tenant, t_start, toStartOfHour(t_start) AS hour,
               prompt_tokens, completion_tokens, accelerator_dynamic_j, host_dynamic_j,
               accelerator_idle_j, host_idle_j, overhead_j, it_j, facility_j, estimated_j, embodied_g,
               co2e_location_g, co2e_market_g, water_l, method_version
        FROM request_energy FINAL
        WHERE ${reqRange}
    ) AS j1
    ANY LEFT JOIN
    (
        SELECT host, hour, unattributed_j, host_hour_it_j
        FROM
        (
            SELECT host, toStartOfHour(window_start) AS hour, sum(unattributed_j) AS unattributed_j
            FROM host_ledger FINAL
            WHERE ${ledgerRange}
            GROUP BY host, hour
        ) AS j2
        ANY INNER JOIN
        (
            SELECT host, toStartOfHour(t_start) AS hour, sum(it_j) AS host_hour_it_j
            FROM request_energy FINAL
            WHERE ${reqRange}
            GROUP BY host, hour
        ) AS j3
        USING (host, hour)
    ) AS j4
    USING (host, hour)
)`;
}

export const ROLLUP_COLUMNS = [
  'grain',
  'period_start',
  'region',
  'facility',
  'zone',
  'model',
  'tenant',
  'queries',
  'prompt_tokens',
  'completion_tokens',
  'accelerator_j',
  'host_j',
  'idle_j',
  'overhead_j',
  'it_j',
  'facility_j',
  'estimated_j',
  'embodied_g',
  'co2e_location_g',
  'co2e_market_g',
  'market_queries',
  'water_l',
  'fully_loaded_facility_j',
  'fully_loaded_co2e_location_g',
  'wh_p50',
  'wh_p90',
  'wh_p99',
  'g_p50',
  'g_p90',
  'g_p99',
  'version',
  'method_version',
] as const;

/**
 * Recomputes one grain over [fromMs, toMs) from the deduplicated rows and writes it with `version`:
 * the same keys as any earlier run, so ClickHouse keeps the newest. Percentiles are exact
 * (quantilesExact) so tests can compute them by hand, and per period, never merged from finer ones.
 */
export function rollupInsert(grain: Grain, fromMs: number, toMs: number, version: number): string {
  const r = alignRange(grain, fromMs, toMs);
  const period = grain === 'hour' ? 'toStartOfHour(t_start)' : 'toDateTime(toDate(t_start))';
  // Aggregates get aliases unlike any column (an alias equal to a column name would nest them), and
  // the outer SELECT puts them in the table's column order.
  return `
INSERT INTO rollup (${ROLLUP_COLUMNS.join(', ')})
SELECT
    ${quote(grain)}, p, region, facility, zone, model, tenant,
    n, pt, ct, acc, hst, idl, ovh, itj, fac, est, emb, gl, gm, mq, wat, flf, flg,
    wq[1], wq[2], wq[3], gq[1], gq[2], gq[3],
    ${int(version)}, mv
FROM
(
    SELECT
        ${period} AS p,
        region, facility, zone, model, tenant,
        count() AS n,
        sum(prompt_tokens) AS pt,
        sum(completion_tokens) AS ct,
        sum(accelerator_dynamic_j) AS acc,
        sum(host_dynamic_j) AS hst,
        sum(accelerator_idle_j + host_idle_j) AS idl,
        sum(overhead_j) AS ovh,
        sum(it_j) AS itj,
        sum(facility_j) AS fac,
        sum(estimated_j) AS est,
        sum(embodied_g) AS emb,
        sum(co2e_location_g) AS gl,
        sum(ifNull(co2e_market_g, 0)) AS gm,
        count(co2e_market_g) AS mq,
        sum(ifNull(water_l, 0)) AS wat,
        sum(fully_loaded_facility_j) AS flf,
        sum(fully_loaded_co2e_location_g) AS flg,
        quantilesExact(0.5, 0.9, 0.99)(facility_j / 3600) AS wq,
        quantilesExact(0.5, 0.9, 0.99)(co2e_location_g) AS gq,
        any(method_version) AS mv
    FROM ${fullyLoadedSource(r.fromMs, r.toMs)}
    GROUP BY p, region, facility, zone, model, tenant
)`;
}
