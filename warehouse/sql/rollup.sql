-- Lineage roll-ups over asset_footprint (created after views.sql by warehouse/views.py).
--
-- lineage_weights_from(root): for each root materialization (NULL = every materialization), every
-- materialization it depends on (itself included), ONCE, with its allocation weight
--   w(U, X) = sum over paths U -> ... -> X of prod 1/consumers(A) for each edge A -> B on the path,
-- so that a shared upstream's footprint is split evenly among the materializations that consumed it.
-- The walk aggregates per (root, node, depth) at every step: a DAG full of diamonds costs
-- O(nodes x depths), never one row per path. Weights of one node sum over depths at the end.
-- A lineage cycle (corrupt facts) stops after as many steps as there are edges.
CREATE OR REPLACE MACRO lineage_weights_from(root_id) AS TABLE
WITH RECURSIVE
-- The walk joins on the INTEGER keys of lineage_node / lineage_walk_edge (same edges as lineage_graph,
-- each with its share = 1 / consumers(upstream), kept by the loader)
bound AS MATERIALIZED (SELECT count(*) + 1 AS max_depth FROM lineage_walk_edge),
w(root_node, node, depth, weight) AS (  -- roots with lineage, on integer keys
  SELECT n.node, n.node, 0, 1.0::DOUBLE
  FROM materialization m JOIN lineage_node n USING (materialization_id)
  WHERE root_id IS NULL OR m.materialization_id = root_id
  UNION ALL
  SELECT w.root_node, e.upstream_node, w.depth + 1, sum(w.weight * e.share)
  FROM w JOIN lineage_walk_edge e ON e.node = w.node
  JOIN bound ON w.depth < bound.max_depth
  GROUP BY w.root_node, e.upstream_node, w.depth
),
per_node AS (
  SELECT root_node, node, sum(weight) AS weight, min(depth) AS min_depth
  FROM w GROUP BY root_node, node
)
SELECT r.materialization_id, n.materialization_id AS upstream_materialization_id, p.weight, p.min_depth
FROM per_node p JOIN lineage_node r ON r.node = p.root_node JOIN lineage_node n ON n.node = p.node
UNION ALL  -- a root with no lineage at all is its own only upstream
SELECT materialization_id, materialization_id, 1.0::DOUBLE, 0 FROM materialization
WHERE (root_id IS NULL OR materialization_id = root_id)
  AND materialization_id NOT IN (SELECT materialization_id FROM lineage_node);

-- end_to_end_footprint_of(id): one row: inclusive totals over the materialization and all its
-- upstreams, each counted once, and alloc_* totals where each upstream contributes weight x its
-- footprint (allocated totals of all final consumers add up to the sum over all materializations).
-- Upstream ids with no recorded materialization count in upstream_unrecorded and add nothing.
-- The formulas are those of asset_footprint_at (sql/views.sql), applied in the other order: every
-- price is linear in a quantity, so the walk's usage (materialization_usage) is summed per (root,
-- card version, rate subject) first and only those few sums are priced. Totals equal the sum of the
-- upstreams' asset_footprint rows, except that a device with no rate in its card makes
-- cost_hardware_usd and cost_usd NULL for every root above it (unknown, never silently smaller).
-- pinned_version as in asset_footprint_at.
CREATE OR REPLACE MACRO end_to_end_footprint_of(root_id, pinned_version := NULL) AS TABLE
WITH walk AS MATERIALIZED (SELECT * FROM lineage_weights_from(root_id)),
mat AS MATERIALIZED (  -- every upstream in the walk, with its card; recorded = has a materialization fact
  SELECT w.materialization_id AS root, w.upstream_materialization_id AS mid, w.weight,
         s.materialization_id IS NOT NULL AS recorded, s.run_id, s.asset_key, s.status, s.started_at, s.ended_at,
         coalesce(pinned_version, s.rate_card_in_force) AS version
  FROM walk w LEFT JOIN materialization_status s ON s.materialization_id = w.upstream_materialization_id
),
grouped AS (  -- device rows with no billable readings (device_index -1) are never billed
  SELECT mat.root, mat.version, u.kind, u.rate_key, u.subject, u.fallback_subject,
         coalesce(sum(u.energy_j), 0) AS energy_j, coalesce(sum(mat.weight * u.energy_j), 0) AS w_energy_j,
         coalesce(sum(u.seconds) FILTER (WHERE u.kind <> 'device' OR u.billable_readings > 0), 0) AS seconds,
         coalesce(sum(mat.weight * u.seconds) FILTER (WHERE u.kind <> 'device' OR u.billable_readings > 0), 0)
           AS w_seconds,
         coalesce(sum(u.bytes_moved), 0) AS bytes_moved, coalesce(sum(mat.weight * u.bytes_moved), 0) AS w_bytes_moved,
         coalesce(sum(u.network_bytes), 0) AS network_bytes,
         coalesce(sum(mat.weight * u.network_bytes), 0) AS w_network_bytes,
         -- 'meter' rows: how many upstreams were metered, and the range of their methods
         sum(u.billable_readings) FILTER (WHERE u.kind = 'meter') AS metered,
         min(u.method_min) FILTER (WHERE u.kind = 'meter') AS method_min,
         max(u.method_max) FILTER (WHERE u.kind = 'meter') AS method_max
  FROM materialization_usage u JOIN mat ON mat.mid = u.materialization_id AND mat.recorded
  GROUP BY ALL
),
priced AS (
  SELECT g.root, g.kind, g.seconds, g.w_seconds, g.bytes_moved, g.w_bytes_moved, g.metered, g.method_min,
         g.method_max,
         coalesce(rs.value, rf.value) AS rate, sc.grid_gco2e_per_kwh AS grid, sc.electricity_usd_per_kwh AS usd_kwh,
         sc.pue * g.energy_j / 3.6e6 AS e_compute_kwh, sc.pue * g.w_energy_j / 3.6e6 AS w_e_compute_kwh,
         g.network_bytes / 1e9 * sc.data_kwh_per_gb AS e_data_kwh,
         g.w_network_bytes / 1e9 * sc.data_kwh_per_gb AS w_e_data_kwh
  FROM grouped g
  JOIN rate_card_scalar sc ON sc.version = g.version
  LEFT JOIN rate rs ON rs.version = g.version AND rs.key = g.rate_key AND rs.subject = g.subject
  LEFT JOIN rate rf ON rf.version = g.version AND rf.key = g.rate_key AND rf.subject = g.fallback_subject
),
money AS (
  SELECT root,
         sum(e_compute_kwh) AS e_compute_kwh, sum(e_data_kwh) AS e_data_kwh,
         sum(w_e_compute_kwh + w_e_data_kwh) AS alloc_energy_kwh,
         sum((e_compute_kwh + e_data_kwh) * grid / 1000.0) AS co2e_kg,
         sum((w_e_compute_kwh + w_e_data_kwh) * grid / 1000.0) AS alloc_co2e_kg,
         sum(bytes_moved) AS bytes_moved, sum(w_bytes_moved) AS alloc_bytes_moved,
         sum(seconds) FILTER (WHERE kind IN ('annotation', 'person')) / 3600.0 AS human_hours,
         sum(w_seconds) FILTER (WHERE kind IN ('annotation', 'person')) / 3600.0 AS alloc_human_hours,
         coalesce(sum(seconds / 3600.0 * rate) FILTER (WHERE kind = 'person'), 0) AS cost_person_usd,
         coalesce(sum(w_seconds / 3600.0 * rate) FILTER (WHERE kind = 'person'), 0) AS alloc_cost_person_usd,
         CASE WHEN bool_and(rate IS NOT NULL) FILTER (WHERE kind = 'device' AND seconds > 0) IS NOT FALSE
              THEN coalesce(sum(seconds / 3600.0 * rate) FILTER (WHERE kind = 'device'), 0) END
           AS cost_hardware_usd,
         CASE WHEN bool_and(rate IS NOT NULL) FILTER (WHERE kind = 'device' AND seconds > 0) IS NOT FALSE
              THEN coalesce(sum(w_seconds / 3600.0 * rate) FILTER (WHERE kind = 'device'), 0) END
           AS alloc_cost_hardware_usd,
         sum(e_compute_kwh * usd_kwh) AS cost_energy_usd, sum(w_e_compute_kwh * usd_kwh) AS alloc_cost_energy_usd,
         coalesce(sum(seconds / 3600.0 * rate) FILTER (WHERE kind = 'annotation'), 0) AS cost_labeling_usd,
         coalesce(sum(w_seconds / 3600.0 * rate) FILTER (WHERE kind = 'annotation'), 0) AS alloc_cost_labeling_usd,
         -- a root's method: one shared by every recorded upstream, else 'mixed'
         coalesce(sum(metered), 0) AS metered, min(method_min) AS method_min, max(method_max) AS method_max
  FROM priced GROUP BY root
),
last_seen AS (  -- an incomplete materialization lasted at least until its last heartbeat
  SELECT materialization_id AS mid, last_measured_at FROM materialization_usage
  WHERE kind = 'meter' AND materialization_id IN (SELECT mid FROM mat WHERE recorded AND ended_at IS NULL)
),
tally AS (
  SELECT mat.root,
         count(*) FILTER (WHERE recorded) AS recorded,
         count(*) FILTER (WHERE NOT recorded) AS unrecorded,
         count(*) FILTER (WHERE recorded AND status <> 'success') AS not_successful,
         sum((epoch_us(coalesce(mat.ended_at, ls.last_measured_at)) - epoch_us(mat.started_at)) / 1e6)
           AS duration_s
  FROM mat LEFT JOIN last_seen ls ON ls.mid = mat.mid
  GROUP BY mat.root
)
SELECT t.root AS materialization_id, r.run_id, r.asset_key, r.status, r.started_at,
       t.recorded - 1 AS upstream_count, t.unrecorded AS upstream_unrecorded,
       t.not_successful AS not_successful_count, t.duration_s,
       coalesce(m.e_compute_kwh + m.e_data_kwh, 0) AS energy_kwh,
       CASE WHEN coalesce(m.metered, 0) = 0 THEN 'unavailable'
            WHEN m.metered = t.recorded AND m.method_min = m.method_max THEN m.method_min
            ELSE 'mixed' END AS energy_method,
       coalesce(m.co2e_kg, 0) AS co2e_kg,
       coalesce(m.bytes_moved, 0) AS bytes_moved,
       coalesce(m.human_hours, 0) AS human_hours,
       coalesce(m.cost_person_usd, 0) AS cost_person_usd,
       CASE WHEN m.root IS NULL THEN 0 ELSE m.cost_hardware_usd END AS cost_hardware_usd,
       coalesce(m.cost_energy_usd, 0) AS cost_energy_usd,
       coalesce(m.cost_labeling_usd, 0) AS cost_labeling_usd,
       CASE WHEN m.root IS NULL THEN 0
            ELSE m.cost_person_usd + m.cost_hardware_usd + m.cost_labeling_usd + m.cost_energy_usd END AS cost_usd,
       coalesce(m.e_compute_kwh, 0) AS e_compute_kwh, coalesce(m.e_data_kwh, 0) AS e_data_kwh,
       coalesce(m.alloc_energy_kwh, 0) AS alloc_energy_kwh,
       coalesce(m.alloc_co2e_kg, 0) AS alloc_co2e_kg,
       coalesce(m.alloc_bytes_moved, 0) AS alloc_bytes_moved,
       coalesce(m.alloc_human_hours, 0) AS alloc_human_hours,
       coalesce(m.alloc_cost_person_usd, 0) AS alloc_cost_person_usd,
       CASE WHEN m.root IS NULL THEN 0 ELSE m.alloc_cost_hardware_usd END AS alloc_cost_hardware_usd,
       coalesce(m.alloc_cost_energy_usd, 0) AS alloc_cost_energy_usd,
       coalesce(m.alloc_cost_labeling_usd, 0) AS alloc_cost_labeling_usd,
       CASE WHEN m.root IS NULL THEN 0
            ELSE m.alloc_cost_person_usd + m.alloc_cost_hardware_usd + m.alloc_cost_labeling_usd
                 + m.alloc_cost_energy_usd END AS alloc_cost_usd
FROM tally t
JOIN mat r ON r.root = t.root AND r.mid = t.root  -- the root is its own upstream (weight 1)
LEFT JOIN money m ON m.root = t.root;

-- Every materialization at once. For one materialization query end_to_end_footprint_of('<id>'):
-- a WHERE on this view is not pushed into the recursive walk.
CREATE OR REPLACE VIEW end_to_end_footprint AS SELECT * FROM end_to_end_footprint_of(NULL);

-- data_requirement: per dataset materialization (holds a 'dataset' artifact or annotation work),
-- D = S + L.
--   S (its own bytes): s_bytes = bytes held + bytes moved;
--     s_usd = held GB x storage_usd_per_gb_month x storage_holding_months + network GB x transfer_usd_per_gb
--     s_kwh = held GB x storage_kwh_per_gb_month x storage_holding_months x pue + E_data
--   L (the annotations behind it): labeling hours and C_labeling of itself and all its upstreams,
--     each materialization once. Human energy is not modelled, so d_kwh = s_kwh.
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
l AS (
  SELECT up.materialization_id, coalesce(sum(f.labeling_hours), 0) AS l_hours,
         coalesce(sum(f.cost_labeling_usd), 0) AS l_usd
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
       l.l_hours, l.l_usd,
       s.s_usd + l.l_usd AS d_usd, s.s_kwh AS d_kwh, s.s_kwh * s.grid_gco2e_per_kwh / 1000.0 AS d_co2e_kg,
       s.held_bytes, s.moved_bytes, s.network_bytes, s.rate_card_version
FROM s JOIN l USING (materialization_id);
