-- Merge lineage edges from __SOURCE__ (new batch files, or all of lineage_edge on a rebuild) into
-- lineage_graph: each (materialization, upstream) pair once, self-loops dropped.
INSERT OR IGNORE INTO lineage_graph
SELECT DISTINCT materialization_id, upstream_materialization_id FROM __SOURCE__
WHERE materialization_id <> upstream_materialization_id;
