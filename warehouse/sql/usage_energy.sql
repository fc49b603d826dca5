-- Refresh the 'device' and 'meter' rows of materialization_usage for the materializations with readings in
-- __SOURCE__ (new batch files, or all of energy_reading on a rebuild), from energy_reading_latest
-- (merged first, by energy_latest.sql). device_index -1 ("no such device here") adds its energy but
-- is never billed and does not count towards the energy method.
CREATE OR REPLACE TEMP TABLE usage_scope AS SELECT DISTINCT materialization_id FROM __SOURCE__;

DELETE FROM materialization_usage
WHERE kind IN ('device', 'meter') AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO materialization_usage
SELECT materialization_id, 'device', 'device_usd_per_hour', device_name, device_kind,
       sum(energy_j),
       coalesce(sum(duration_s) FILTER (WHERE device_index >= 0), 0),
       count(*) FILTER (WHERE device_index >= 0),
       min(method) FILTER (WHERE device_index >= 0), max(method) FILTER (WHERE device_index >= 0),
       max(measured_at), 0, 0
FROM energy_reading_latest
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id, device_name, device_kind;

-- One 'meter' row per materialization: whether any device was really metered (billable_readings 1/0),
-- the range of methods of its billable readings, and its last heartbeat (how long an incomplete
-- materialization lasted at least).
INSERT INTO materialization_usage
SELECT materialization_id, 'meter', NULL, '', '', NULL, NULL,
       CASE WHEN count(*) FILTER (WHERE device_index >= 0) > 0 THEN 1 ELSE 0 END,
       min(method) FILTER (WHERE device_index >= 0), max(method) FILTER (WHERE device_index >= 0),
       max(measured_at), 0, 0
FROM energy_reading_latest
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id;

DROP TABLE usage_scope;
