-- Online calibration (decision record 0016): the kappa each request row was attributed with, and
-- the fits the joiner made; the 90 % error bars of each row (same record). Rows written
-- before this migration read kappa 0 (not recorded) and bounds equal to their point values.
ALTER TABLE request_energy
    ADD COLUMN kappa Float64 DEFAULT 0,
    ADD COLUMN accelerator_dynamic_lo_j Float64 DEFAULT accelerator_dynamic_j,
    ADD COLUMN accelerator_dynamic_hi_j Float64 DEFAULT accelerator_dynamic_j,
    ADD COLUMN facility_lo_j Float64 DEFAULT facility_j,
    ADD COLUMN facility_hi_j Float64 DEFAULT facility_j,
    ADD COLUMN co2e_location_lo_g Float64 DEFAULT co2e_location_g,
    ADD COLUMN co2e_location_hi_g Float64 DEFAULT co2e_location_g;

-- One row per (joiner group, model, epoch a fit takes effect from). A restarted joiner reads its
-- group's fits back and attributes every window with the fit in effect at the window's start, so
-- a replay rebuilds the same rows. A rewrite of the same key (a replay that refits) is identical.
CREATE TABLE IF NOT EXISTS kappa_fits
(
    fitter String,
    model String,
    effective_from_ms UInt64,
    from_ms UInt64,
    to_ms UInt64,
    kappa Float64,
    kappa_std_err Float64,
    r2 Float64,
    windows UInt32,
    prefill_j_per_token Float64,
    decode_j_per_token Float64,
    prefill_tokens_per_s Float64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (fitter, model, effective_from_ms);
