-- Lineage roll-ups over asset_footprint (created after views.sql by warehouse/views.py).
--
-- lineage_walk(root) / lineage_weights_from(root): for each root materialization (NULL = every
-- recorded materialization), every
-- materialization it depends on (itself included), ONCE, with its allocation weight
--   w(U, X) = sum over paths U -> ... -> X of prod 1/consumers(A) for each edge A -> B on the path,
-- so that a shared upstream's footprint is split evenly among the materializations that consumed it.
-- The walk aggregates per (root, node, depth) at every step: a DAG full of diamonds costs
-- O(nodes x depths), never one row per path. Weights of one node sum over depths at the end.
-- A lineage cycle (corrupt facts) stops after as many steps as there are edges.
-- `roots := [ids]` (with root_id NULL) walks from those materializations only (sql/quality.sql: the
-- models compared with a baseline).
CREATE OR REPLACE MACRO lineage_walk(root_id, roots := NULL) AS TABLE
WITH RECURSIVE
-- The walk joins on the INTEGER keys of lineage_node / lineage_walk_edge (same edges as lineage_graph,
-- each with its share = 1 / consumers(upstream), kept by the loader). Roots: recorded materializations.
bound AS MATERIALIZED (SELECT count(*) + 1 AS max_depth FROM lineage_walk_edge),
w(root_node, node, depth, weight) AS (
  SELECT s.node, s.node, 0, 1.0::DOUBLE
  FROM node_status s
  WHERE (root_id IS NULL OR s.node = (SELECT node FROM lineage_node WHERE materialization_id = root_id))
    AND (roots IS NULL OR s.materialization_id IN (SELECT unnest(roots)))
  UNION ALL
  SELECT w.root_node, e.upstream_node, w.depth + 1, sum(w.weight * e.share)
  FROM w JOIN lineage_walk_edge e ON e.node = w.node
  JOIN bound ON w.depth < bound.max_depth
  GROUP BY w.root_node, e.upstream_node, w.depth
)
SELECT root_node, node, sum(weight) AS weight, min(depth) AS min_depth
FROM w GROUP BY root_node, node;

-- The same walk on materialization ids (what the report reads).
CREATE OR REPLACE MACRO lineage_weights_from(root_id) AS TABLE
SELECT r.materialization_id, n.materialization_id AS upstream_materialization_id, w.weight, w.min_depth
FROM lineage_walk(root_id) w
JOIN lineage_node r ON r.node = w.root_node
JOIN lineage_node n ON n.node = w.node;

-- end_to_end_priced(id, version): one row: inclusive totals over the materialization and all its
-- upstreams, each counted once, and alloc_* totals where each upstream contributes weight x its
-- footprint (allocated totals of all final consumers add up to the sum over all materializations).
-- Upstream ids with no recorded materialization count in upstream_unrecorded and add nothing.
-- The formulas are those of asset_footprint_at (sql/views.sql), applied in the other order: every
-- price is linear in a quantity, so the walk's usage (device_usage, materialization_usage) is summed
-- per (root, card version, rate subject) first and only those few sums are priced. Totals equal the
-- sum of the upstreams' asset_footprint rows; a total with any unknown part is NULL (its `_at_least`
-- column sums the known parts) and unknown_parts adds up the upstreams' unknown parts.
-- pinned_version as in asset_footprint_at (NULL: the card in force for each upstream).
CREATE OR REPLACE MACRO end_to_end_priced(root_id, pinned_version) AS TABLE
WITH walk AS MATERIALIZED (SELECT * FROM lineage_walk(root_id)),
mat AS MATERIALIZED (  -- every upstream node in the walk, with its card; recorded = has a materialization fact
  SELECT w.root_node AS root, w.node AS mid, w.weight,
         s.node IS NOT NULL AS recorded, s.status, s.started_at, s.ended_at, s.metered, s.last_at,
         coalesce(pinned_version, p.version) AS version
  FROM walk w LEFT JOIN node_status s ON s.node = w.node
  LEFT JOIN rate_card_period p ON s.started_at >= p.valid_from AND s.started_at < p.valid_until
),
dev AS (  -- the walk's device use
  SELECT mat.root, mat.version, mat.weight, du.device_kind, du.device_name, du.power_model, du.energy_j,
         du.power_use, du.seconds, du.energy_unknown, du.share_unknown, du.method_min, du.method_max
  FROM device_usage du JOIN mat ON du.node = mat.mid AND mat.recorded
),
dev_grouped AS (  -- device use per (root, card, device model, power model)
  SELECT du.root, du.version, du.device_kind, du.device_name, du.power_model,
         sum(du.energy_j) AS energy_j, sum(du.weight * du.energy_j) AS w_energy_j,
         sum(du.power_use) AS power_use, sum(du.weight * du.power_use) AS w_power_use,
         sum(du.seconds) AS seconds, sum(du.weight * du.seconds) AS w_seconds,
         -- unknown devices (asset_footprint_at's rule, per device row): unknown whatever the card, or,
         -- where the card lacks the power model or the price, the rows that need it
         count(*) FILTER (WHERE du.energy_unknown > 0 OR du.share_unknown > 0) AS n_unknown,
         count(*) FILTER (WHERE du.energy_unknown > 0) AS n_energy_unknown,
         count(*) FILTER (WHERE du.share_unknown > 0) AS n_share_unknown,
         count(*) FILTER (WHERE du.energy_unknown = 0 AND du.share_unknown = 0 AND du.power_use > 0) AS n_power,
         count(*) FILTER (WHERE du.energy_unknown = 0 AND du.share_unknown = 0 AND du.seconds > 0) AS n_billed,
         count(*) FILTER (WHERE du.energy_unknown = 0 AND du.share_unknown = 0 AND du.power_use > 0
                                AND du.seconds > 0) AS n_power_billed,
         count(*) FILTER (WHERE du.power_use > 0) AS n_power_all,
         count(*) FILTER (WHERE du.seconds > 0) AS n_billed_all,
         min(du.method_min) AS method_min, max(du.method_max) AS method_max
  FROM dev du
  GROUP BY ALL
),
dev_priced AS (
  SELECT g.*, sc.pue, sc.grid_gco2e_per_kwh AS grid, sc.electricity_usd_per_kwh AS usd_kwh,
         coalesce(pm.value, pf.value, pr.value) AS watts, coalesce(rs.value, rf.value) AS usd_per_hour
  FROM dev_grouped g
  JOIN rate_card_scalar sc ON sc.version = g.version
  LEFT JOIN rate pm ON pm.version = g.version AND g.device_kind = 'cpu'
                   AND pm.key = 'cpu_watts_per_thread_max' AND pm.subject = g.power_model
  LEFT JOIN rate pf ON pf.version = g.version AND g.device_kind = 'cpu'
                   AND pf.key = 'cpu_watts_per_thread_max' AND pf.subject = ''
  LEFT JOIN rate pr ON pr.version = g.version AND g.device_kind = 'ram'
                   AND pr.key = 'ram_watts_per_gb' AND pr.subject = ''
  LEFT JOIN rate rs ON rs.version = g.version AND rs.key = 'device_usd_per_hour' AND rs.subject = g.device_name
  LEFT JOIN rate rf ON rf.version = g.version AND rf.key = 'device_usd_per_hour' AND rf.subject = g.device_kind
),
dev_money AS (
  SELECT root,
         sum(pue * (coalesce(energy_j, 0) + coalesce(power_use * watts, 0))) / 3.6e6 AS e_compute_kwh,
         sum(pue * (coalesce(w_energy_j, 0) + coalesce(w_power_use * watts, 0))) / 3.6e6 AS w_e_compute_kwh,
         sum(pue * (coalesce(energy_j, 0) + coalesce(power_use * watts, 0)) * grid) / 3.6e9 AS co2e_kg,
         sum(pue * (coalesce(w_energy_j, 0) + coalesce(w_power_use * watts, 0)) * grid) / 3.6e9 AS w_co2e_kg,
         sum(CASE WHEN usd_kwh = 0 THEN 0.0
                  ELSE pue * (coalesce(energy_j, 0) + coalesce(power_use * watts, 0)) / 3.6e6 * usd_kwh END)
           AS cost_energy_usd,
         sum(CASE WHEN usd_kwh = 0 THEN 0.0
                  ELSE pue * (coalesce(w_energy_j, 0) + coalesce(w_power_use * watts, 0)) / 3.6e6 * usd_kwh END)
           AS w_cost_energy_usd,
         coalesce(sum(seconds / 3600.0 * usd_per_hour) FILTER (WHERE seconds > 0), 0) AS cost_hardware_usd,
         coalesce(sum(w_seconds / 3600.0 * usd_per_hour) FILTER (WHERE seconds > 0), 0) AS w_cost_hardware_usd,
         sum(n_unknown + CASE WHEN watts IS NULL THEN n_power ELSE 0 END
             + CASE WHEN usd_per_hour IS NULL THEN n_billed ELSE 0 END
             - CASE WHEN watts IS NULL AND usd_per_hour IS NULL THEN n_power_billed ELSE 0 END) AS unknown_devices,
         sum(n_energy_unknown + CASE WHEN watts IS NULL THEN n_power_all ELSE 0 END) AS energy_unknown,
         sum(n_share_unknown + CASE WHEN usd_per_hour IS NULL THEN n_billed_all ELSE 0 END) AS hardware_unknown,
         min(method_min) AS method_min, max(method_max) AS method_max
  FROM dev_priced GROUP BY root
),

other_grouped AS (
  SELECT mat.root, mat.version, u.kind, u.rate_key, u.subject, u.fallback_subject, u.transfer_year,
         coalesce(sum(u.seconds), 0) AS seconds, coalesce(sum(mat.weight * u.seconds), 0) AS w_seconds,
         coalesce(sum(u.unknown), 0) AS unknown,
         coalesce(sum(u.bytes_moved), 0) AS bytes_moved, coalesce(sum(mat.weight * u.bytes_moved), 0) AS w_bytes_moved,
         coalesce(sum(u.network_bytes), 0) AS network_bytes,
         coalesce(sum(mat.weight * u.network_bytes), 0) AS w_network_bytes
  FROM materialization_usage u JOIN mat ON mat.mid = u.node AND mat.recorded
  GROUP BY ALL
),
other_money AS (
  SELECT g.root,
         sum(g.network_bytes / 1e9 * data_kwh_per_gb_in(sc.data_kwh_per_gb, sc.data_kwh_per_gb_year,
                                                        sc.data_kwh_per_gb_halving_years, g.transfer_year))
           AS e_data_kwh,
         sum(g.w_network_bytes / 1e9 * data_kwh_per_gb_in(sc.data_kwh_per_gb, sc.data_kwh_per_gb_year,
                                                          sc.data_kwh_per_gb_halving_years, g.transfer_year))
           AS w_e_data_kwh,
         sum(g.network_bytes / 1e9 * data_kwh_per_gb_in(sc.data_kwh_per_gb, sc.data_kwh_per_gb_year,
                                                        sc.data_kwh_per_gb_halving_years, g.transfer_year)
             * sc.grid_gco2e_per_kwh) / 1000.0 AS e_data_co2e_kg,
         sum(g.w_network_bytes / 1e9 * data_kwh_per_gb_in(sc.data_kwh_per_gb, sc.data_kwh_per_gb_year,
                                                          sc.data_kwh_per_gb_halving_years, g.transfer_year)
             * sc.grid_gco2e_per_kwh) / 1000.0 AS w_e_data_co2e_kg,
         sum(g.bytes_moved) AS bytes_moved, sum(g.w_bytes_moved) AS alloc_bytes_moved,
         sum(g.seconds) FILTER (WHERE g.kind IN ('annotation', 'person')) / 3600.0 AS human_hours,
         sum(g.w_seconds) FILTER (WHERE g.kind IN ('annotation', 'person')) / 3600.0 AS alloc_human_hours,
         coalesce(sum(g.seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE g.kind = 'person'), 0)
           AS cost_person_usd,
         coalesce(sum(g.w_seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE g.kind = 'person'), 0)
           AS alloc_cost_person_usd,
         coalesce(sum(g.seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE g.kind = 'annotation'), 0)
           AS cost_labeling_usd,
         coalesce(sum(g.w_seconds / 3600.0 * coalesce(rs.value, rf.value)) FILTER (WHERE g.kind = 'annotation'), 0)
           AS alloc_cost_labeling_usd,
         coalesce(sum(g.unknown) FILTER (WHERE g.kind = 'annotation'), 0) AS annotations_unknown
  FROM other_grouped g
  JOIN rate_card_scalar sc ON sc.version = g.version
  LEFT JOIN rate rs ON rs.version = g.version AND rs.key = g.rate_key AND rs.subject = g.subject
  LEFT JOIN rate rf ON rf.version = g.version AND rf.key = g.rate_key AND rf.subject = g.fallback_subject
  GROUP BY g.root
),

tally AS (
  SELECT mat.root,
         -- cards that pay no electricity (cloud): the energy bill is a known 0 even where energy is not
         coalesce(bool_and(sc.electricity_usd_per_kwh = 0) FILTER (WHERE recorded), TRUE) AS free_energy,
         count(*) FILTER (WHERE recorded) AS recorded,
         count(*) FILTER (WHERE NOT recorded) AS unrecorded,
         count(*) FILTER (WHERE recorded AND status <> 'success') AS not_successful,
         count(*) FILTER (WHERE recorded AND metered) AS metered,
         -- an incomplete materialization lasted at least until its last metered interval
         sum((epoch_us(coalesce(mat.ended_at, mat.last_at)) - epoch_us(mat.started_at)) / 1e6) AS duration_s
  FROM mat
  LEFT JOIN rate_card_scalar sc ON sc.version = mat.version
  GROUP BY mat.root
),
k AS (
  SELECT t.root, t.recorded, t.unrecorded, t.not_successful, t.duration_s,
         t.recorded - t.metered AS unmetered,
         coalesce(d.e_compute_kwh, 0) AS e_compute_kwh, coalesce(d.w_e_compute_kwh, 0) AS w_e_compute_kwh,
         coalesce(d.co2e_kg, 0) AS compute_co2e_kg, coalesce(d.w_co2e_kg, 0) AS w_compute_co2e_kg,
         coalesce(d.cost_energy_usd, 0) AS cost_energy_usd, coalesce(d.w_cost_energy_usd, 0) AS w_cost_energy_usd,
         coalesce(d.cost_hardware_usd, 0) AS cost_hardware_usd,
         coalesce(d.w_cost_hardware_usd, 0) AS w_cost_hardware_usd,
         t.free_energy,
         coalesce(d.unknown_devices, 0) AS unknown_devices, coalesce(d.energy_unknown, 0) AS energy_unknown,
         coalesce(d.hardware_unknown, 0) AS hardware_unknown,
         d.method_min, d.method_max, t.metered,
         coalesce(o.e_data_kwh, 0) AS e_data_kwh, coalesce(o.w_e_data_kwh, 0) AS w_e_data_kwh,
         coalesce(o.e_data_co2e_kg, 0) AS e_data_co2e_kg, coalesce(o.w_e_data_co2e_kg, 0) AS w_e_data_co2e_kg,
         coalesce(o.bytes_moved, 0) AS bytes_moved, coalesce(o.alloc_bytes_moved, 0) AS alloc_bytes_moved,
         coalesce(o.human_hours, 0) AS human_hours, coalesce(o.alloc_human_hours, 0) AS alloc_human_hours,
         coalesce(o.cost_person_usd, 0) AS cost_person_usd, coalesce(o.alloc_cost_person_usd, 0) AS alloc_cost_person_usd,
         coalesce(o.cost_labeling_usd, 0) AS cost_labeling_usd,
         coalesce(o.alloc_cost_labeling_usd, 0) AS alloc_cost_labeling_usd,
         coalesce(o.annotations_unknown, 0) AS annotations_unknown
  FROM tally t
  LEFT JOIN dev_money d ON d.root = t.root
  LEFT JOIN other_money o ON o.root = t.root
),
f AS (
  SELECT *,
         unmetered = 0 AND energy_unknown = 0 AS compute_known,
         unmetered = 0 AND hardware_unknown = 0 AS hardware_known,
         annotations_unknown = 0 AS labeling_known,
         (unmetered = 0 AND energy_unknown = 0) OR free_energy AS energy_bill_known
  FROM k
)
SELECT f.materialization_id, f.run_id, f.asset_key, f.status, f.started_at,
       f.recorded - 1 AS upstream_count, f.unrecorded AS upstream_unrecorded,
       f.not_successful AS not_successful_count, f.duration_s,
       CASE WHEN compute_known THEN e_compute_kwh + e_data_kwh END AS energy_kwh,
       CASE WHEN metered = 0 THEN 'unavailable'
            WHEN metered = recorded AND method_min = method_max THEN method_min
            ELSE 'mixed' END AS energy_method,
       CASE WHEN compute_known THEN compute_co2e_kg + e_data_co2e_kg END AS co2e_kg,
       bytes_moved,
       CASE WHEN labeling_known THEN human_hours END AS human_hours,
       cost_person_usd,
       CASE WHEN hardware_known THEN cost_hardware_usd END AS cost_hardware_usd,
       CASE WHEN energy_bill_known THEN cost_energy_usd END AS cost_energy_usd,
       CASE WHEN labeling_known THEN cost_labeling_usd END AS cost_labeling_usd,
       CASE WHEN hardware_known AND labeling_known AND energy_bill_known
            THEN cost_person_usd + cost_hardware_usd + cost_labeling_usd + cost_energy_usd END AS cost_usd,
       CASE WHEN metered > 0 OR e_data_kwh > 0 THEN e_compute_kwh + e_data_kwh END AS energy_kwh_at_least,
       CASE WHEN metered > 0 OR e_data_kwh > 0 THEN compute_co2e_kg + e_data_co2e_kg END AS co2e_kg_at_least,
       human_hours AS human_hours_at_least,
       cost_person_usd + cost_hardware_usd + cost_labeling_usd + cost_energy_usd AS cost_usd_at_least,
       unmetered + unknown_devices + annotations_unknown AS unknown_parts,
       CASE WHEN compute_known THEN e_compute_kwh END AS e_compute_kwh, e_data_kwh,
       CASE WHEN compute_known THEN w_e_compute_kwh + w_e_data_kwh END AS alloc_energy_kwh,
       CASE WHEN compute_known THEN w_compute_co2e_kg + w_e_data_co2e_kg END AS alloc_co2e_kg,
       alloc_bytes_moved,
       CASE WHEN labeling_known THEN alloc_human_hours END AS alloc_human_hours,
       alloc_cost_person_usd,
       CASE WHEN hardware_known THEN w_cost_hardware_usd END AS alloc_cost_hardware_usd,
       CASE WHEN energy_bill_known THEN w_cost_energy_usd END AS alloc_cost_energy_usd,
       CASE WHEN labeling_known THEN alloc_cost_labeling_usd END AS alloc_cost_labeling_usd,
       CASE WHEN hardware_known AND labeling_known AND energy_bill_known
            THEN alloc_cost_person_usd + w_cost_hardware_usd + alloc_cost_labeling_usd + w_cost_energy_usd
       END AS alloc_cost_usd
FROM (SELECT f.*, r.materialization_id, r.run_id, r.asset_key, r.status, r.started_at FROM f
      JOIN node_status r ON r.node = f.root) f;

-- The same totals under the card in force, from node_footprint (asset_footprint's rows, cached on
-- nodes by the loader): sums over the walk, a figure NULL when an upstream's is.
CREATE OR REPLACE MACRO end_to_end_cached(root_id, roots := NULL) AS TABLE
WITH w AS MATERIALIZED (SELECT * FROM lineage_walk(root_id, roots := roots)),
j AS (
  SELECT w.root_node, w.weight, f.*, f.node IS NOT NULL AS recorded
  FROM w LEFT JOIN node_footprint f ON f.node = w.node
),
a AS (
  SELECT root_node,
         count(*) FILTER (WHERE recorded) AS recorded,
         count(*) FILTER (WHERE NOT recorded) AS unrecorded,
         count(*) FILTER (WHERE recorded AND status <> 'success') AS not_successful,
         sum(duration_s) AS duration_s,
         count(*) FILTER (WHERE energy_method <> 'unavailable') AS metered,
         min(energy_method) FILTER (WHERE energy_method <> 'unavailable') AS method_min,
         max(energy_method) FILTER (WHERE energy_method <> 'unavailable') AS method_max,
         -- a strict figure: the sum when no recorded upstream's is NULL
         count(*) FILTER (WHERE recorded AND energy_kwh IS NULL) AS energy_null,
         count(*) FILTER (WHERE recorded AND human_hours IS NULL) AS human_null,
         count(*) FILTER (WHERE recorded AND cost_hardware_usd IS NULL) AS hardware_null,
         count(*) FILTER (WHERE recorded AND cost_energy_usd IS NULL) AS energy_bill_null,
         count(*) FILTER (WHERE recorded AND cost_labeling_usd IS NULL) AS labeling_null,
         sum(energy_kwh) AS energy_kwh, sum(co2e_kg) AS co2e_kg, sum(e_compute_kwh) AS e_compute_kwh,
         coalesce(sum(e_data_kwh), 0) AS e_data_kwh, coalesce(sum(bytes_moved), 0) AS bytes_moved,
         sum(human_hours) AS human_hours, coalesce(sum(cost_person_usd), 0) AS cost_person_usd,
         sum(cost_hardware_usd) AS cost_hardware_usd, sum(cost_energy_usd) AS cost_energy_usd,
         sum(cost_labeling_usd) AS cost_labeling_usd, sum(cost_usd) AS cost_usd,
         sum(energy_kwh_at_least) AS energy_kwh_at_least, sum(co2e_kg_at_least) AS co2e_kg_at_least,
         coalesce(sum(human_hours_at_least), 0) AS human_hours_at_least,
         coalesce(sum(cost_usd_at_least), 0) AS cost_usd_at_least,
         coalesce(sum(unknown_parts), 0) AS unknown_parts,
         sum(weight * energy_kwh) AS alloc_energy_kwh, sum(weight * co2e_kg) AS alloc_co2e_kg,
         coalesce(sum(weight * bytes_moved), 0) AS alloc_bytes_moved,
         sum(weight * human_hours) AS alloc_human_hours,
         coalesce(sum(weight * cost_person_usd), 0) AS alloc_cost_person_usd,
         sum(weight * cost_hardware_usd) AS alloc_cost_hardware_usd,
         sum(weight * cost_energy_usd) AS alloc_cost_energy_usd,
         sum(weight * cost_labeling_usd) AS alloc_cost_labeling_usd,
         sum(weight * cost_usd) AS alloc_cost_usd
  FROM j GROUP BY root_node
)
SELECT r.materialization_id, r.run_id, r.asset_key, r.status, r.started_at,
       a.recorded - 1 AS upstream_count, a.unrecorded AS upstream_unrecorded,
       a.not_successful AS not_successful_count, a.duration_s,
       CASE WHEN a.energy_null = 0 THEN a.energy_kwh END AS energy_kwh,
       CASE WHEN a.metered = 0 THEN 'unavailable'
            WHEN a.metered = a.recorded AND a.method_min = a.method_max THEN a.method_min
            ELSE 'mixed' END AS energy_method,
       CASE WHEN a.energy_null = 0 THEN a.co2e_kg END AS co2e_kg,
       a.bytes_moved,
       CASE WHEN a.human_null = 0 THEN a.human_hours END AS human_hours,
       a.cost_person_usd,
       CASE WHEN a.hardware_null = 0 THEN a.cost_hardware_usd END AS cost_hardware_usd,
       CASE WHEN a.energy_bill_null = 0 THEN a.cost_energy_usd END AS cost_energy_usd,
       CASE WHEN a.labeling_null = 0 THEN a.cost_labeling_usd END AS cost_labeling_usd,
       CASE WHEN a.hardware_null + a.energy_bill_null + a.labeling_null = 0 THEN a.cost_usd END AS cost_usd,
       a.energy_kwh_at_least, a.co2e_kg_at_least, a.human_hours_at_least, a.cost_usd_at_least,
       a.unknown_parts,
       CASE WHEN a.energy_null = 0 THEN a.e_compute_kwh END AS e_compute_kwh, a.e_data_kwh,
       CASE WHEN a.energy_null = 0 THEN a.alloc_energy_kwh END AS alloc_energy_kwh,
       CASE WHEN a.energy_null = 0 THEN a.alloc_co2e_kg END AS alloc_co2e_kg,
       a.alloc_bytes_moved,
       CASE WHEN a.human_null = 0 THEN a.alloc_human_hours END AS alloc_human_hours,
       a.alloc_cost_person_usd,
       CASE WHEN a.hardware_null = 0 THEN a.alloc_cost_hardware_usd END AS alloc_cost_hardware_usd,
       CASE WHEN a.energy_bill_null = 0 THEN a.alloc_cost_energy_usd END AS alloc_cost_energy_usd,
       CASE WHEN a.labeling_null = 0 THEN a.alloc_cost_labeling_usd END AS alloc_cost_labeling_usd,
       CASE WHEN a.hardware_null + a.energy_bill_null + a.labeling_null = 0 THEN a.alloc_cost_usd END
         AS alloc_cost_usd
FROM a JOIN node_footprint r ON r.node = a.root_node;

-- end_to_end_footprint_of(id): the cached totals under the card in force; with a second argument
-- (`pinned_version := v`) every upstream re-priced with card v (end_to_end_priced). Both give the
-- sums of the upstreams' asset_footprint_at rows (tests/warehouse/test_rollup_pricing.py). Two
-- overloads, so the everyday call binds only the cached plan.
CREATE OR REPLACE MACRO end_to_end_footprint_of(root_id) AS TABLE (SELECT * FROM end_to_end_cached(root_id)),
  (root_id, pinned_version) AS TABLE (SELECT * FROM end_to_end_priced(root_id, pinned_version));

-- Every materialization at once. For one materialization query end_to_end_footprint_of('<id>'):
-- a WHERE on this view is not pushed into the recursive walk.
CREATE OR REPLACE VIEW end_to_end_footprint AS SELECT * FROM end_to_end_footprint_of(NULL);

-- data_requirement: per dataset materialization (holds a 'dataset' artifact or annotation work),
-- D = S + L.
--   S (its own bytes): s_bytes = bytes held + bytes moved;
--     s_usd = held GB x storage_usd_per_gb_month x storage_holding_months + network GB x transfer_usd_per_gb
--     s_kwh = held GB x storage_kwh_per_gb_month x storage_holding_months x pue + E_data
--   L (the annotations behind it): labeling hours and C_labeling of itself and all its upstreams,
--     each materialization once; NULL when an annotation's time is unknown (unknown_parts counts
--     them; l_*_at_least and d_usd_at_least sum the known). Human energy is not modelled: d_kwh = s_kwh.
CREATE OR REPLACE VIEW data_requirement AS
WITH RECURSIVE
datasets AS (
  SELECT materialization_id FROM storage WHERE kind = 'dataset'
  UNION SELECT materialization_id FROM annotation_work
),
up(materialization_id, upstream_materialization_id) AS (
  SELECT materialization_id, materialization_id FROM datasets
  UNION
  SELECT up.materialization_id, e.upstream_materialization_id
  FROM up JOIN lineage_graph e ON e.materialization_id = up.upstream_materialization_id
),
l AS (  -- annotations without a valid lead time make L unknown (NULL); l_*_at_least sum the known
  SELECT up.materialization_id, coalesce(sum(f.labeling_hours), 0) AS l_hours_at_least,
         coalesce(sum(f.cost_labeling_usd_at_least), 0) AS l_usd_at_least,
         coalesce(sum(f.labeling_unknown), 0) AS l_unknown
  FROM up LEFT JOIN asset_footprint f ON f.materialization_id = up.upstream_materialization_id
  GROUP BY up.materialization_id
),
held AS (  -- a location recorded twice by one materialization counts once (its largest size)
  SELECT materialization_id, sum(bytes_held) AS held_bytes
  FROM (SELECT materialization_id, location, max(bytes_held) AS bytes_held FROM storage GROUP BY ALL)
  GROUP BY materialization_id
),
s AS (
  SELECT f.materialization_id, f.run_id, f.asset_key, f.status, f.started_at, f.rate_card_version,
         coalesce(h.held_bytes, 0) AS held_bytes, f.bytes_moved AS moved_bytes, f.network_bytes,
         coalesce(h.held_bytes, 0) + f.bytes_moved AS s_bytes,
         coalesce(h.held_bytes, 0) / 1e9 * sc.storage_usd_per_gb_month * sc.storage_holding_months
           + f.network_bytes / 1e9 * sc.transfer_usd_per_gb AS s_usd,
         coalesce(h.held_bytes, 0) / 1e9 * sc.storage_kwh_per_gb_month * sc.storage_holding_months
           * sc.pue + f.e_data_kwh AS s_kwh,
         sc.grid_gco2e_per_kwh
  FROM asset_footprint f
  JOIN rate_card_scalar sc ON sc.version = f.rate_card_version
  LEFT JOIN held h USING (materialization_id)
  WHERE f.materialization_id IN (SELECT materialization_id FROM datasets)
)
SELECT s.materialization_id, s.run_id, s.asset_key, s.status, s.started_at,
       s.s_bytes, s.s_usd, s.s_kwh, s.s_kwh * s.grid_gco2e_per_kwh / 1000.0 AS s_co2e_kg,
       CASE WHEN l.l_unknown = 0 THEN l.l_hours_at_least END AS l_hours,
       CASE WHEN l.l_unknown = 0 THEN l.l_usd_at_least END AS l_usd,
       CASE WHEN l.l_unknown = 0 THEN s.s_usd + l.l_usd_at_least END AS d_usd,
       s.s_kwh AS d_kwh, s.s_kwh * s.grid_gco2e_per_kwh / 1000.0 AS d_co2e_kg,
       l.l_hours_at_least, l.l_usd_at_least, s.s_usd + l.l_usd_at_least AS d_usd_at_least,
       l.l_unknown AS unknown_parts,
       s.held_bytes, s.moved_bytes, s.network_bytes, s.rate_card_version
FROM s JOIN l USING (materialization_id);
