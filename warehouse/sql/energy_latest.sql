-- Merge energy readings from the new energy_reading rows (new batch files, or the whole energy_reading table on a
-- rebuild) into energy_reading_latest: per (window_id, device_kind, device_index, host) only the
-- highest seq survives. A struct is the arg_max argument so a NULL energy_j (method 'unavailable')
-- still supersedes an older reading (arg_max skips NULL arguments).
INSERT INTO energy_reading_latest
SELECT window_id, device_kind, device_index, host,
       r.materialization_id, r.seq, r.device_name, r.energy_j, r.duration_s, r.method, r.measured_at
FROM (
  SELECT window_id, device_kind, device_index, host,
         arg_max(struct_pack(materialization_id, seq, device_name, energy_j, duration_s, method,
                             measured_at), seq) AS r
  FROM __NEW(energy_reading)__
  GROUP BY window_id, device_kind, device_index, host
)
ON CONFLICT DO UPDATE SET
  materialization_id = excluded.materialization_id, seq = excluded.seq,
  device_name = excluded.device_name, energy_j = excluded.energy_j,
  duration_s = excluded.duration_s, method = excluded.method, measured_at = excluded.measured_at
WHERE excluded.seq > energy_reading_latest.seq;
