-- Agent runs: the calls of one run (one trace) and of one conversation or session can be grouped.
-- Rows written before this migration read as '' (no run known).
ALTER TABLE request_energy
    ADD COLUMN trace_id String DEFAULT '',
    ADD COLUMN conversation_id String DEFAULT '',
    ADD COLUMN agent_name String DEFAULT '';

-- The hosts as configured (written by the rollup service from the fleet file, like facility_info):
-- what the hardware views need to compare accelerators serving the same model.
CREATE TABLE IF NOT EXISTS host_info
(
    host String,
    facility String,
    accelerator String,
    gpu_count UInt16,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY host;
