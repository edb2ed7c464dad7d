-- One row per (request, host): the attributed energy and emissions of one query on one host.
-- Corrections write a higher version; read with FINAL (or argMax) to get the latest.
-- Runs on ClickHouse 18.16 and current releases: no DateTime64, TTL or parameters.
CREATE TABLE IF NOT EXISTS request_energy
(
    request_id String,
    host String,
    facility LowCardinality(String),
    region LowCardinality(String),
    zone LowCardinality(String),
    model LowCardinality(String),
    tenant String,
    status LowCardinality(String),
    gpus Array(UInt16),
    t_start_ms UInt64,
    t_end_ms UInt64,
    t_start DateTime MATERIALIZED toDateTime(intDiv(t_start_ms, 1000)),
    prompt_tokens UInt64,
    completion_tokens UInt64,
    accelerator_dynamic_j Float64,
    accelerator_idle_j Float64,
    host_dynamic_j Float64,
    host_idle_j Float64,
    it_j Float64,
    overhead_j Float64,
    facility_j Float64,
    estimated_j Float64,
    embodied_g Float64,
    co2e_location_g Float64,
    co2e_market_g Nullable(Float64),
    water_l Nullable(Float64),
    ci_source LowCardinality(String),
    share_model LowCardinality(String),
    flags Array(String),
    version UInt64,
    method_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDateTime(intDiv(t_start_ms, 1000)))
ORDER BY (host, request_id);
