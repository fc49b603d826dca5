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
-- rate_card_period (each version's [valid_from, valid_until)) and rate_card_scalar (the scalar rates of
-- each version, one column each) are small tables refreshed whenever a card is stored
-- (sql/rate_tables.sql, warehouse.ratecard_store.refresh_rate_tables): every query joins them, and
-- a table costs the planner far less than the window and pivot they hold.

-- E_data coefficient for a transfer made in `year` under card values: the coefficient of its year,
-- scaled by the source's trend (halving every `halving_years`; 0 = no trend).
CREATE OR REPLACE MACRO data_kwh_per_gb_in(coefficient, coefficient_year, halving_years, year) AS
  CASE WHEN coalesce(halving_years, 0) = 0 OR coefficient_year IS NULL OR year IS NULL THEN coefficient
       ELSE coefficient * pow(2.0, -(year - coefficient_year) / halving_years) END;

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

-- Attribution (docs/warehouse.md, "Attribution") ------------------------------------------------------
-- Each window's share of each host interval of each device, from the ledger facts. A share is a
-- fraction of the device over the interval:
--   split 'capacity'    (CPU, RAM) the window's use / the device's capacity (thread-seconds, GB-seconds);
--   split 'utilization' (GPU) its processes' utilisation / all processes' utilisation on the device;
--   split 'even'        (GPU) 1 / holders for a window holding a process on it, else 0;
--   split 'unknown', or use unknown: NULL (who used the device is unknown).
CREATE OR REPLACE VIEW ledger_share AS
SELECT u.tick_id, u.host, u.device_kind, u.device_index, u.window_id, u.materialization_id,
       w.role, w.name AS window_name, coalesce(w.uses_services, '') AS uses_services,
       d.device_name, d.power_model, d.started_at, d.ended_at, d.duration_s, d.unit, d.capacity, d.busy,
       d.holders, d.split, d.method, d.energy_j AS device_energy_j, u.use, u.holds,
       CASE d.split
         WHEN 'even' THEN CASE WHEN u.holds AND d.holders > 0 THEN 1.0 / d.holders ELSE 0.0 END
         WHEN 'capacity' THEN CASE WHEN u.use IS NULL THEN NULL WHEN d.capacity > 0 THEN u.use / d.capacity
                                   ELSE 0.0 END
         WHEN 'utilization' THEN CASE WHEN u.use IS NULL THEN NULL WHEN d.busy > 0 THEN u.use / d.busy
                                      ELSE 0.0 END
       END AS share
FROM window_usage u
-- a tick id is a UUID of one host's tick: host need not be compared
JOIN device_interval d ON d.tick_id = u.tick_id AND d.device_kind = u.device_kind
                      AND d.device_index = u.device_index
LEFT JOIN meter_window w USING (window_id);

-- What each materialization is charged of each interval: its own windows' shares, and the shares of
-- the service windows (e.g. the managed Label Studio) that its windows name in uses_services, split
-- evenly among the windows open in that interval that use the service. Per charge:
--   seconds   device-seconds billed = interval x share;
--   energy_j  measured joules = the counter's delta x share (method 'measured');
--   power_use estimated use = capacity x share in the device's unit (method 'estimated'), priced into
--             joules by the card's power model (CPU at max watts per busy thread, RAM per GB);
--   energy_unknown: the share is unknown, or a device read 'unavailable' is charged.
CREATE OR REPLACE VIEW ledger_charge AS
WITH consumer AS (  -- from the few windows that use a service (not the whole of ledger_share)
  SELECT DISTINCT u.tick_id, u.host, u.window_id, u.materialization_id,
         trim(unnest(string_split(w.uses_services, ','))) AS service
  FROM meter_window w JOIN window_usage u USING (window_id)
  WHERE w.uses_services <> '' AND u.materialization_id IS NOT NULL
),
consumers AS (
  SELECT *, count(*) OVER (PARTITION BY tick_id, host, service) AS n FROM consumer WHERE service <> ''
),
charge AS (
  SELECT tick_id, host, device_kind, device_index, materialization_id, window_id, '' AS service,
         device_name, power_model, started_at, ended_at, duration_s, capacity, method, device_energy_j, share
  FROM ledger_share WHERE materialization_id IS NOT NULL
  UNION ALL
  SELECT s.tick_id, s.host, s.device_kind, s.device_index, c.materialization_id, c.window_id, s.window_name,
         s.device_name, s.power_model, s.started_at, s.ended_at, s.duration_s, s.capacity, s.method,
         s.device_energy_j, s.share / c.n
  FROM ledger_share s JOIN consumers c ON c.tick_id = s.tick_id AND c.host = s.host AND c.service = s.window_name
  WHERE s.role = 'service'
)
SELECT *,
       duration_s * share AS seconds,
       CASE WHEN method = 'measured' THEN device_energy_j * share END AS energy_j,
       CASE WHEN method = 'estimated' THEN capacity * share END AS power_use,
       share IS NULL OR (method = 'unavailable' AND share > 0) AS energy_unknown
FROM charge;

-- Every host interval, device by device, split into what each materialization was charged, the use
-- of a service no window used in that interval ('service'), and the host's unattributed remainder
-- (idle capacity, processes outside every window, the product's own overhead): one auditable row each.
-- For every interval: sum(share) = 1, sum(seconds) = duration_s and sum(energy_j) = device_energy_j
-- (when known). Estimated energy (no counter) uses the card in force when the interval began: a CPU
-- charges max watts per busy thread-second and min per idle one (busy never below what the windows
-- used), RAM its watts per GB on all installed memory.
CREATE OR REPLACE VIEW device_attribution AS
WITH dev AS (
  SELECT d.tick_id, d.host, d.device_kind, d.device_index, d.device_name, d.power_model, d.started_at,
         d.ended_at, d.duration_s, d.capacity, d.busy, d.split, d.method, d.energy_j, p.version AS rate_card_version,
         CASE d.device_kind WHEN 'cpu' THEN coalesce(xm.value, xf.value) WHEN 'ram' THEN ram.value END AS watts_busy,
         CASE d.device_kind WHEN 'cpu' THEN coalesce(nm.value, nf.value) WHEN 'ram' THEN ram.value END AS watts_idle
  FROM device_interval d
  JOIN rate_card_period p ON d.started_at >= p.valid_from AND d.started_at < p.valid_until
  LEFT JOIN rate xm ON xm.version = p.version AND xm.key = 'cpu_watts_per_thread_max' AND xm.subject = d.power_model
  LEFT JOIN rate xf ON xf.version = p.version AND xf.key = 'cpu_watts_per_thread_max' AND xf.subject = ''
  LEFT JOIN rate nm ON nm.version = p.version AND nm.key = 'cpu_watts_per_thread_min' AND nm.subject = d.power_model
  LEFT JOIN rate nf ON nf.version = p.version AND nf.key = 'cpu_watts_per_thread_min' AND nf.subject = ''
  LEFT JOIN rate ram ON ram.version = p.version AND ram.key = 'ram_watts_per_gb' AND ram.subject = ''
),
used AS (  -- every window's share of the interval, services included (consumed or not)
  SELECT tick_id, host, device_kind, device_index, sum(use) AS use_sum, sum(share) AS share_sum,
         bool_or(share IS NULL) AS share_unknown
  FROM ledger_share GROUP BY ALL
),
total AS (
  SELECT dev.*, coalesce(used.share_sum, 0) AS share_sum, coalesce(used.share_unknown, FALSE) AS share_unknown,
         CASE dev.method
           WHEN 'measured' THEN dev.energy_j
           WHEN 'estimated' THEN
             greatest(coalesce(dev.busy, 0), coalesce(used.use_sum, 0)) * dev.watts_busy
             + greatest(dev.capacity - greatest(coalesce(dev.busy, 0), coalesce(used.use_sum, 0)), 0) * dev.watts_idle
         END AS device_energy_j
  FROM dev LEFT JOIN used USING (tick_id, host, device_kind, device_index)
),
charged AS (  -- materializations' charges (own windows and the services they use)
  SELECT c.tick_id, c.host, c.device_kind, c.device_index, 'window' AS party, c.materialization_id, c.window_id,
         c.service, c.share, c.seconds,
         CASE t.method WHEN 'measured' THEN c.energy_j WHEN 'estimated' THEN c.power_use * t.watts_busy END AS energy_j
  FROM ledger_charge c JOIN total t USING (tick_id, host, device_kind, device_index)
),
service_line AS (  -- a service's share in an interval where no window that uses it was open
  SELECT s.tick_id, s.host, s.device_kind, s.device_index, 'service' AS party, NULL AS materialization_id,
         s.window_id, s.window_name AS service, s.share, s.duration_s * s.share AS seconds,
         CASE t.method WHEN 'measured' THEN t.energy_j * s.share
                       WHEN 'estimated' THEN t.capacity * s.share * t.watts_busy END AS energy_j
  FROM ledger_share s JOIN total t USING (tick_id, host, device_kind, device_index)
  WHERE s.role = 'service'
    AND NOT EXISTS (SELECT 1 FROM ledger_charge c
                    WHERE c.tick_id = s.tick_id AND c.host = s.host AND c.service = s.window_name
                      AND c.device_kind = s.device_kind AND c.device_index = s.device_index)
),
parts AS (SELECT * FROM charged UNION ALL SELECT * FROM service_line),
remainder AS (
  SELECT t.tick_id, t.host, t.device_kind, t.device_index, 'unattributed' AS party, NULL AS materialization_id,
         NULL AS window_id, '' AS service,
         CASE WHEN NOT t.share_unknown THEN 1.0 - t.share_sum END AS share,
         CASE WHEN NOT t.share_unknown THEN t.duration_s * (1.0 - t.share_sum) END AS seconds,
         CASE WHEN NOT t.share_unknown THEN
           t.device_energy_j - coalesce((SELECT sum(p.energy_j) FROM parts p
                                         WHERE p.tick_id = t.tick_id AND p.host = t.host
                                           AND p.device_kind = t.device_kind AND p.device_index = t.device_index), 0)
         END AS energy_j
  FROM total t
)
SELECT t.tick_id, t.host, t.device_kind, t.device_index, t.device_name, t.started_at, t.ended_at, t.duration_s,
       t.method, t.split, t.rate_card_version, t.device_energy_j,
       r.party, r.materialization_id, r.window_id, r.service, r.share, r.seconds, r.energy_j
FROM (SELECT * FROM parts UNION ALL SELECT * FROM remainder) r
JOIN total t USING (tick_id, host, device_kind, device_index);

-- The host's unattributed remainder per hour and device, priced (OpenCost shows idle cost the same
-- way): never spread silently over the materializations. `party` 'unattributed' is idle capacity and
-- processes outside every window; 'service' is a service's use while nothing that uses it ran.
CREATE OR REPLACE VIEW host_unattributed AS
WITH g AS (
  SELECT a.host, date_trunc('hour', timezone('UTC', a.started_at)) AS hour_utc, a.device_kind, a.device_index,
         any_value(a.device_name) AS device_name, a.party, a.service,
         sum(a.seconds) AS device_s,
         sum(a.energy_j) / 3.6e6 AS device_kwh,
         sum(a.energy_j * sc.pue) / 3.6e6 AS energy_kwh,
         sum(a.energy_j * sc.pue * sc.grid_gco2e_per_kwh) / 3.6e9 AS co2e_kg,
         sum(a.seconds / 3600.0 * coalesce(rs.value, rf.value)) AS cost_hardware_usd,
         sum(a.energy_j * sc.pue / 3.6e6 * sc.electricity_usd_per_kwh) AS cost_energy_usd,
         count(*) FILTER (WHERE a.seconds IS NULL) AS intervals_share_unknown,
         count(*) FILTER (WHERE a.energy_j IS NULL) AS intervals_energy_unknown,
         count(*) AS intervals
  FROM device_attribution a
  JOIN rate_card_scalar sc ON sc.version = a.rate_card_version
  LEFT JOIN rate rs ON rs.version = a.rate_card_version AND rs.key = 'device_usd_per_hour'
                   AND rs.subject = a.device_name
  LEFT JOIN rate rf ON rf.version = a.rate_card_version AND rf.key = 'device_usd_per_hour'
                   AND rf.subject = a.device_kind
  WHERE a.party <> 'window'
  GROUP BY ALL
)
-- an hour with an interval of unknown share or energy: that figure is NULL (never the smaller sum)
SELECT host, hour_utc, device_kind, device_index, device_name, party, service,
       CASE WHEN intervals_share_unknown = 0 THEN device_s END AS device_s,
       CASE WHEN intervals_energy_unknown = 0 THEN device_kwh END AS device_kwh,
       CASE WHEN intervals_energy_unknown = 0 THEN energy_kwh END AS energy_kwh,
       CASE WHEN intervals_energy_unknown = 0 THEN co2e_kg END AS co2e_kg,
       CASE WHEN intervals_share_unknown = 0 THEN cost_hardware_usd END AS cost_hardware_usd,
       CASE WHEN intervals_energy_unknown = 0 THEN cost_energy_usd END AS cost_energy_usd,
       intervals, intervals_share_unknown + intervals_energy_unknown AS intervals_unknown
FROM g;

-- For users who charge idle to workloads: each interval's unattributed remainder split among the
-- materializations charged in it, in proportion to their shares. A separate, labelled figure: never
-- part of asset_footprint's totals.
CREATE OR REPLACE VIEW idle_share AS
WITH rem AS (
  SELECT tick_id, host, device_kind, device_index, seconds AS rem_s, energy_j AS rem_j
  FROM device_attribution WHERE party = 'unattributed'
),
w AS (
  SELECT a.*, sum(a.share) OVER (PARTITION BY a.tick_id, a.host, a.device_kind, a.device_index) AS window_shares
  FROM device_attribution a WHERE a.party = 'window'
)
SELECT w.materialization_id, w.device_kind,
       sum(r.rem_s * w.share / w.window_shares) AS idle_device_s,
       sum(r.rem_j * w.share / w.window_shares * sc.pue) / 3.6e6 AS idle_energy_kwh,
       sum(r.rem_j * w.share / w.window_shares * sc.pue * sc.grid_gco2e_per_kwh) / 3.6e9 AS idle_co2e_kg,
       sum(r.rem_s * w.share / w.window_shares / 3600.0 * coalesce(rs.value, rf.value)) AS idle_cost_hardware_usd
FROM w JOIN rem r USING (tick_id, host, device_kind, device_index)
JOIN rate_card_scalar sc ON sc.version = w.rate_card_version
LEFT JOIN rate rs ON rs.version = w.rate_card_version AND rs.key = 'device_usd_per_hour' AND rs.subject = w.device_name
LEFT JOIN rate rf ON rf.version = w.rate_card_version AND rf.key = 'device_usd_per_hour' AND rf.subject = w.device_kind
WHERE w.window_shares > 0
GROUP BY w.materialization_id, w.device_kind;

-- device_footprint_at(pinned_version): per materialization and device charged (device_usage), the
-- card's figures for it: the power model (`watts`: the processor family's max watts per busy thread,
-- else the card's default, `power_fallback`; RAM's watts per GB), the price (`usd_per_hour`: the
-- device model's, else its kind's), the energy known (`energy_j_known` = measured + estimated use x
-- watts) and whether its energy or share is unknown. NULL pinned_version: the card in force at the
-- materialization's start. asset_footprint_at and the report read it; rollup.sql applies the same
-- lookups to sums.
CREATE OR REPLACE MACRO device_footprint_at(pinned_version, only_touched := FALSE) AS TABLE
SELECT du.materialization_id, du.host, du.device_kind, du.device_index, du.service, du.origin, du.device_name,
       du.power_model, du.energy_j, du.power_use, du.seconds, du.intervals, du.method_min, du.method_max,
       du.first_at, du.last_at, mat.rate_card_version,
       du.energy_unknown > 0 AS energy_unknown, du.share_unknown > 0 AS share_unknown,
       coalesce(pm.value, pf.value, pr.value) AS watts, coalesce(pm.value, pr.value) IS NULL AS power_fallback,
       coalesce(rs.value, rf.value) AS usd_per_hour,
       coalesce(du.energy_j, 0) + coalesce(du.power_use * coalesce(pm.value, pf.value, pr.value), 0)
         AS energy_j_known
FROM device_usage du
JOIN (SELECT materialization_id, coalesce(pinned_version, rate_card_in_force) AS rate_card_version
      FROM materialization_status
      WHERE NOT only_touched OR materialization_id IN (SELECT materialization_id FROM derived_touched)) mat
  USING (materialization_id)
-- the power model: the processor family's own, else the card's default (`pf`), RAM's per GB (`pr`)
LEFT JOIN rate pm ON pm.version = mat.rate_card_version AND du.device_kind = 'cpu'
                 AND pm.key = 'cpu_watts_per_thread_max' AND pm.subject = du.power_model
LEFT JOIN rate pf ON pf.version = mat.rate_card_version AND du.device_kind = 'cpu'
                 AND pf.key = 'cpu_watts_per_thread_max' AND pf.subject = ''
LEFT JOIN rate pr ON pr.version = mat.rate_card_version AND du.device_kind = 'ram'
                 AND pr.key = 'ram_watts_per_gb' AND pr.subject = ''
-- the price: the device model's own, else its kind's
LEFT JOIN rate rs ON rs.version = mat.rate_card_version AND rs.key = 'device_usd_per_hour'
                 AND rs.subject = du.device_name
LEFT JOIN rate rf ON rf.version = mat.rate_card_version AND rf.key = 'device_usd_per_hour'
                 AND rf.subject = du.device_kind;

CREATE OR REPLACE VIEW device_footprint AS SELECT * FROM device_footprint_at(NULL);

-- asset_footprint ------------------------------------------------------------------------------------
-- asset_footprint_at(NULL) prices each materialization with the card in force; asset_footprint_at(3)
-- re-prices all history with version 3. node_footprint caches asset_footprint_at(NULL) on nodes for
-- the roll-up (warehouse.views keeps it: refreshed for what each merge touched, rebuilt when a card is
-- stored or these views change; tests check cache and view agree).
-- end_to_end_footprint_of (rollup.sql) applies the same formulas to sums of usage over a lineage
-- walk: change both together (tests/warehouse/test_rollup_pricing.py checks they agree).
--
-- Unknown is NULL, never 0. Each figure whose parts are not all known is NULL; `*_at_least` columns
-- sum the known parts (NULL when none is), and `unknown_parts` counts what is unknown, detailed in
-- `unknown_detail`: a materialization never metered (1), a device charged with unknown energy or an
-- unknown share (1 per device), a device billed without a price in its card (1 per device), an
-- annotation without a valid lead time (1 each).
CREATE OR REPLACE MACRO asset_footprint_at(pinned_version, only_touched := FALSE) AS TABLE
WITH mat AS MATERIALIZED (
  SELECT materialization_id, run_id, asset_key, partition_key, status, started_at, ended_at,
         coalesce(pinned_version, rate_card_in_force) AS rate_card_version
  FROM materialization_status
  -- only_touched: the materializations a merge touched (derived_touched), to refresh node_footprint
  WHERE NOT only_touched OR materialization_id IN (SELECT materialization_id FROM derived_touched)
),
dev_rows AS (SELECT * FROM device_footprint_at(pinned_version, only_touched := only_touched)),
dev AS (
  SELECT materialization_id,
         sum(energy_j_known) / 3.6e6 AS device_kwh_known,
         count(*) FILTER (WHERE energy_unknown OR (power_use > 0 AND watts IS NULL)) AS energy_unknown,
         sum(seconds / 3600.0 * usd_per_hour) FILTER (WHERE seconds > 0) AS cost_hardware_known,
         count(*) FILTER (WHERE share_unknown OR (seconds > 0 AND usd_per_hour IS NULL)) AS hardware_unknown,
         count(*) FILTER (WHERE energy_unknown OR share_unknown OR (power_use > 0 AND watts IS NULL)
                                OR (seconds > 0 AND usd_per_hour IS NULL)) AS unknown_devices,
         nullif(concat_ws('; ',
           string_agg(DISTINCT CASE WHEN share_unknown THEN device_kind || ':' || device_index
                                                            || ' used by unknown processes' END, '; '),
           string_agg(DISTINCT CASE WHEN energy_unknown AND NOT share_unknown
                                    THEN device_kind || ':' || device_index || ' energy unavailable' END, '; '),
           string_agg(DISTINCT CASE WHEN power_use > 0 AND watts IS NULL
                                    THEN device_kind || ':' || device_index || ' has no power model' END, '; '),
           string_agg(DISTINCT CASE WHEN seconds > 0 AND usd_per_hour IS NULL
                                    THEN device_kind || ':' || device_index || ' has no price' END, '; ')),
           '') AS detail,
         bool_or(power_use > 0 AND power_fallback) AS power_fallback,
         min(method_min) AS method_min, max(method_max) AS method_max,
         max(last_at) AS last_measured_at
  FROM dev_rows GROUP BY materialization_id
),
other AS (  -- annotation, person and transfer usage (materialization_usage)
  SELECT u.materialization_id,
         sum(u.seconds) FILTER (WHERE u.kind = 'annotation') / 3600.0 AS labeling_hours_known,
         coalesce(sum(u.unknown) FILTER (WHERE u.kind = 'annotation'), 0) AS annotations_unknown,
         sum(u.seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE u.kind = 'annotation')
           AS cost_labeling_known,  -- C_labeling
         sum(u.seconds) FILTER (WHERE u.kind = 'person') / 3600.0 AS person_hours,
         sum(u.seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE u.kind = 'person')
           AS cost_person_usd,  -- C_person
         sum(u.bytes_moved) FILTER (WHERE u.kind = 'transfer') AS bytes_moved,
         sum(u.network_bytes) FILTER (WHERE u.kind = 'transfer') AS network_bytes,
         sum(u.network_bytes / 1e9 * data_kwh_per_gb_in(sc.data_kwh_per_gb, sc.data_kwh_per_gb_year,
                                                        sc.data_kwh_per_gb_halving_years, u.transfer_year))
           FILTER (WHERE u.kind = 'transfer') AS e_data_kwh,
         max(u.transfer_year) FILTER (WHERE u.kind = 'transfer' AND u.network_bytes > 0) AS e_data_year
  FROM materialization_usage u JOIN mat USING (materialization_id)
  JOIN rate_card_scalar sc ON sc.version = mat.rate_card_version
  -- the subject's own rate (annotator, person), else the default
  LEFT JOIN rate rs ON rs.version = mat.rate_card_version AND rs.key = u.rate_key AND rs.subject = u.subject
  LEFT JOIN rate rf ON rf.version = mat.rate_card_version AND rf.key = u.rate_key
                   AND rf.subject = u.fallback_subject
  GROUP BY u.materialization_id
),
e AS (
  SELECT mat.*, sc.pue, sc.grid_gco2e_per_kwh, sc.electricity_usd_per_kwh,
         sc.data_kwh_per_gb, sc.data_kwh_per_gb_year, sc.data_kwh_per_gb_halving_years,
         dev.materialization_id IS NULL AS unmetered,
         dev.device_kwh_known,
         coalesce(dev.energy_unknown, 0) AS energy_unknown_devices,
         coalesce(dev.hardware_unknown, 0) AS hardware_unknown_devices,
         coalesce(dev.unknown_devices, 0) AS unknown_devices,
         dev.cost_hardware_known, dev.detail AS device_detail, dev.power_fallback,
         CASE WHEN dev.materialization_id IS NULL THEN 'unavailable'
              WHEN dev.method_min IS NULL THEN 'unavailable'
              WHEN dev.method_min = dev.method_max THEN dev.method_min ELSE 'mixed' END AS energy_method,
         dev.last_measured_at,
         sc.pue * dev.device_kwh_known AS e_compute_kwh_known,
         coalesce(o.e_data_kwh, 0) AS e_data_kwh, o.e_data_year,
         coalesce(o.bytes_moved, 0) AS bytes_moved, coalesce(o.network_bytes, 0) AS network_bytes,
         coalesce(o.labeling_hours_known, 0) AS labeling_hours_known,
         coalesce(o.annotations_unknown, 0) AS annotations_unknown,
         coalesce(o.cost_labeling_known, 0) AS cost_labeling_known,
         coalesce(o.person_hours, 0) AS person_hours, coalesce(o.cost_person_usd, 0) AS cost_person_usd
  FROM mat
  JOIN rate_card_scalar sc ON sc.version = mat.rate_card_version
  LEFT JOIN dev USING (materialization_id)
  LEFT JOIN other o USING (materialization_id)
),
k AS (  -- each part: known value, and whether it is complete
  SELECT *,
         NOT unmetered AND energy_unknown_devices = 0 AS compute_known,
         NOT unmetered AND hardware_unknown_devices = 0 AS hardware_known,
         annotations_unknown = 0 AS labeling_known,
         -- a cloud card pays no electricity: the energy bill is a known 0 even where energy is unknown
         CASE WHEN electricity_usd_per_kwh = 0 THEN 0.0
              ELSE e_compute_kwh_known * electricity_usd_per_kwh END AS cost_energy_known,
         e_compute_kwh_known + e_data_kwh AS energy_known
  FROM e
),
fp AS (
  SELECT materialization_id, run_id, asset_key, status, started_at,
         -- an incomplete materialization lasted at least until its last heartbeat
         (epoch_us(coalesce(ended_at, last_measured_at)) - epoch_us(started_at)) / 1e6 AS duration_s,
         CASE WHEN compute_known THEN energy_known END AS energy_kwh,
         energy_method,
         CASE WHEN compute_known THEN energy_known * grid_gco2e_per_kwh / 1000.0 END AS co2e_kg,
         bytes_moved,
         CASE WHEN labeling_known THEN labeling_hours_known + person_hours END AS human_hours,
         cost_person_usd,
         CASE WHEN hardware_known THEN coalesce(cost_hardware_known, 0) END AS cost_hardware_usd,
         CASE WHEN compute_known OR electricity_usd_per_kwh = 0 THEN cost_energy_known END AS cost_energy_usd,
         CASE WHEN labeling_known THEN cost_labeling_known END AS cost_labeling_usd,
         CASE WHEN hardware_known AND labeling_known AND (compute_known OR electricity_usd_per_kwh = 0)
              THEN cost_person_usd + coalesce(cost_hardware_known, 0) + cost_labeling_known
                   + cost_energy_known END AS cost_usd,
         -- the known parts, for "at least X; N parts unknown"
         coalesce(energy_known, CASE WHEN e_data_kwh > 0 THEN e_data_kwh END) AS energy_kwh_at_least,
         coalesce(energy_known, CASE WHEN e_data_kwh > 0 THEN e_data_kwh END) * grid_gco2e_per_kwh / 1000.0
           AS co2e_kg_at_least,
         labeling_hours_known + person_hours AS human_hours_at_least,
         cost_person_usd + coalesce(cost_hardware_known, 0) + cost_labeling_known
           + coalesce(cost_energy_known, 0) AS cost_usd_at_least,
         CAST(unmetered AS BIGINT) + unknown_devices + annotations_unknown AS unknown_parts,
         nullif(concat_ws('; ',
           CASE WHEN unmetered THEN 'not metered: energy and hardware unknown' END,
           device_detail,
           CASE WHEN annotations_unknown > 0
                THEN annotations_unknown || ' annotation(s) without a valid lead time' END), '') AS unknown_detail,
         -- helpful extras (not part of the minimal contract)
         partition_key, ended_at, device_kwh_known AS device_kwh,
         CASE WHEN compute_known THEN e_compute_kwh_known END AS e_compute_kwh, e_data_kwh,
         data_kwh_per_gb_in(data_kwh_per_gb, data_kwh_per_gb_year, data_kwh_per_gb_halving_years, e_data_year)
           AS e_data_kwh_per_gb,
         e_data_year, network_bytes, labeling_hours_known AS labeling_hours, person_hours,
         annotations_unknown AS labeling_unknown, cost_labeling_known AS cost_labeling_usd_at_least,
         rate_card_version,
         CASE WHEN power_fallback THEN 'cpu power model: the card''s default (processor family not in the card)'
         END AS energy_note
  FROM k
)
SELECT * FROM fp;

CREATE OR REPLACE VIEW asset_footprint AS SELECT * FROM asset_footprint_at(NULL);

-- labeling_spend ---------------------------------------------------------------------------------------
-- Per annotator, project and UTC day the annotation was created; priced like C_labeling, so the sum of
-- cost_usd_at_least equals the sum of asset_footprint.cost_labeling_usd where that is known. An
-- annotation without a valid lead time has unknown time: counted in `unknown_time`, and the day's
-- hours and cost are NULL (the `_at_least` columns sum the known ones).
CREATE OR REPLACE VIEW labeling_spend AS
SELECT a.annotator, a.project, CAST(timezone('UTC', a.created_at) AS DATE) AS day,
       count(*) AS annotations,
       count(*) FILTER (WHERE a.was_cancelled) AS skipped,
       count(*) FILTER (WHERE a.lead_time_s IS NULL) AS unknown_time,
       CASE WHEN count(*) FILTER (WHERE a.lead_time_s IS NULL) = 0
            THEN sum(a.lead_time_s) / 3600.0 END AS hours_raw,
       CASE WHEN count(*) FILTER (WHERE a.lead_time_s IS NULL) = 0
            THEN sum(a.active_s) / 3600.0 END AS hours_active,
       CASE WHEN count(*) FILTER (WHERE a.lead_time_s IS NULL) = 0
            THEN sum(a.active_s / 3600.0 * coalesce(ra.value, rd.value)) END AS cost_usd,
       coalesce(sum(a.active_s) FILTER (WHERE a.lead_time_s IS NOT NULL), 0) / 3600.0 AS hours_active_at_least,
       coalesce(sum(a.active_s / 3600.0 * coalesce(ra.value, rd.value)) FILTER (WHERE a.lead_time_s IS NOT NULL),
                0) AS cost_usd_at_least
FROM annotation_work_latest a
JOIN materialization_status m USING (materialization_id)
LEFT JOIN rate ra ON ra.version = m.rate_card_in_force AND ra.key = 'annotator_usd_per_hour'
                 AND ra.subject = a.annotator
LEFT JOIN rate rd ON rd.version = m.rate_card_in_force AND rd.key = 'annotator_usd_per_hour'
                 AND rd.subject = ''
GROUP BY ALL;
