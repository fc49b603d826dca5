-- For the materializations this merge touched (derived_touched), after every other derived file:
-- node_status's metered / last_at from their device use, then node_footprint (asset_footprint under
-- the card in force, on nodes: what the roll-up reads); then forget them.
UPDATE node_status SET metered = TRUE, last_at = u.last_at
FROM (SELECT node, max(last_at) AS last_at FROM device_usage
      WHERE materialization_id IN (SELECT materialization_id FROM derived_touched) GROUP BY node) u
WHERE node_status.node = u.node;

DELETE FROM node_footprint WHERE materialization_id IN (SELECT materialization_id FROM derived_touched);

INSERT INTO node_footprint
SELECT n.node, f.* FROM asset_footprint_at(NULL, only_touched := TRUE) f JOIN lineage_node n USING (materialization_id);

DELETE FROM derived_touched;
