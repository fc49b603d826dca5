-- Refresh the 'person' rows of materialization_usage for the materializations in __SOURCE__.
CREATE OR REPLACE TEMP TABLE usage_scope AS SELECT DISTINCT materialization_id FROM __SOURCE__;

DELETE FROM materialization_usage
WHERE kind = 'person' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO materialization_usage
SELECT materialization_id, 'person', 'person_usd_per_hour', person, '',
       NULL, sum(duration_s), NULL, NULL, NULL, NULL, 0, 0
FROM person_time
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id, person;

DROP TABLE usage_scope;
