-- Give every materialization id the new facts name a node (lineage_node), before the other derived
-- files run: in order of start time where known (new materializations), then by id. On a rebuild the
-- new rows are all facts, so nodes follow start time.
INSERT INTO lineage_node
SELECT id, (SELECT coalesce(max(node), 0) FROM lineage_node) + row_number() OVER (ORDER BY first_seen NULLS LAST, id)
FROM (
  SELECT id, min(first_seen) AS first_seen
  FROM (
    SELECT materialization_id AS id, started_at AS first_seen FROM __NEW(materialization)__
    UNION ALL SELECT materialization_id, NULL FROM __NEW(lineage_edge)__
    UNION ALL SELECT upstream_materialization_id, NULL FROM __NEW(lineage_edge)__
    UNION ALL SELECT materialization_id, NULL FROM __NEW(window_usage)__ WHERE materialization_id IS NOT NULL
    UNION ALL SELECT materialization_id, NULL FROM __NEW(energy_reading)__
    UNION ALL SELECT materialization_id, NULL FROM __NEW(annotation_work)__
    UNION ALL SELECT materialization_id, NULL FROM __NEW(person_time)__
    UNION ALL SELECT materialization_id, NULL FROM __NEW(transfer)__
  )
  GROUP BY id
)
WHERE id NOT IN (SELECT materialization_id FROM lineage_node);
