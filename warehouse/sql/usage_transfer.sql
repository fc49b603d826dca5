-- Refresh the 'transfer' rows of materialization_usage for the materializations in the new transfer rows:
-- all bytes moved, and the network-scope bytes that E_data and transfer $/GB apply to, per UTC year of
-- the transfer (E_data's coefficient is scaled to that year, views.sql data_kwh_per_gb_in).
CREATE OR REPLACE TEMP TABLE usage_scope AS SELECT DISTINCT materialization_id FROM __NEW(transfer)__;

DELETE FROM materialization_usage
WHERE kind = 'transfer' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO materialization_usage
SELECT materialization_id, 'transfer', NULL, '', '', NULL, 0,
       sum(bytes), coalesce(sum(bytes) FILTER (WHERE scope = 'network'), 0),
       year(timezone('UTC', occurred_at)), any_value(n.node)
FROM transfer JOIN lineage_node n USING (materialization_id)
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id, year(timezone('UTC', occurred_at));

INSERT INTO derived_touched SELECT materialization_id FROM usage_scope;

DROP TABLE usage_scope;
