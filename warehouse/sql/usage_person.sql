-- Refresh the 'person' rows of materialization_usage for the materializations in the new person_time rows.
CREATE OR REPLACE TEMP TABLE usage_scope AS SELECT DISTINCT materialization_id FROM __NEW(person_time)__;

DELETE FROM materialization_usage
WHERE kind = 'person' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO materialization_usage
SELECT materialization_id, 'person', 'person_usd_per_hour', person, '', sum(duration_s), 0, 0, 0, NULL,
       any_value(n.node)
FROM person_time JOIN lineage_node n USING (materialization_id)
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id, person;

INSERT INTO derived_touched SELECT materialization_id FROM usage_scope;

DROP TABLE usage_scope;
