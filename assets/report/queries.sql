-- Queries of the footprint report. Each block starts with `-- name: <name>` and runs on a read-only
-- connection after `lineage` has filled the temp table report_lineage (the materialization handed to
-- the report and every upstream materialization it consumed, via lineage_edge: exact ids, never
-- "the latest"). Views and macros come from warehouse/sql/{views,rollup}.sql.

-- name: lineage
-- lineage_weights_from (warehouse/sql/rollup.sql) walks lineage_edge up from the root, itself included.
CREATE OR REPLACE TEMP TABLE report_lineage AS
SELECT upstream_materialization_id AS materialization_id, min_depth AS depth, weight
FROM lineage_weights_from(?::VARCHAR);

-- name: per_asset
SELECT a.*
FROM asset_footprint a JOIN report_lineage l USING (materialization_id)
ORDER BY a.started_at, a.asset_key;

-- name: end_to_end
-- The macro, not a WHERE on the view: a filter on the view is not pushed into the recursive walk.
SELECT * FROM end_to_end_footprint_of(?::VARCHAR);

-- name: data_requirement
SELECT d.*
FROM data_requirement d JOIN report_lineage l USING (materialization_id)
ORDER BY d.started_at, d.asset_key;

-- name: energy_by_device
-- Device energy at the device (before PUE; network E_data is not a device), as charged to this
-- lineage by the host ledger's attribution (device_footprint: measured joules x share, estimated use x
-- the card's watts). A device whose energy or share is unknown adds nothing here and is counted.
SELECT d.device_kind,
       CASE WHEN d.method_min IS NULL THEN 'unavailable' WHEN d.method_min = d.method_max THEN d.method_min
            ELSE 'mixed' END AS method,
       sum(d.energy_j_known) / 3.6e6 AS energy_kwh,
       sum(d.seconds) AS device_s,
       count(*) AS devices,
       count(*) FILTER (WHERE d.energy_unknown OR d.share_unknown OR (d.power_use > 0 AND d.watts IS NULL))
         AS unavailable_readings
FROM device_footprint d JOIN report_lineage l USING (materialization_id)
GROUP BY ALL
ORDER BY 1, 2;

-- name: labeling_spend
-- labeling_spend (views.sql) per annotator and UTC day, restricted to this lineage: the same rows and
-- prices, grouped from the annotation versions the lineage's materializations recorded. An annotation
-- without a valid lead time has unknown time: counted in unknown_time, the day's figures NULL (the
-- `_at_least` columns sum the known ones).
SELECT CAST(CAST(timezone('UTC', a.created_at) AS DATE) AS VARCHAR) AS day, a.annotator, a.project,
       count(*) AS annotations,
       count(*) FILTER (WHERE a.was_cancelled) AS skipped,
       count(*) FILTER (WHERE a.lead_time_s IS NULL) AS unknown_time,
       CASE WHEN count(*) FILTER (WHERE a.lead_time_s IS NULL) = 0 THEN sum(a.lead_time_s) / 3600.0 END
         AS hours_raw,
       CASE WHEN count(*) FILTER (WHERE a.lead_time_s IS NULL) = 0 THEN sum(a.active_s) / 3600.0 END
         AS hours_active,
       CASE WHEN count(*) FILTER (WHERE a.lead_time_s IS NULL) = 0
            THEN sum(a.active_s / 3600.0 * coalesce(ra.value, rd.value)) END AS cost_usd,
       coalesce(sum(a.active_s) FILTER (WHERE a.lead_time_s IS NOT NULL), 0) / 3600.0 AS hours_active_at_least,
       coalesce(sum(a.active_s / 3600.0 * coalesce(ra.value, rd.value)) FILTER (WHERE a.lead_time_s IS NOT NULL),
                0) AS cost_usd_at_least
FROM annotation_work_latest a
JOIN report_lineage l USING (materialization_id)
JOIN materialization_status m USING (materialization_id)
LEFT JOIN rate ra ON ra.version = m.rate_card_in_force AND ra.key = 'annotator_usd_per_hour'
                 AND ra.subject = a.annotator
LEFT JOIN rate rd ON rd.version = m.rate_card_in_force AND rd.key = 'annotator_usd_per_hour'
                 AND rd.subject = ''
GROUP BY ALL
ORDER BY day, annotator, project;

-- name: labeling_burndown
-- One point per annotation (by creation time) of this lineage: cumulative active hours and USD.
WITH priced AS (
  -- an annotation whose time is unknown adds no hours or cost (it is counted in labeling_spend)
  SELECT a.created_at, coalesce(a.active_s, 0) / 3600.0 AS hours_active,
         coalesce(a.active_s, 0) / 3600.0 * coalesce(ra.value, rd.value) AS cost_usd
  FROM annotation_work_latest a
  JOIN report_lineage l USING (materialization_id)
  JOIN materialization_status m USING (materialization_id)
  LEFT JOIN rate ra ON ra.version = m.rate_card_in_force AND ra.key = 'annotator_usd_per_hour'
                   AND ra.subject = a.annotator
  LEFT JOIN rate rd ON rd.version = m.rate_card_in_force AND rd.key = 'annotator_usd_per_hour'
                   AND rd.subject = ''
)
SELECT created_at AS at,
       sum(hours_active) OVER w AS cumulative_hours_active,
       sum(cost_usd) OVER w AS cumulative_usd,
       count(*) OVER w AS cumulative_annotations,
       count(*) OVER () - count(*) OVER w AS annotations_left
FROM priced
WINDOW w AS (ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY created_at;

-- name: quality
-- The final quality figures (warehouse/sql/quality.sql: step NULL, else the highest step) of the
-- materialization handed to the report and of every baseline it was compared with.
SELECT q.*
FROM model_quality q
WHERE q.materialization_id = ?::VARCHAR
   OR q.materialization_id IN (SELECT upstream_materialization_id FROM lineage_edge
                               WHERE materialization_id = ?::VARCHAR AND relation = 'compared_with')
ORDER BY q.materialization_id, q.split, q.name, q.label NULLS FIRST;

-- name: comparison
-- The macro, not a WHERE on the view: its end-to-end walk then runs for this model only.
SELECT * FROM model_vs_baseline_of(?::VARCHAR) ORDER BY baseline_materialization_id;

-- name: comparison_per_class
SELECT * FROM model_vs_baseline_per_class WHERE model_materialization_id = ?::VARCHAR
ORDER BY baseline_materialization_id, label;

-- name: baseline_footprint
-- The baselines' own footprints: compared with, not consumed, so not in the lineage's.
SELECT a.*
FROM asset_footprint a
WHERE a.materialization_id IN (SELECT upstream_materialization_id FROM lineage_edge
                               WHERE materialization_id = ?::VARCHAR AND relation = 'compared_with')
ORDER BY a.started_at;
