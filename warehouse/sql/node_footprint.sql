-- Refresh node_footprint (asset_footprint under the card in force, on nodes: what the roll-up reads)
-- for the materializations this merge touched, then forget them. Runs last, after every other file.
DELETE FROM node_footprint WHERE materialization_id IN (SELECT materialization_id FROM derived_touched);

INSERT INTO node_footprint
SELECT n.node, f.* FROM asset_footprint_at(NULL, only_touched := TRUE) f JOIN lineage_node n USING (materialization_id);

DELETE FROM derived_touched;
