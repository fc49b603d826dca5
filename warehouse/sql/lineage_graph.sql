-- Merge lineage edges from the new lineage_edge rows (new batch files, or all of lineage_edge on a rebuild) into
-- lineage_graph: each (materialization, upstream) pair once, self-loops dropped; and the same edges
-- on integer keys (lineage_node, filled by nodes.sql), with their allocation share, into
-- lineage_walk_edge (what the recursive walk joins on).
-- An edge with relation 'compared_with' (a model scored against a baseline) is not lineage of the
-- footprint: the compared model's cost is not part of the result's, so it is left out of both.
-- Statements run in this order, in the loader's transaction.
INSERT OR IGNORE INTO lineage_graph
SELECT DISTINCT materialization_id, upstream_materialization_id FROM __NEW(lineage_edge)__
WHERE materialization_id <> upstream_materialization_id AND coalesce(relation, 'input') <> 'compared_with';

INSERT OR IGNORE INTO lineage_walk_edge
SELECT DISTINCT a.node, b.node, 1.0
FROM __NEW(lineage_edge)__ s
JOIN lineage_node a ON a.materialization_id = s.materialization_id
JOIN lineage_node b ON b.materialization_id = s.upstream_materialization_id
WHERE s.materialization_id <> s.upstream_materialization_id AND coalesce(s.relation, 'input') <> 'compared_with';

-- An upstream that gained consumers splits its footprint among all of them (the walk's weights).
UPDATE lineage_walk_edge SET share = 1.0 / c.consumers
FROM (
  SELECT upstream_node, count(*) AS consumers FROM lineage_walk_edge
  WHERE upstream_node IN (SELECT n.node FROM __NEW(lineage_edge)__ s
                          JOIN lineage_node n ON n.materialization_id = s.upstream_materialization_id)
  GROUP BY upstream_node
) c
WHERE lineage_walk_edge.upstream_node = c.upstream_node;
