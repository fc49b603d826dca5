-- The per-materialization pricing CTEs (not a statement): spliced by warehouse/views.py into
-- asset_footprint_at (views.sql: the scope marker in `mat` becomes TRUE, every materialization).
-- end_to_end_footprint_of (rollup.sql) applies these formulas to sums of usage over a lineage walk;
-- change both together. `pinned_version` is the macro's parameter (NULL: the card in force).
-- The last CTE, `fp`, has the asset_footprint columns.
mat AS MATERIALIZED (
  SELECT materialization_id, run_id, asset_key, partition_key, status, started_at, ended_at,
         coalesce(pinned_version, rate_card_in_force) AS rate_card_version
  FROM materialization_status
  WHERE __SCOPE__
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
