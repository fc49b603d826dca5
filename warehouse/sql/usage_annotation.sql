-- Refresh the 'annotation' rows of materialization_usage. A new version of an annotation can move its
-- hours from an older materialization to a newer one, so every materialization holding any version of
-- an annotation in the new annotation_work rows is recomputed, from the newest version of each annotation
-- (the rule of the annotation_work_latest view: newest updated_at, then the first batch that recorded
-- it). An annotation without a valid lead time (lead_time_s NULL) has unknown time: it adds no seconds
-- and counts in `unknown` (facts of older versions stored active_s 0 for it).
CREATE OR REPLACE TEMP TABLE usage_scope AS
SELECT DISTINCT materialization_id FROM annotation_work
WHERE annotation_id IN (SELECT annotation_id FROM __NEW(annotation_work)__);

DELETE FROM materialization_usage
WHERE kind = 'annotation' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

INSERT INTO materialization_usage
WITH latest AS (
  SELECT materialization_id, annotator, lead_time_s, active_s FROM annotation_work
  WHERE annotation_id IN (SELECT annotation_id FROM annotation_work
                          WHERE materialization_id IN (SELECT materialization_id FROM usage_scope))
  QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY updated_at DESC, batch_id, fact_id) = 1
)
SELECT materialization_id, 'annotation', 'annotator_usd_per_hour', annotator, '',
       coalesce(sum(active_s) FILTER (WHERE lead_time_s IS NOT NULL), 0),
       count(*) FILTER (WHERE lead_time_s IS NULL), 0, 0, NULL, any_value(n.node)
FROM latest JOIN lineage_node n USING (materialization_id)
WHERE materialization_id IN (SELECT materialization_id FROM usage_scope)
GROUP BY materialization_id, annotator;

INSERT INTO derived_touched SELECT materialization_id FROM usage_scope;

DROP TABLE usage_scope;
