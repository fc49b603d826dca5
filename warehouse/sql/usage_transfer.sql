-- Refresh the 'transfer' row of materialization_usage for the materializations in __SOURCE__: all
-- bytes moved, and the network-scope bytes that E_data and transfer $/GB apply to.
CREATE OR REPLACE TEMP TABLE usage_scope AS SELECT DISTINCT materialization_id FROM __SOURCE__;

DELETE FROM materialization_usage
WHERE kind = 'transfer' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO materialization_usage
SELECT materialization_id, 'transfer', NULL, '', '',
       NULL, NULL, NULL, NULL, NULL, NULL,
       sum(bytes), coalesce(sum(bytes) FILTER (WHERE scope = 'network'), 0)
FROM transfer
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id;

DROP TABLE usage_scope;
