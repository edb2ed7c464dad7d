-- The SQL surface users query (docs/queries.md has examples with output). Every view reads
-- deduplicated rows (FINAL) and runs on ClickHouse 18.16 and current releases: one JOIN per SELECT
-- level, no window functions, no parameters.

-- Each request with its share of its host-hour's unattributed energy (idle time with no request
-- running), spread in proportion to attributed IT energy: the "fully loaded" cost of a query.
CREATE VIEW IF NOT EXISTS request_energy_fully_loaded AS
SELECT
    request_id, host, facility, region, zone, model, tenant, t_start_ms, t_end_ms, t_start, hour,
    prompt_tokens, completion_tokens, it_j, facility_j, co2e_location_g, embodied_g,
    unattributed_j * it_j / greatest(host_hour_it_j, 1e-12) AS spread_it_j,
    facility_j * (1 + unattributed_j / greatest(host_hour_it_j, 1e-12)) AS fully_loaded_facility_j,
    co2e_location_g * (1 + unattributed_j / greatest(host_hour_it_j, 1e-12)) AS fully_loaded_co2e_location_g
FROM
(
    SELECT request_id, host, facility, region, zone, model, tenant, t_start_ms, t_end_ms, t_start,
           toStartOfHour(t_start) AS hour, prompt_tokens, completion_tokens, it_j, facility_j,
           co2e_location_g, embodied_g
    FROM request_energy FINAL
) AS j1
ANY LEFT JOIN
(
    SELECT host, hour, unattributed_j, host_hour_it_j
    FROM
    (
        SELECT host, toStartOfHour(window_start) AS hour, sum(unattributed_j) AS unattributed_j
        FROM host_ledger FINAL
        GROUP BY host, hour
    ) AS j2
    ANY INNER JOIN
    (
        SELECT host, toStartOfHour(t_start) AS hour, sum(it_j) AS host_hour_it_j
        FROM request_energy FINAL
        GROUP BY host, hour
    ) AS j3
    USING (host, hour)
) AS j4
USING (host, hour);

-- The conservation ledger by host and hour: measured = attributed + unattributed.
CREATE VIEW IF NOT EXISTS v_conservation_hourly AS
SELECT
    host,
    facility,
    toStartOfHour(window_start) AS hour,
    sum(measured_j) / 3.6e6 AS measured_kwh,
    sum(attributed_j) / 3.6e6 AS attributed_kwh,
    sum(unattributed_j) / 3.6e6 AS unattributed_kwh,
    sum(estimated_j) / 3.6e6 AS estimated_kwh,
    max(abs(measured_j - attributed_j - unattributed_j) / greatest(measured_j, 1)) AS max_relative_error,
    count() AS ledger_rows
FROM host_ledger FINAL
GROUP BY host, facility, hour;

-- Energy and CO2e per query and per 1,000 tokens, by day, model and region (from the hourly rollup).
-- Sums are taken in a subquery: an alias equal to a column name would nest aggregates.
CREATE VIEW IF NOT EXISTS v_per_query_daily AS
SELECT
    day,
    model,
    region,
    q AS queries,
    tok AS tokens,
    fj / 3600 / greatest(q, 1) AS wh_per_query,
    gl / greatest(q, 1) AS g_co2e_location_per_query,
    gm / greatest(mq, 1) AS g_co2e_market_per_query,
    mq / greatest(q, 1) AS market_coverage,
    emb / greatest(q, 1) AS embodied_g_per_query,
    fj / 3.6 / greatest(tok, 1) AS wh_per_1k_tokens,
    gl * 1000 / greatest(tok, 1) AS g_co2e_location_per_1k_tokens,
    flj / 3600 / greatest(q, 1) AS fully_loaded_wh_per_query
FROM
(
    SELECT
        toDate(period_start) AS day,
        model,
        region,
        sum(queries) AS q,
        sum(prompt_tokens + completion_tokens) AS tok,
        sum(facility_j) AS fj,
        sum(co2e_location_g) AS gl,
        sum(co2e_market_g) AS gm,
        sum(market_queries) AS mq,
        sum(embodied_g) AS emb,
        sum(fully_loaded_facility_j) AS flj
    FROM rollup FINAL
    WHERE grain = 'hour'
    GROUP BY day, model, region
);

-- A tenant's monthly statement: what their queries cost, for their Scope 3 category 1 reporting.
CREATE VIEW IF NOT EXISTS v_tenant_monthly_statement AS
SELECT
    toStartOfMonth(period_start) AS month,
    tenant,
    sum(queries) AS queries,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(facility_j) / 3.6e6 AS energy_kwh,
    sum(co2e_location_g) / 1000 AS co2e_location_kg,
    sum(co2e_market_g) / 1000 AS co2e_market_kg,
    sum(market_queries) AS market_queries,
    sum(embodied_g) / 1000 AS embodied_kg,
    sum(water_l) AS water_l,
    sum(estimated_j) / greatest(sum(it_j), 1e-12) AS estimated_share,
    arrayStringConcat(arraySort(groupUniqArray(method_version)), ',') AS method_version
FROM rollup FINAL
WHERE grain = 'day'
GROUP BY month, tenant;

-- Facility KPIs by month, aligned with the EU Energy Efficiency Directive's data-centre reporting:
-- IT energy (measured), total energy (IT x PUE), PUE, renewable share, water and WUE, energy per query.
CREATE VIEW IF NOT EXISTS v_facility_kpis_monthly AS
SELECT
    month,
    facility,
    region,
    it_kwh,
    it_kwh * pue AS total_kwh,
    pue,
    renewable_share,
    wue_l_per_kwh,
    it_kwh * wue_l_per_kwh AS water_l,
    queries,
    it_kwh * pue * 1000 / greatest(queries, 1) AS wh_per_query
FROM
(
    SELECT month, facility, it_kwh, queries
    FROM
    (
        SELECT toStartOfMonth(window_start) AS month, facility, sum(measured_j) / 3.6e6 AS it_kwh
        FROM host_ledger FINAL
        GROUP BY month, facility
    ) AS j5
    ANY LEFT JOIN
    (
        SELECT toStartOfMonth(period_start) AS month, facility, sum(queries) AS queries
        FROM rollup FINAL
        WHERE grain = 'day'
        GROUP BY month, facility
    ) AS j6
    USING (month, facility)
) AS j7
ANY LEFT JOIN
(
    SELECT facility, region, pue, renewable_share, wue_l_per_kwh FROM facility_info FINAL
) AS j8
USING (facility);
