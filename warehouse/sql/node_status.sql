-- Keep node_status (materialization_status on nodes) in step: a new materialization (with its outcome
-- if it is already loaded), then new outcomes. materialization_id is the primary key of both facts.
INSERT INTO node_status
SELECT n.node, m.materialization_id, m.run_id, m.asset_key, m.started_at, o.ended_at,
       coalesce(o.status, 'incomplete'), u.node IS NOT NULL, u.last_at
FROM __NEW(materialization)__ m
JOIN lineage_node n USING (materialization_id)
LEFT JOIN materialization_outcome o USING (materialization_id)
LEFT JOIN (SELECT node, max(last_at) AS last_at FROM device_usage GROUP BY node) u ON u.node = n.node;

UPDATE node_status SET ended_at = o.ended_at, status = o.status
FROM __NEW(materialization_outcome)__ o
WHERE node_status.materialization_id = o.materialization_id AND node_status.status = 'incomplete';

INSERT INTO derived_touched
SELECT materialization_id FROM __NEW(materialization)__
UNION ALL SELECT materialization_id FROM __NEW(materialization_outcome)__;
