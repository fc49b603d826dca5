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
-- The pricing CTEs live in sql/footprint.sql (shared with end_to_end_footprint_of in rollup.sql);
-- warehouse/views.py splices them in after the WITH below (the marker in capitals).
CREATE OR REPLACE MACRO asset_footprint_at(pinned_version) AS TABLE
WITH __FOOTPRINT_CTES__
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
