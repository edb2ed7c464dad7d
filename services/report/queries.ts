// The report queries. Every one reads deduplicated rows (FINAL) and runs on 18.16 and current
// ClickHouse; filter values are validated or quoted by sql.ts, never pasted.

import { dateTime, inList, int } from '../adapters/sql.ts';

export interface Filters {
  fromMs?: number;
  toMs?: number;
  regions?: string[];
  facilities?: string[];
  models?: string[];
  tenants?: string[];
}

export function where(f: Filters, timeColumn = 't_start'): string {
  const parts = [
    f.fromMs !== undefined ? `${timeColumn} >= ${dateTime(f.fromMs)}` : '1',
    f.toMs !== undefined ? `${timeColumn} < ${dateTime(f.toMs)}` : '1',
    inList('region', f.regions ?? []),
    inList('facility', f.facilities ?? []),
    inList('model', f.models ?? []),
    inList('tenant', f.tenants ?? []),
  ];
  return parts.filter((p) => p !== '1').join(' AND ') || '1';
}

/**
 * Energy and emissions per query, grouped by one dimension, with the boundary breakdown. The filter
 * sits in a subquery: `any(region) AS region` would otherwise shadow the column in WHERE.
 */
export function perQueryBy(dim: 'facility' | 'model' | 'region' | 'tenant', f: Filters): string {
  const group = dim === 'facility' ? 'facility, any(region) AS region, any(zone) AS zone' : dim;
  return `
SELECT
    ${group},
    count() AS queries,
    sum(facility_j) / count() / 3600 AS wh_per_query,
    sum(co2e_location_g) / count() AS g_co2e_per_query,
    sum(co2e_location_g + embodied_g) / count() AS sci_g_per_query,
    sum(accelerator_dynamic_j) / count() / 3600 AS accelerator_wh,
    sum(host_dynamic_j) / count() / 3600 AS host_wh,
    sum(accelerator_idle_j + host_idle_j) / count() / 3600 AS idle_wh,
    sum(overhead_j) / count() / 3600 AS overhead_wh,
    sum(embodied_g) / count() AS embodied_g_per_query,
    sum(estimated_j) / greatest(sum(it_j), 1e-12) AS estimated_share
FROM (SELECT * FROM request_energy FINAL WHERE ${where(f)})
GROUP BY ${dim}
ORDER BY ${dim}`;
}

/** Measured vs attributed vs unattributed energy over the ledger, in kWh. */
export function conservationTotals(f: Pick<Filters, 'fromMs' | 'toMs' | 'facilities'>): string {
  return `
SELECT
    sum(measured_j) / 3.6e6 AS measured_kwh,
    sum(attributed_j) / 3.6e6 AS attributed_kwh,
    sum(unattributed_j) / 3.6e6 AS unattributed_kwh,
    max(abs(measured_j - attributed_j - unattributed_j) / greatest(measured_j, 1)) AS max_relative_error,
    count() AS ledger_rows,
    uniqExact(host) AS hosts
FROM host_ledger FINAL
WHERE ${where(f, 'window_start')}`;
}

/** A Date literal from epoch ms (for views keyed by day or month). */
const dateOf = (ms: number) => `toDate(${dateTime(ms)})`;

/** Filters on the rollup table (period_start) or on the raw rows. */
function rollupWhere(f: Filters): string {
  return where(f, 'period_start');
}

/** Energy and CO2e per 1,000 tokens, grouped by one dimension (from the hourly rollup). */
export function per1kTokensBy(dim: 'facility' | 'model' | 'region' | 'tenant', f: Filters): string {
  return `
SELECT ${dim}, q AS queries, tok AS tokens,
    fj / 3.6 / greatest(tok, 1) AS wh_per_1k_tokens,
    gl * 1000 / greatest(tok, 1) AS g_co2e_location_per_1k_tokens,
    gm * 1000 / greatest(mtok, 1) AS g_co2e_market_per_1k_tokens,
    tok / greatest(q, 1) AS tokens_per_query
FROM
(
    SELECT ${dim}, sum(queries) AS q, sum(prompt_tokens + completion_tokens) AS tok,
        sum(facility_j) AS fj, sum(co2e_location_g) AS gl, sum(co2e_market_g) AS gm,
        sumIf(prompt_tokens + completion_tokens, market_queries = queries) AS mtok
    FROM rollup FINAL
    WHERE grain = 'hour' AND ${rollupWhere(f)}
    GROUP BY ${dim}
)
ORDER BY ${dim}`;
}

/** Tenants' monthly statements (the v_tenant_monthly_statement view), filtered. */
export function tenantStatement(f: Filters): string {
  const parts = [
    f.fromMs !== undefined ? `month >= toStartOfMonth(${dateOf(f.fromMs)})` : '1',
    f.toMs !== undefined ? `month < ${dateOf(f.toMs)}` : '1',
    inList('tenant', f.tenants ?? []),
  ].filter((p) => p !== '1');
  return `
SELECT * FROM v_tenant_monthly_statement
WHERE ${parts.join(' AND ') || '1'}
ORDER BY month, tenant`;
}

/** Facility KPIs by month (the v_facility_kpis_monthly view): also the EED export. */
export function facilityKpis(f: Filters): string {
  const parts = [
    f.fromMs !== undefined ? `month >= toStartOfMonth(${dateOf(f.fromMs)})` : '1',
    f.toMs !== undefined ? `month < ${dateOf(f.toMs)}` : '1',
    inList('facility', f.facilities ?? []),
    inList('region', f.regions ?? []),
  ].filter((p) => p !== '1');
  return `
SELECT * FROM v_facility_kpis_monthly
WHERE ${parts.join(' AND ') || '1'}
ORDER BY month, facility`;
}

/** Measured vs attributed vs unattributed per host and hour (the v_conservation_hourly view). */
export function ledgerHourly(f: Filters): string {
  const parts = [
    f.fromMs !== undefined ? `hour >= ${dateTime(f.fromMs)}` : '1',
    f.toMs !== undefined ? `hour < ${dateTime(f.toMs)}` : '1',
    inList('facility', f.facilities ?? []),
  ].filter((p) => p !== '1');
  return `
SELECT * FROM v_conservation_hourly
WHERE ${parts.join(' AND ') || '1'}
ORDER BY hour, host`;
}

/**
 * Software Carbon Intensity per model (ISO/IEC 21031): SCI = (E·I + M) per R, with E the facility
 * energy of the declared boundary, I the location-based grid intensity, M the embodied emissions, R
 * the functional unit (one query, or 1,000 tokens).
 */
export function sciByModel(f: Filters): string {
  return `
SELECT model, q AS queries, tok AS tokens,
    fj / 3.6e6 AS energy_kwh,
    gl AS operational_g,
    emb AS embodied_g,
    (gl + emb) / greatest(q, 1) AS sci_g_per_query,
    (gl + emb) * 1000 / greatest(tok, 1) AS sci_g_per_1k_tokens,
    mv AS method_version
FROM
(
    SELECT model, sum(queries) AS q, sum(prompt_tokens + completion_tokens) AS tok,
        sum(facility_j) AS fj, sum(co2e_location_g) AS gl, sum(embodied_g) AS emb,
        arrayStringConcat(arraySort(groupUniqArray(method_version)), ',') AS mv
    FROM rollup FINAL
    WHERE grain = 'hour' AND ${rollupWhere(f)}
    GROUP BY model
)
ORDER BY model`;
}

/** gCO2e per query over time, by region: hourly points, or daily when the range is long. */
export function co2eOverTime(f: Filters, grain: 'hour' | 'day'): string {
  return `
SELECT period_start, region, gl / greatest(q, 1) AS g_per_query, q AS queries
FROM
(
    SELECT period_start, region, sum(queries) AS q, sum(co2e_location_g) AS gl
    FROM rollup FINAL
    WHERE grain = ${grain === 'hour' ? "'hour'" : "'day'"} AND ${rollupWhere(f)}
    GROUP BY period_start, region
)
ORDER BY period_start, region`;
}

/** The distribution of energy per query per model: a box plot's five numbers, in Wh. */
export function energyDistribution(f: Filters): string {
  return `
SELECT model, count() AS queries,
    quantilesExact(0.05, 0.25, 0.5, 0.75, 0.95)(facility_j / 3600) AS wh
FROM request_energy FINAL
WHERE ${where(f)}
GROUP BY model
ORDER BY model`;
}

/**
 * The boundary breakdown per model, in gCO2e per query: each energy boundary's share of facility
 * energy times the location-based emissions, plus embodied emissions.
 */
export function boundaryBreakdown(f: Filters): string {
  return `
SELECT model, q AS queries,
    gl * acc / greatest(fac, 1e-12) / greatest(q, 1) AS accelerator_g,
    gl * hst / greatest(fac, 1e-12) / greatest(q, 1) AS host_g,
    gl * idl / greatest(fac, 1e-12) / greatest(q, 1) AS idle_g,
    gl * ovh / greatest(fac, 1e-12) / greatest(q, 1) AS overhead_g,
    emb / greatest(q, 1) AS embodied_g
FROM
(
    SELECT model, sum(queries) AS q, sum(co2e_location_g) AS gl, sum(facility_j) AS fac,
        sum(accelerator_j) AS acc, sum(host_j) AS hst, sum(idle_j) AS idl, sum(overhead_j) AS ovh,
        sum(embodied_g) AS emb
    FROM rollup FINAL
    WHERE grain = 'hour' AND ${rollupWhere(f)}
    GROUP BY model
)
ORDER BY model`;
}

/** The tenants with the most emissions. */
export function topTenants(f: Filters, limit = 10): string {
  return `
SELECT tenant, sum(queries) AS queries, sum(facility_j) / 3.6e6 AS energy_kwh,
    sum(co2e_location_g) / 1000 AS co2e_location_kg
FROM rollup FINAL
WHERE grain = 'hour' AND ${rollupWhere(f)}
GROUP BY tenant
ORDER BY co2e_location_kg DESC, tenant
LIMIT ${int(limit)}`;
}

/** gCO2e per query per minute and region, from the request rows: for ranges shorter than a few hours. */
export function co2eByMinute(f: Filters): string {
  return `
SELECT period_start, region, gl / greatest(q, 1) AS g_per_query, q AS queries
FROM
(
    SELECT toStartOfMinute(t_start) AS period_start, region, count() AS q, sum(co2e_location_g) AS gl
    FROM (SELECT region, co2e_location_g, t_start FROM request_energy FINAL WHERE ${where(f)})
    GROUP BY period_start, region
)
ORDER BY period_start, region`;
}
