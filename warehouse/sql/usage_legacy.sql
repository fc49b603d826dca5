-- Refresh the legacy rows of device_usage (origin 'legacy') for the materializations with energy
-- readings in the new energy_reading rows, from energy_reading_latest (merged first, by energy_latest.sql).
-- These are the per-window readings of versions before 2026-12, each window charged whole devices (as
-- recorded; the ledger's attribution did not exist yet). Re-estimable where the reading kept its usage:
--   CPU model readings ('cpu-model:...;cpu_s=N'): power_use = N CPU-seconds (thread-seconds), priced by
--     the card's CPU power model for an unknown processor (the readings did not record it);
--   RAM model readings ('ram-model:w_per_gb=W;...'): power_use = energy_j / W GB-seconds;
--   measured readings keep their joules; anything else keeps its recorded joules as measured-like.
-- device_index -1 ("no such device here") is neither energy nor billed; other 'unavailable' readings
-- are unknown energy.
CREATE OR REPLACE TEMP TABLE usage_scope AS SELECT DISTINCT materialization_id FROM __NEW(energy_reading)__;

DELETE FROM device_usage
WHERE origin = 'legacy' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO device_usage
WITH r AS (
  SELECT l.*, e.source,
         TRY_CAST(regexp_extract(e.source, 'cpu_s=([0-9.eE+-]+)', 1) AS DOUBLE) AS cpu_s,
         TRY_CAST(regexp_extract(e.source, 'w_per_gb=([0-9.eE+-]+)', 1) AS DOUBLE) AS w_per_gb
  FROM energy_reading_latest l
  JOIN energy_reading e ON e.window_id = l.window_id AND e.device_kind = l.device_kind
                       AND e.device_index = l.device_index AND e.host = l.host AND e.seq = l.seq
  WHERE l.materialization_id IN (SELECT materialization_id FROM usage_scope) AND l.device_index >= 0
),
q AS (
  SELECT *,
         CASE WHEN method = 'estimated' AND device_kind = 'cpu' AND cpu_s IS NOT NULL THEN cpu_s
              WHEN method = 'estimated' AND device_kind = 'ram' AND w_per_gb > 0 THEN energy_j / w_per_gb
         END AS power_use
  FROM r
)
SELECT materialization_id, host, device_kind, device_index, '', 'legacy',
       any_value(device_name), 'unknown',
       sum(CASE WHEN power_use IS NULL THEN energy_j END), sum(power_use), sum(duration_s),
       count(*), count(*) FILTER (WHERE method = 'unavailable'), 0,
       min(method) FILTER (WHERE method <> 'unavailable'), max(method) FILTER (WHERE method <> 'unavailable'),
       NULL, max(measured_at), any_value(node)
FROM q JOIN lineage_node n USING (materialization_id)
GROUP BY materialization_id, host, device_kind, device_index;

INSERT INTO derived_touched SELECT materialization_id FROM usage_scope;

DROP TABLE usage_scope;
