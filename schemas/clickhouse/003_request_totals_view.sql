-- A query served by several hosts has one row per host; this view sums them by request id.
CREATE VIEW IF NOT EXISTS request_energy_total AS
SELECT
    request_id,
    groupUniqArray(host) AS hosts,
    any(model) AS model,
    any(tenant) AS tenant,
    min(t_start_ms) AS t_start_ms,
    max(t_end_ms) AS t_end_ms,
    max(prompt_tokens) AS prompt_tokens,
    max(completion_tokens) AS completion_tokens,
    sum(it_j) AS it_j,
    sum(facility_j) AS facility_j,
    sum(estimated_j) AS estimated_j,
    sum(embodied_g) AS embodied_g,
    sum(co2e_location_g) AS co2e_location_g,
    sum(co2e_market_g) AS co2e_market_g
FROM request_energy FINAL
GROUP BY request_id;
