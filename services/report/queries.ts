// The report queries. Every one reads deduplicated rows (FINAL) and runs on 18.16 and current
// ClickHouse; filter values are validated or quoted by sql.ts, never pasted.

import { dateTime, inList } from '../adapters/sql.ts';

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

/** Energy and emissions per query, grouped by one dimension, with the boundary breakdown. */
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
FROM request_energy FINAL
WHERE ${where(f)}
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
