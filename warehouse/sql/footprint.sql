-- The per-materialization pricing CTEs (not a statement): spliced by warehouse/views.py into
-- asset_footprint_at (views.sql: the scope marker in `mat` becomes TRUE, every materialization) and
-- end_to_end_footprint_of (rollup.sql: only the materializations in the lineage walk, so one model's
-- footprint never prices all of history). `pinned_version` is the macro's parameter (NULL: the card in force).
-- The last CTE, `fp`, has the asset_footprint columns.
mat AS MATERIALIZED (
  SELECT materialization_id, run_id, asset_key, partition_key, status, started_at, ended_at,
         coalesce(pinned_version, rate_card_in_force) AS rate_card_version
  FROM materialization_status
  WHERE __SCOPE__
),
hw AS (  -- device energy and C_hardware; C_hardware is NULL when a device has no rate (never a silent 0)
  SELECT e.materialization_id, sum(e.energy_j) / 3.6e6 AS device_kwh,
         -- device_index -1 stands for "no such device here" (e.g. no GPU): never billed
         CASE WHEN bool_and(coalesce(rn.value, rk.value) IS NOT NULL) FILTER (WHERE e.device_index >= 0)
                   IS NOT FALSE
              THEN coalesce(sum(e.duration_s / 3600.0 * coalesce(rn.value, rk.value))
                            FILTER (WHERE e.device_index >= 0), 0) END AS cost_hardware_usd,
         CASE WHEN count(*) FILTER (WHERE e.device_index >= 0) = 0 THEN 'unavailable'
              WHEN min(e.method) FILTER (WHERE e.device_index >= 0)
                   = max(e.method) FILTER (WHERE e.device_index >= 0)
              THEN min(e.method) FILTER (WHERE e.device_index >= 0) ELSE 'mixed' END AS energy_method,
         max(e.measured_at) AS last_measured_at
  FROM energy_reading_latest e JOIN mat USING (materialization_id)
  LEFT JOIN rate rn ON rn.version = mat.rate_card_version AND rn.key = 'device_usd_per_hour'
                   AND rn.subject = e.device_name
  LEFT JOIN rate rk ON rk.version = mat.rate_card_version AND rk.key = 'device_usd_per_hour'
                   AND rk.subject = e.device_kind
  GROUP BY e.materialization_id
),
xfer AS (
  SELECT materialization_id, sum(bytes) AS bytes_moved,
         coalesce(sum(bytes) FILTER (WHERE scope = 'network'), 0) AS network_bytes
  FROM transfer GROUP BY materialization_id
),
lab AS (  -- C_labeling
  SELECT a.materialization_id, sum(a.active_s) / 3600.0 AS labeling_hours,
         sum(a.active_s / 3600.0 * coalesce(ra.value, rd.value)) AS cost_labeling_usd
  FROM annotation_work_latest a JOIN mat USING (materialization_id)
  LEFT JOIN rate ra ON ra.version = mat.rate_card_version AND ra.key = 'annotator_usd_per_hour'
                   AND ra.subject = a.annotator
  LEFT JOIN rate rd ON rd.version = mat.rate_card_version AND rd.key = 'annotator_usd_per_hour'
                   AND rd.subject = ''
  GROUP BY a.materialization_id
),
ppl AS (  -- C_person
  SELECT p.materialization_id, sum(p.duration_s) / 3600.0 AS person_hours,
         sum(p.duration_s / 3600.0 * coalesce(rp.value, rd.value)) AS cost_person_usd
  FROM person_time p JOIN mat USING (materialization_id)
  LEFT JOIN rate rp ON rp.version = mat.rate_card_version AND rp.key = 'person_usd_per_hour'
                   AND rp.subject = p.person
  LEFT JOIN rate rd ON rd.version = mat.rate_card_version AND rd.key = 'person_usd_per_hour'
                   AND rd.subject = ''
  GROUP BY p.materialization_id
),
e AS (
  SELECT mat.*, sc.pue, sc.data_kwh_per_gb, sc.grid_gco2e_per_kwh, sc.electricity_usd_per_kwh,
         coalesce(hw.device_kwh, 0) AS device_kwh,
         sc.pue * coalesce(hw.device_kwh, 0) AS e_compute_kwh,
         coalesce(xfer.network_bytes, 0) / 1e9 * sc.data_kwh_per_gb AS e_data_kwh,
         CASE WHEN hw.materialization_id IS NULL THEN 0 ELSE hw.cost_hardware_usd END AS cost_hardware_usd,
         coalesce(hw.energy_method, 'unavailable') AS energy_method,
         coalesce(xfer.bytes_moved, 0) AS bytes_moved, coalesce(xfer.network_bytes, 0) AS network_bytes,
         coalesce(lab.labeling_hours, 0) AS labeling_hours,
         coalesce(lab.cost_labeling_usd, 0) AS cost_labeling_usd,
         coalesce(ppl.person_hours, 0) AS person_hours, coalesce(ppl.cost_person_usd, 0) AS cost_person_usd,
         hw.last_measured_at
  FROM mat
  JOIN rate_card_scalar sc ON sc.version = mat.rate_card_version
  LEFT JOIN hw USING (materialization_id)
  LEFT JOIN xfer USING (materialization_id)
  LEFT JOIN lab USING (materialization_id)
  LEFT JOIN ppl USING (materialization_id)
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
