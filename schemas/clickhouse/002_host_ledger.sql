-- One row per (host, device group, window): the conservation ledger.
-- measured_j = attributed_j + unattributed_j for every row (to floating-point rounding).
CREATE TABLE IF NOT EXISTS host_ledger
(
    host String,
    facility LowCardinality(String),
    device_group LowCardinality(String),
    window_start_ms UInt64,
    window_ms UInt32,
    window_start DateTime MATERIALIZED toDateTime(intDiv(window_start_ms, 1000)),
    measured_j Float64,
    idle_j Float64,
    dynamic_j Float64,
    attributed_j Float64,
    unattributed_j Float64,
    estimated_j Float64,
    node_deficit_j Float64,
    active_requests UInt32,
    flags Array(String),
    version UInt64,
    method_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDateTime(intDiv(window_start_ms, 1000)))
ORDER BY (host, device_group, window_start_ms);
