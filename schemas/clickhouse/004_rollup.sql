-- Hourly and daily aggregates by region, facility, grid zone, model and tenant, written by the
-- rollup service (`joulestream rollup`). A recompute writes the same keys with a higher version, so
-- late corrections replace earlier aggregates and a replay never double-counts; read with FINAL.
-- Partitioned by grain and month so retention drops whole partitions (18.16 has no TTL).
CREATE TABLE IF NOT EXISTS rollup
(
    grain LowCardinality(String),
    period_start DateTime,
    region LowCardinality(String),
    facility LowCardinality(String),
    zone LowCardinality(String),
    model LowCardinality(String),
    tenant String,
    queries UInt64,
    prompt_tokens UInt64,
    completion_tokens UInt64,
    accelerator_j Float64,
    host_j Float64,
    idle_j Float64,
    overhead_j Float64,
    it_j Float64,
    facility_j Float64,
    estimated_j Float64,
    embodied_g Float64,
    co2e_location_g Float64,
    co2e_market_g Float64,
    market_queries UInt64,
    water_l Float64,
    fully_loaded_facility_j Float64,
    fully_loaded_co2e_location_g Float64,
    wh_p50 Float64,
    wh_p90 Float64,
    wh_p99 Float64,
    g_p50 Float64,
    g_p90 Float64,
    g_p99 Float64,
    version UInt64,
    method_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY (grain, toYYYYMM(period_start))
ORDER BY (grain, period_start, region, facility, zone, model, tenant);

-- The facilities as configured (written by the rollup service from the fleet file): what the
-- facility KPIs need beyond measured energy.
CREATE TABLE IF NOT EXISTS facility_info
(
    facility String,
    region String,
    zone String,
    pue Float64,
    renewable_share Nullable(Float64),
    wue_l_per_kwh Nullable(Float64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY facility;
