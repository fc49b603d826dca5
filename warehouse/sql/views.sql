-- The analyst contract: money, energy and carbon DERIVED from facts x the rate card in force.
-- Nothing here is stored; every statement is idempotent (created by warehouse/views.py).
--
-- Cost model (per materialization; names as in the README):
--   C         = C_person + C_hardware + C_labeling, with the energy bill shown beside them:
--               cost_usd = cost_person_usd + cost_hardware_usd + cost_labeling_usd + cost_energy_usd
--               (on a cloud instance whose price already includes power, load a card with
--               electricity_usd_per_kwh 0 so energy is not paid twice).
--   C_person   = person_time hours x person_usd_per_hour (the person's own rate, else the default)
--   C_hardware = device seconds / 3600 x device_usd_per_hour (subject = device model, else kind)
--   C_labeling = active annotation hours (newest updated_at per annotation_id) x
--                annotator_usd_per_hour (the annotator's own rate, else the default)
--   C_energy   = E_compute x electricity_usd_per_kwh (network energy E_data is not on our bill)
--   E          = E_compute + E_data
--   E_compute  = k_compute (pue) x device energy (newest seq per window and device; 'unavailable'
--                readings add no energy but make energy_method 'mixed'/'unavailable')
--   E_data     = network-scope transfer bytes / 1e9 x data_kwh_per_gb (local I/O is in bytes_moved
--                only: its energy is already inside the host's device energy)
--   carbon     = E x grid_gco2e_per_kwh / 1000 (kg)
-- Rate card in force = the version with the latest effective_from <= started_at (ties: the higher
-- version); a materialization older than every card uses the earliest card.

-- Rate cards ----------------------------------------------------------------------------------------
CREATE OR REPLACE VIEW rate_card_timeline AS
SELECT effective_from, max(version) AS version FROM rate_card_version GROUP BY effective_from;

-- Each version's period [valid_from, valid_until): the earliest card also covers all time before it.
CREATE OR REPLACE VIEW rate_card_period AS
SELECT version, effective_from,
       CASE WHEN row_number() OVER (ORDER BY effective_from) = 1 THEN '-infinity'::TIMESTAMPTZ
            ELSE effective_from END AS valid_from,
       coalesce(lead(effective_from) OVER (ORDER BY effective_from), 'infinity'::TIMESTAMPTZ) AS valid_until
FROM rate_card_timeline;

CREATE OR REPLACE VIEW rate_card_scalar AS
SELECT version,
       any_value(value) FILTER (WHERE key = 'electricity_usd_per_kwh') AS electricity_usd_per_kwh,
       any_value(value) FILTER (WHERE key = 'pue') AS pue,
       any_value(value) FILTER (WHERE key = 'grid_gco2e_per_kwh') AS grid_gco2e_per_kwh,
       any_value(value) FILTER (WHERE key = 'data_kwh_per_gb') AS data_kwh_per_gb,
       any_value(value) FILTER (WHERE key = 'storage_usd_per_gb_month') AS storage_usd_per_gb_month,
       any_value(value) FILTER (WHERE key = 'storage_kwh_per_gb_month') AS storage_kwh_per_gb_month,
       any_value(value) FILTER (WHERE key = 'storage_holding_months') AS storage_holding_months,
       any_value(value) FILTER (WHERE key = 'transfer_usd_per_gb') AS transfer_usd_per_gb
FROM rate WHERE subject = '' GROUP BY version;

-- Facts, superseded where the contract says so ---------------------------------------------------------
-- materialization_id is the primary key of `materialization` and `materialization_outcome`.
CREATE OR REPLACE VIEW materialization_status AS
SELECT m.* EXCLUDE (fact_id, batch_id), coalesce(o.status, 'incomplete') AS status, o.ended_at, o.error,
       p.version AS rate_card_in_force
FROM materialization m
LEFT JOIN materialization_outcome o USING (materialization_id)  -- primary key: at most one
JOIN rate_card_period p ON m.started_at >= p.valid_from AND m.started_at < p.valid_until;

-- The newest version of each annotation; a version recorded in several batches counts once, for the
-- first batch that recorded it (batch ids sort by creation time; the work was done once).
CREATE OR REPLACE VIEW annotation_work_latest AS
SELECT * FROM annotation_work
QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY updated_at DESC, batch_id, fact_id) = 1;

-- lineage_graph (a derived table, see schema.sql) holds each edge once; this counts, per upstream,
-- how many distinct materializations consumed it (the allocation divisor).
CREATE OR REPLACE VIEW lineage_consumers AS
SELECT upstream_materialization_id, count(*) AS consumers
FROM lineage_graph GROUP BY upstream_materialization_id;

-- asset_footprint ------------------------------------------------------------------------------------
-- asset_footprint_at(NULL) prices each materialization with the card in force; asset_footprint_at(3)
-- re-prices all history with version 3.
-- end_to_end_footprint_of (rollup.sql) applies the same formulas to sums of usage over a lineage
-- walk: change both together (tests/warehouse/test_rollup_pricing.py checks they agree).
-- The last CTE, `fp`, has the asset_footprint columns.
CREATE OR REPLACE MACRO asset_footprint_at(pinned_version) AS TABLE
WITH mat AS MATERIALIZED (
  SELECT materialization_id, run_id, asset_key, partition_key, status, started_at, ended_at,
         coalesce(pinned_version, rate_card_in_force) AS rate_card_version
  FROM materialization_status
),
use AS (  -- per materialization: its usage (materialization_usage) x the rates of its card
  -- C_hardware is NULL when a billed device has no rate (never a silent 0); a device row with no
  -- billable readings (device_index -1: "no such device here") is never billed
  SELECT u.materialization_id,
         sum(u.energy_j) FILTER (WHERE u.kind = 'device') / 3.6e6 AS device_kwh,
         CASE WHEN bool_and(coalesce(rs.value, rf.value) IS NOT NULL)
                   FILTER (WHERE u.kind = 'device' AND u.billable_readings > 0) IS NOT FALSE
              THEN coalesce(sum(u.seconds / 3600.0 * coalesce(rs.value, rf.value))
                            FILTER (WHERE u.kind = 'device' AND u.billable_readings > 0), 0) END
           AS cost_hardware_usd,
         CASE WHEN coalesce(max(u.billable_readings) FILTER (WHERE u.kind = 'meter'), 0) = 0 THEN 'unavailable'
              WHEN min(u.method_min) FILTER (WHERE u.kind = 'meter') = max(u.method_max) FILTER (WHERE u.kind = 'meter')
              THEN min(u.method_min) FILTER (WHERE u.kind = 'meter') ELSE 'mixed' END
           AS energy_method,
         max(u.last_measured_at) FILTER (WHERE u.kind = 'meter') AS last_measured_at,
         sum(u.bytes_moved) FILTER (WHERE u.kind = 'transfer') AS bytes_moved,
         sum(u.network_bytes) FILTER (WHERE u.kind = 'transfer') AS network_bytes,
         sum(u.seconds) FILTER (WHERE u.kind = 'annotation') / 3600.0 AS labeling_hours,
         sum(u.seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE u.kind = 'annotation')
           AS cost_labeling_usd,  -- C_labeling
         sum(u.seconds) FILTER (WHERE u.kind = 'person') / 3600.0 AS person_hours,
         sum(u.seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE u.kind = 'person')
           AS cost_person_usd  -- C_person
  FROM materialization_usage u JOIN mat USING (materialization_id)
  -- the subject's own rate (device model, annotator, person), else the fallback (device kind, default)
  LEFT JOIN rate rs ON rs.version = mat.rate_card_version AND rs.key = u.rate_key AND rs.subject = u.subject
  LEFT JOIN rate rf ON rf.version = mat.rate_card_version AND rf.key = u.rate_key
                   AND rf.subject = u.fallback_subject
  GROUP BY u.materialization_id
),
e AS (
  SELECT mat.*, sc.pue, sc.data_kwh_per_gb, sc.grid_gco2e_per_kwh, sc.electricity_usd_per_kwh,
         coalesce(use.device_kwh, 0) AS device_kwh,
         sc.pue * coalesce(use.device_kwh, 0) AS e_compute_kwh,
         coalesce(use.network_bytes, 0) / 1e9 * sc.data_kwh_per_gb AS e_data_kwh,
         CASE WHEN use.materialization_id IS NULL THEN 0 ELSE use.cost_hardware_usd END AS cost_hardware_usd,
         coalesce(use.energy_method, 'unavailable') AS energy_method,
         coalesce(use.bytes_moved, 0) AS bytes_moved, coalesce(use.network_bytes, 0) AS network_bytes,
         coalesce(use.labeling_hours, 0) AS labeling_hours,
         coalesce(use.cost_labeling_usd, 0) AS cost_labeling_usd,
         coalesce(use.person_hours, 0) AS person_hours, coalesce(use.cost_person_usd, 0) AS cost_person_usd,
         use.last_measured_at
  FROM mat
  JOIN rate_card_scalar sc ON sc.version = mat.rate_card_version
  LEFT JOIN use USING (materialization_id)
),
fp AS (
  SELECT materialization_id, run_id, asset_key, status, started_at,
         -- an incomplete materialization lasted at least until its last heartbeat
         (epoch_us(coalesce(ended_at, last_measured_at)) - epoch_us(started_at)) / 1e6 AS duration_s,
         e_compute_kwh + e_data_kwh AS energy_kwh,
         energy_method,
         (e_compute_kwh + e_data_kwh) * grid_gco2e_per_kwh / 1000.0 AS co2e_kg,
         bytes_moved,
         labeling_hours + person_hours AS human_hours,
         cost_person_usd,
         cost_hardware_usd,
         e_compute_kwh * electricity_usd_per_kwh AS cost_energy_usd,
         cost_labeling_usd,
         cost_person_usd + cost_hardware_usd + cost_labeling_usd + e_compute_kwh * electricity_usd_per_kwh
           AS cost_usd,
         -- helpful extras (not part of the minimal contract)
         partition_key, ended_at, device_kwh, e_compute_kwh, e_data_kwh, network_bytes,
         labeling_hours, person_hours, rate_card_version
  FROM e
)
SELECT * FROM fp;

CREATE OR REPLACE VIEW asset_footprint AS SELECT * FROM asset_footprint_at(NULL);

-- labeling_spend ---------------------------------------------------------------------------------------
-- Per annotator, project and UTC day the annotation was created; priced like C_labeling, so the sum of
-- cost_usd equals the sum of asset_footprint.cost_labeling_usd.
CREATE OR REPLACE VIEW labeling_spend AS
SELECT a.annotator, a.project, CAST(timezone('UTC', a.created_at) AS DATE) AS day,
       count(*) AS annotations,
       count(*) FILTER (WHERE a.was_cancelled) AS skipped,
       coalesce(sum(a.lead_time_s), 0) / 3600.0 AS hours_raw,
       sum(a.active_s) / 3600.0 AS hours_active,
       sum(a.active_s / 3600.0 * coalesce(ra.value, rd.value)) AS cost_usd
FROM annotation_work_latest a
JOIN materialization_status m USING (materialization_id)
LEFT JOIN rate ra ON ra.version = m.rate_card_in_force AND ra.key = 'annotator_usd_per_hour'
                 AND ra.subject = a.annotator
LEFT JOIN rate rd ON rd.version = m.rate_card_in_force AND rd.key = 'annotator_usd_per_hour'
                 AND rd.subject = ''
GROUP BY ALL;
