-- Refresh the ledger rows of device_usage (origin 'ledger') for every materialization with a window in
-- a host interval that new facts touched: new device intervals, new window usage, or a window declared
-- after its usage. Recomputed from all the ledger facts of those materializations, through the
-- ledger_charge view (views.sql): an interval's split depends on every window in it, and a tick's
-- facts may arrive in several batches. the new t rows is this merge's new rows of fact table t (every row
-- on a rebuild).
-- A window is declared in the batch of its first usage (the ledger's opening tick). Were a service's or
-- a service user's MeterWindow to arrive after some of its usage (the only windows whose declaration
-- changes a split), the ticks of that earlier usage are touched too; a plain step window's declaration
-- changes nothing (its usage carries its materialization).
CREATE OR REPLACE TEMP TABLE usage_ticks AS
SELECT tick_id FROM __NEW(device_interval)__
UNION SELECT tick_id FROM __NEW(window_usage)__
UNION SELECT tick_id FROM window_usage
      WHERE window_id IN (SELECT window_id FROM __NEW(meter_window)__
                          WHERE role = 'service' OR uses_services <> '');

-- Every materialization charged in those ticks has a window with usage in them (a service's use is
-- charged to windows of the same tick), so the scope is read from window_usage alone.
CREATE OR REPLACE TEMP TABLE usage_scope AS
SELECT DISTINCT materialization_id FROM window_usage
WHERE tick_id IN (SELECT tick_id FROM usage_ticks) AND materialization_id IS NOT NULL;

DELETE FROM device_usage
WHERE origin = 'ledger' AND materialization_id IN (SELECT materialization_id FROM usage_scope);

-- The energy method of the devices that were charged something (share > 0), else of every device read
-- ('estimated' 1 < 'measured' 2 as codes: aggregating integers, not strings, in the large group-by).
INSERT INTO device_usage
SELECT c.materialization_id, c.host, c.device_kind, c.device_index, c.service, 'ledger', c.device_name,
       c.power_model, c.energy_j, c.power_use, c.seconds, c.intervals, c.energy_unknown, c.share_unknown,
       CASE coalesce(c.charged_min, c.read_min) WHEN 1 THEN 'estimated' WHEN 2 THEN 'measured' END,
       CASE coalesce(c.charged_max, c.read_max) WHEN 1 THEN 'estimated' WHEN 2 THEN 'measured' END,
       c.first_at, c.last_at, n.node
FROM (
  SELECT materialization_id, host, device_kind, device_index, service,
         any_value(device_name) AS device_name, any_value(power_model) AS power_model,
         sum(energy_j) AS energy_j, sum(power_use) AS power_use, coalesce(sum(seconds), 0) AS seconds,
         count(*) AS intervals, count(*) FILTER (WHERE energy_unknown) AS energy_unknown,
         count(*) FILTER (WHERE share IS NULL) AS share_unknown,
         min(m) FILTER (WHERE share > 0) AS charged_min, max(m) FILTER (WHERE share > 0) AS charged_max,
         min(m) AS read_min, max(m) AS read_max,
         min(started_at) AS first_at, max(ended_at) AS last_at
  FROM (SELECT *, CASE method WHEN 'estimated' THEN 1 WHEN 'measured' THEN 2 END AS m FROM ledger_charge
        WHERE materialization_id IN (SELECT materialization_id FROM usage_scope))
  GROUP BY materialization_id, host, device_kind, device_index, service
) c
JOIN lineage_node n USING (materialization_id);

INSERT INTO derived_touched SELECT materialization_id FROM usage_scope;

DROP TABLE usage_scope;
DROP TABLE usage_ticks;
