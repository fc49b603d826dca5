-- Model quality beside the footprint (created after rollup.sql by warehouse/views.py).
--
-- A model materialization records QualityMetric facts: `step` NULL for the final figure of its model,
-- an integer for an evaluation during training at that optimizer step. A model scored against a
-- baseline records a lineage edge with relation 'compared_with' to exactly that baseline
-- materialization; the edge is not part of the footprint walk (sql/lineage_graph.sql), so the
-- baseline's footprint is never added to the model's.

-- model_quality: one row per (materialization, split, metric name, label) with the FINAL figure: the
-- row with step NULL if there is one, else the one of the highest step (a run that died after an
-- evaluation keeps what it measured). A figure recorded twice at the same step: the later batch wins.
-- label is NULL for an overall figure (f1_macro, accuracy, ...) and the class for a per-class one.
CREATE OR REPLACE VIEW model_quality AS
SELECT q.materialization_id, s.asset_key, s.run_id, coalesce(s.status, 'unrecorded') AS status,
       s.started_at, q.split, q.name, q.label, q.value, q.step, q.step IS NULL AS final_model
FROM quality_metric q
LEFT JOIN materialization_status s USING (materialization_id)
QUALIFY row_number() OVER (PARTITION BY q.materialization_id, q.split, q.name, q.label
                           ORDER BY q.step IS NULL DESC, q.step DESC, q.batch_id DESC, q.fact_id) = 1;

-- model_vs_baseline_of(model_id) / model_vs_baseline (every compared model): one row per (model
-- materialization, baseline it was compared with), from the model's 'compared_with' lineage edge:
-- macro-F1 on the 'eval' split of both, the F1 points gained (100 x the difference; zero or negative
-- shown as such), the model's whole end-to-end footprint (end_to_end_footprint_of's totals: itself and
-- every upstream once, labelling included; the baseline is not in it) and the points gained per kWh,
-- per USD and per kg CO2e of that footprint.
-- Unknown is NULL, never 0: a footprint figure with an unknown part is NULL (its `_at_least` sibling
-- sums the known parts, unknown_parts counts the rest), and so is every per-unit figure that needs
-- it. A per-unit figure is also NULL when the footprint is 0 (nothing to divide by) or when upstream
-- materializations are not recorded (the footprint would be too small); `per_unit_note` says why.
-- The lineage walk starts from the compared models only (one with model_id): a WHERE on the view
-- does not narrow it, so for one model call model_vs_baseline_of('<id>').
CREATE OR REPLACE MACRO model_vs_baseline_of(model_id) AS TABLE
WITH pair AS MATERIALIZED (
  SELECT DISTINCT materialization_id AS model_materialization_id,
         upstream_materialization_id AS baseline_materialization_id
  FROM lineage_edge
  WHERE relation = 'compared_with' AND (model_id IS NULL OR materialization_id = model_id)
),
f1 AS (
  SELECT materialization_id, value FROM model_quality
  WHERE split = 'eval' AND name = 'f1_macro' AND label IS NULL
),
priced AS (
  SELECT e.* FROM end_to_end_cached(
    NULL, roots := coalesce((SELECT list(DISTINCT model_materialization_id) FROM pair), []::VARCHAR[])) e
),
g AS (
  SELECT p.model_materialization_id, p.baseline_materialization_id,
         fm.value AS model_f1_macro, fb.value AS baseline_f1_macro,
         100.0 * (fm.value - fb.value) AS f1_points_gained,
         e.upstream_count, e.upstream_unrecorded, e.not_successful_count,
         e.energy_kwh, e.cost_usd, e.co2e_kg,
         e.energy_kwh_at_least, e.cost_usd_at_least, e.co2e_kg_at_least, e.energy_method,
         coalesce(e.unknown_parts, 0) AS unknown_parts,
         e.materialization_id IS NULL AS unpriced
  FROM pair p
  LEFT JOIN f1 fm ON fm.materialization_id = p.model_materialization_id
  LEFT JOIN f1 fb ON fb.materialization_id = p.baseline_materialization_id
  LEFT JOIN priced e ON e.materialization_id = p.model_materialization_id
)
SELECT g.model_materialization_id, m.asset_key AS model_asset_key, m.run_id, m.status, m.started_at,
       g.baseline_materialization_id, b.asset_key AS baseline_asset_key, b.status AS baseline_status,
       g.model_f1_macro, g.baseline_f1_macro, g.f1_points_gained,
       g.energy_kwh, g.cost_usd, g.co2e_kg,
       CASE WHEN g.upstream_unrecorded = 0 AND g.energy_kwh > 0 THEN g.f1_points_gained / g.energy_kwh END
         AS f1_points_per_kwh,
       CASE WHEN g.upstream_unrecorded = 0 AND g.cost_usd > 0 THEN g.f1_points_gained / g.cost_usd END
         AS f1_points_per_usd,
       CASE WHEN g.upstream_unrecorded = 0 AND g.co2e_kg > 0 THEN g.f1_points_gained / g.co2e_kg END
         AS f1_points_per_kg_co2e,
       g.energy_kwh_at_least, g.cost_usd_at_least, g.co2e_kg_at_least, g.unknown_parts, g.energy_method,
       g.upstream_count, g.upstream_unrecorded, g.not_successful_count,
       nullif(concat_ws('; ',
         CASE WHEN g.model_f1_macro IS NULL THEN 'the model has no eval f1_macro' END,
         CASE WHEN g.baseline_f1_macro IS NULL THEN 'the baseline has no eval f1_macro' END,
         CASE WHEN g.unpriced THEN 'the model has no materialization fact to price' END,
         CASE WHEN g.upstream_unrecorded > 0
              THEN g.upstream_unrecorded || ' upstream materialization(s) not recorded' END,
         CASE WHEN g.energy_kwh IS NULL AND NOT g.unpriced THEN 'energy has unknown parts'
              WHEN g.energy_kwh = 0 THEN 'energy is 0 kWh' END,
         CASE WHEN g.cost_usd IS NULL AND NOT g.unpriced THEN 'cost has unknown parts'
              WHEN g.cost_usd = 0 THEN 'cost is 0 USD' END,
         CASE WHEN g.co2e_kg IS NULL AND NOT g.unpriced THEN 'CO2e has unknown parts'
              WHEN g.co2e_kg = 0 THEN 'CO2e is 0 kg' END
       ), '') AS per_unit_note
FROM g
LEFT JOIN materialization_status m ON m.materialization_id = g.model_materialization_id
LEFT JOIN materialization_status b ON b.materialization_id = g.baseline_materialization_id;

CREATE OR REPLACE VIEW model_vs_baseline AS SELECT * FROM model_vs_baseline_of(NULL);

-- model_vs_baseline_per_class: per compared pair and class, the final eval precision, recall and F1
-- of the model and of the baseline side by side (a class only one of them reported has NULLs on the
-- other side), and the F1 points gained on that class.
CREATE OR REPLACE VIEW model_vs_baseline_per_class AS
WITH pair AS (
  SELECT DISTINCT materialization_id AS model_materialization_id,
         upstream_materialization_id AS baseline_materialization_id
  FROM lineage_edge WHERE relation = 'compared_with'
),
pc AS (
  SELECT materialization_id, label,
         max(value) FILTER (WHERE name = 'precision') AS precision,
         max(value) FILTER (WHERE name = 'recall') AS recall,
         max(value) FILTER (WHERE name = 'f1') AS f1
  FROM model_quality WHERE split = 'eval' AND label IS NOT NULL
  GROUP BY materialization_id, label
),
labels AS (
  SELECT DISTINCT p.model_materialization_id, p.baseline_materialization_id, pc.label
  FROM pair p JOIN pc ON pc.materialization_id IN (p.model_materialization_id, p.baseline_materialization_id)
)
SELECT l.model_materialization_id, l.baseline_materialization_id, l.label,
       m.precision AS model_precision, m.recall AS model_recall, m.f1 AS model_f1,
       b.precision AS baseline_precision, b.recall AS baseline_recall, b.f1 AS baseline_f1,
       100.0 * (m.f1 - b.f1) AS f1_points_gained
FROM labels l
LEFT JOIN pc m ON m.materialization_id = l.model_materialization_id AND m.label = l.label
LEFT JOIN pc b ON b.materialization_id = l.baseline_materialization_id AND b.label = l.label;
