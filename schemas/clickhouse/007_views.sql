-- Views for issue 18: agent runs, hardware, time of day, query complexity and the counterfactual
-- "where and when it would have been cleaner". Read from the deduplicated request rows (FINAL) and
-- run on ClickHouse 18.16 and current releases: one JOIN per SELECT level, no window functions, no
-- parameters; aggregates get aliases that differ from column names (a same-named alias would be
-- substituted into the aggregate's own argument).

-- One row per agent run (one trace: one user action and every model call it made), summed across
-- hosts: a call served by several hosts counts once, its energy on every host.
CREATE VIEW IF NOT EXISTS v_agent_runs AS
SELECT
    trace_id,
    conv AS conversation_id,
    agent AS agent_name,
    tenant_any AS tenant,
    n_calls AS calls,
    length(host_list) AS hosts_count,
    host_list AS hosts,
    model_list AS models,
    t0 AS t_start_ms,
    t1 AS t_end_ms,
    pt AS prompt_tokens,
    ct AS completion_tokens,
    fj / 3600 AS wh,
    gl AS co2e_location_g,
    emb AS embodied_g
FROM
(
    SELECT
        trace_id,
        anyIf(c_conv, c_conv != '') AS conv,
        anyIf(c_agent, c_agent != '') AS agent,
        any(c_tenant) AS tenant_any,
        count() AS n_calls,
        arraySort(groupUniqArrayArray(c_hosts)) AS host_list,
        arraySort(groupUniqArray(c_model)) AS model_list,
        min(c_t0) AS t0,
        max(c_t1) AS t1,
        sum(c_pt) AS pt,
        sum(c_ct) AS ct,
        sum(c_fj) AS fj,
        sum(c_gl) AS gl,
        sum(c_emb) AS emb
    FROM
    (
        SELECT
            trace_id,
            request_id,
            anyIf(conversation_id, conversation_id != '') AS c_conv,
            anyIf(agent_name, agent_name != '') AS c_agent,
            any(tenant) AS c_tenant,
            groupUniqArray(host) AS c_hosts,
            any(model) AS c_model,
            min(t_start_ms) AS c_t0,
            max(t_end_ms) AS c_t1,
            max(prompt_tokens) AS c_pt,
            max(completion_tokens) AS c_ct,
            sum(facility_j) AS c_fj,
            sum(co2e_location_g) AS c_gl,
            sum(embodied_g) AS c_emb
        FROM request_energy FINAL
        WHERE trace_id != ''
        GROUP BY trace_id, request_id
    )
    GROUP BY trace_id
);

-- One row per conversation or session (many user actions): its runs, calls, energy and CO2e.
CREATE VIEW IF NOT EXISTS v_conversations AS
SELECT
    conversation_id,
    agent_list AS agents,
    n_runs AS runs,
    n_calls AS calls,
    host_list AS hosts,
    model_list AS models,
    w AS wh,
    g AS co2e_location_g
FROM
(
    SELECT
        conversation_id,
        arraySort(groupUniqArrayIf(agent_name, agent_name != '')) AS agent_list,
        count() AS n_runs,
        sum(calls) AS n_calls,
        arraySort(groupUniqArrayArray(hosts)) AS host_list,
        arraySort(groupUniqArrayArray(models)) AS model_list,
        sum(wh) AS w,
        sum(co2e_location_g) AS g
    FROM v_agent_runs
    WHERE conversation_id != ''
    GROUP BY conversation_id
);

-- The same model on different accelerators: Wh and gCO2e per query and per 1,000 tokens, with the
-- p10 and p90 of Wh per query as the spread. A request served by several hosts counts on each.
CREATE VIEW IF NOT EXISTS v_hardware_by_model AS
SELECT
    model,
    accelerator,
    q AS queries,
    tok AS tokens,
    fj / 3600 / greatest(q, 1) AS wh_per_query,
    gl / greatest(q, 1) AS g_co2e_per_query,
    fj / 3.6 / greatest(tok, 1) AS wh_per_1k_tokens,
    gl * 1000 / greatest(tok, 1) AS g_co2e_per_1k_tokens,
    whq[1] AS wh_per_query_p10,
    whq[2] AS wh_per_query_p90
FROM
(
    SELECT
        model,
        if(acc = '', 'unknown', acc) AS accelerator,
        count() AS q,
        sum(prompt_tokens + completion_tokens) AS tok,
        sum(facility_j) AS fj,
        sum(co2e_location_g) AS gl,
        quantilesExact(0.1, 0.9)(facility_j / 3600) AS whq
    FROM
    (
        SELECT host, model, prompt_tokens, completion_tokens, facility_j, co2e_location_g
        FROM request_energy FINAL
    ) AS h1
    ANY LEFT JOIN
    (
        SELECT host, accelerator AS acc FROM host_info FINAL
    ) AS h2
    USING (host)
    GROUP BY model, accelerator
);

-- gCO2e per query by hour of day (UTC) and grid zone: what the grid's daily cycle does to a query.
CREATE VIEW IF NOT EXISTS v_hour_of_day_zone AS
SELECT
    hour_of_day,
    zone,
    q AS queries,
    gl / greatest(q, 1) AS g_co2e_per_query,
    fj / 3600 / greatest(q, 1) AS wh_per_query,
    gl * 3.6e6 / greatest(fj, 1e-9) AS g_per_kwh
FROM
(
    SELECT toHour(t_start, 'UTC') AS hour_of_day, zone, count() AS q, sum(co2e_location_g) AS gl,
        sum(facility_j) AS fj
    FROM request_energy FINAL
    GROUP BY hour_of_day, zone
);

-- Energy per query by prompt and completion length (powers-of-two buckets of tokens: 0-127,
-- 128-255, ..., each bucket named by its lower bound), per model.
CREATE VIEW IF NOT EXISTS v_energy_by_length AS
SELECT
    model,
    prompt_bucket,
    completion_bucket,
    q AS queries,
    fj / 3600 / greatest(q, 1) AS wh_per_query,
    gl / greatest(q, 1) AS g_co2e_per_query,
    whq[1] AS wh_per_query_p10,
    whq[2] AS wh_per_query_p90
FROM
(
    SELECT
        model,
        toUInt64(if(prompt_tokens < 128, 0, pow(2, floor(log2(prompt_tokens))))) AS prompt_bucket,
        toUInt64(if(completion_tokens < 128, 0, pow(2, floor(log2(completion_tokens))))) AS completion_bucket,
        count() AS q,
        sum(facility_j) AS fj,
        sum(co2e_location_g) AS gl,
        quantilesExact(0.1, 0.9)(facility_j / 3600) AS whq
    FROM request_energy FINAL
    GROUP BY model, prompt_bucket, completion_bucket
);

-- A COUNTERFACTUAL, not a measurement: each model's measured facility energy per query, priced with
-- the location-based intensity that every zone had at every hour of day in the data (the intensity
-- the rows were charged, g/kWh = CO2e / energy), beside what the model's queries actually emitted.
CREATE VIEW IF NOT EXISTS v_cleaner_counterfactual AS
SELECT
    model,
    zone,
    hour_of_day,
    wh_per_query,
    actual_g_per_query,
    g_per_kwh,
    wh_per_query / 1000 * g_per_kwh AS counterfactual_g_per_query,
    wh_per_query / 1000 * g_per_kwh - actual_g_per_query AS delta_g_per_query
FROM
(
    SELECT 1 AS k, model, fj / 3600 / greatest(q, 1) AS wh_per_query, gl / greatest(q, 1) AS actual_g_per_query
    FROM
    (
        SELECT model, count() AS q, sum(facility_j) AS fj, sum(co2e_location_g) AS gl
        FROM request_energy FINAL
        GROUP BY model
    )
) AS c1
ALL INNER JOIN
(
    SELECT 1 AS k, zone, hour_of_day, zgl * 3.6e6 / greatest(zfj, 1e-9) AS g_per_kwh
    FROM
    (
        SELECT zone, toHour(t_start, 'UTC') AS hour_of_day, sum(co2e_location_g) AS zgl, sum(facility_j) AS zfj
        FROM request_energy FINAL
        GROUP BY zone, hour_of_day
    )
) AS c2
USING (k);
