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
-- The walk joins on the INTEGER keys of lineage_node / lineage_graph_key (same edges as lineage_graph)
edges AS MATERIALIZED (
  SELECT node, upstream_node, count(*) OVER (PARTITION BY upstream_node) AS consumers
  FROM lineage_graph_key
),
bound AS MATERIALIZED (SELECT count(*) + 1 AS max_depth FROM edges),
w(root_node, node, depth, weight) AS (  -- roots with lineage, on integer keys
  SELECT n.node, n.node, 0, 1.0::DOUBLE
  FROM materialization m JOIN lineage_node n USING (materialization_id)
  WHERE root_id IS NULL OR m.materialization_id = root_id
  UNION ALL
  SELECT w.root_node, e.upstream_node, w.depth + 1, sum(w.weight / e.consumers)
  FROM w JOIN edges e ON e.node = w.node
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
-- Only the materializations in the walk are priced (the pricing CTEs of sql/footprint.sql, spliced in
-- by warehouse/views.py with their scope limited to `walk`). pinned_version as in asset_footprint_at.
CREATE OR REPLACE MACRO end_to_end_footprint_of(root_id, pinned_version := NULL) AS TABLE
WITH walk AS MATERIALIZED (SELECT * FROM lineage_weights_from(root_id)),
__FOOTPRINT_CTES__
SELECT w.materialization_id,
       any_value(f.run_id) FILTER (WHERE w.upstream_materialization_id = w.materialization_id) AS run_id,
       any_value(f.asset_key) FILTER (WHERE w.upstream_materialization_id = w.materialization_id)
         AS asset_key,
       any_value(f.status) FILTER (WHERE w.upstream_materialization_id = w.materialization_id) AS status,
       any_value(f.started_at) FILTER (WHERE w.upstream_materialization_id = w.materialization_id)
         AS started_at,
       count(f.materialization_id) - 1 AS upstream_count,
       count(*) - count(f.materialization_id) AS upstream_unrecorded,
       count(*) FILTER (WHERE f.status <> 'success') AS not_successful_count,
       sum(f.duration_s) AS duration_s,
       sum(f.energy_kwh) AS energy_kwh,
       -- one distinct method (min = max) or 'mixed' (also when no upstream is recorded)
       CASE WHEN min(f.energy_method) = max(f.energy_method) THEN min(f.energy_method) ELSE 'mixed' END
         AS energy_method,
       sum(f.co2e_kg) AS co2e_kg,
       sum(f.bytes_moved) AS bytes_moved,
       sum(f.human_hours) AS human_hours,
       sum(f.cost_person_usd) AS cost_person_usd,
       sum(f.cost_hardware_usd) AS cost_hardware_usd,
       sum(f.cost_energy_usd) AS cost_energy_usd,
       sum(f.cost_labeling_usd) AS cost_labeling_usd,
       sum(f.cost_usd) AS cost_usd,
       sum(f.e_compute_kwh) AS e_compute_kwh,
       sum(f.e_data_kwh) AS e_data_kwh,
       sum(w.weight * f.energy_kwh) AS alloc_energy_kwh,
       sum(w.weight * f.co2e_kg) AS alloc_co2e_kg,
       sum(w.weight * f.bytes_moved) AS alloc_bytes_moved,
       sum(w.weight * f.human_hours) AS alloc_human_hours,
       sum(w.weight * f.cost_person_usd) AS alloc_cost_person_usd,
       sum(w.weight * f.cost_hardware_usd) AS alloc_cost_hardware_usd,
       sum(w.weight * f.cost_energy_usd) AS alloc_cost_energy_usd,
       sum(w.weight * f.cost_labeling_usd) AS alloc_cost_labeling_usd,
       sum(w.weight * f.cost_usd) AS alloc_cost_usd
FROM walk w
LEFT JOIN fp f ON f.materialization_id = w.upstream_materialization_id
GROUP BY w.materialization_id;

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
