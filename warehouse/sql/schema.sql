-- Warehouse tables besides the facts. Facts are append-only: nothing is ever UPDATEd or DELETEd by the
-- product; the derived tables below are rebuildable from them.

-- The fact tables are created from their declarations in warehouse/facts.py (fact_table_ddl), before
-- this file runs: one declaration per fact. A materialization is begun once and ends once
-- (materialization_id is the primary key of both): a second fact for one id fails its batch.

-- Bookkeeping of the loader: a batch id appears here once; re-loading it is a no-op.
CREATE TABLE IF NOT EXISTS loaded_batch (
  batch_id VARCHAR PRIMARY KEY, loaded_at TIMESTAMPTZ NOT NULL, fact_count BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantined_batch (
  batch_id VARCHAR NOT NULL, quarantined_at TIMESTAMPTZ NOT NULL, reason VARCHAR NOT NULL
);

-- Rate cards: versioned, effective from a time, never edited in place. A version is a whole card.
CREATE TABLE IF NOT EXISTS rate_card_version (
  version INTEGER PRIMARY KEY, effective_from TIMESTAMPTZ NOT NULL, name VARCHAR NOT NULL,
  source_path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, loaded_at TIMESTAMPTZ NOT NULL
);
-- One rate: key (e.g. 'electricity_usd_per_kwh'), subject ('' for scalars; device kind or annotator
-- name for keyed rates), value, unit and where the figure comes from.
CREATE TABLE IF NOT EXISTS rate (
  version INTEGER NOT NULL, key VARCHAR NOT NULL, subject VARCHAR NOT NULL, value DOUBLE NOT NULL,
  unit VARCHAR NOT NULL, source VARCHAR NOT NULL, year INTEGER,
  PRIMARY KEY (version, key, subject)
);
-- Added 2026-12: the card's profile ('cloud': instance prices include power; 'on_prem': amortised
-- hardware + electricity) and a rate's basis (grid intensity: 'lifecycle' CO2e or 'direct' combustion).
-- Versions loaded before have NULL.
ALTER TABLE rate_card_version ADD COLUMN IF NOT EXISTS profile VARCHAR;
ALTER TABLE rate ADD COLUMN IF NOT EXISTS basis VARCHAR;
-- (rate_card_period and rate_card_scalar were views before 2026-12; connection.ensure_schema drops those
-- views, and sql/rate_tables.sql makes them tables.)

-- Derived and rebuildable (not a fact, never money): the newest energy reading per
-- (window_id, device_kind, device_index, host), i.e. heartbeats already superseded. The loader keeps
-- it in step with energy_reading in the same transaction (sql/energy_latest.sql), so the views read
-- one row per device window instead of every heartbeat. Rebuild both derived tables with
-- warehouse.views.rebuild_derived().
CREATE TABLE IF NOT EXISTS energy_reading_latest (
  window_id VARCHAR NOT NULL, device_kind VARCHAR NOT NULL, device_index INTEGER NOT NULL,
  host VARCHAR NOT NULL, materialization_id VARCHAR NOT NULL, seq INTEGER NOT NULL,
  device_name VARCHAR NOT NULL, energy_j DOUBLE, duration_s DOUBLE NOT NULL, method VARCHAR NOT NULL,
  measured_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (window_id, device_kind, device_index, host)
);
-- Derived and rebuildable: lineage_edge without duplicates and self-loops (sql/lineage_graph.sql).
CREATE TABLE IF NOT EXISTS lineage_graph (
  materialization_id VARCHAR NOT NULL, upstream_materialization_id VARCHAR NOT NULL,
  PRIMARY KEY (materialization_id, upstream_materialization_id)
);
-- Derived and rebuildable: an INTEGER `node` for every materialization id the facts name (a
-- materialization, either end of a lineage edge, any usage), assigned in load order and, on a rebuild,
-- by start time: about chronological, so a recent materialization's lineage lies in recent row groups
-- and DuckDB's join filters skip the rest of history. The walk and the per-node tables join on it
-- (sql/nodes.sql).
CREATE TABLE IF NOT EXISTS lineage_node (
  materialization_id VARCHAR NOT NULL PRIMARY KEY, node INTEGER NOT NULL
);
-- Derived and rebuildable: materialization_status on nodes, for the roll-up (sql/node_status.sql).
-- `metered`: it has device use (device_usage); `last_at`: the end of its last metered interval (how
-- long an incomplete materialization lasted at least). Kept by the usage files.
CREATE TABLE IF NOT EXISTS node_status (
  node INTEGER NOT NULL PRIMARY KEY, materialization_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
  asset_key VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL, ended_at TIMESTAMPTZ, status VARCHAR NOT NULL,
  metered BOOLEAN NOT NULL, last_at TIMESTAMPTZ
);
-- Each edge on those keys with its allocation share 1 / consumers(upstream): how many distinct
-- materializations consumed the upstream (re-computed for an upstream whenever it gains a consumer).
CREATE TABLE IF NOT EXISTS lineage_walk_edge (
  node INTEGER NOT NULL, upstream_node INTEGER NOT NULL, share DOUBLE NOT NULL,
  PRIMARY KEY (node, upstream_node)
);
DROP TABLE IF EXISTS lineage_graph_key;  -- before lineage_walk_edge (no share column): rebuilt from facts

-- Derived and rebuildable (quantities only, never money): per materialization, what the pricing
-- multiplies by the rate card, one row per rate subject (sql/usage_*.sql, kept in step with the
-- facts by the loader in the same transaction):
--   kind 'annotation' active seconds per annotator, newest version of each annotation
--                     (as annotation_work_latest); rate_key annotator_usd_per_hour, else subject '';
--                     `unknown` counts those whose lead time is missing or invalid (time unknown);
--   kind 'person'     person_time seconds per person; rate_key person_usd_per_hour, else subject '';
--   kind 'transfer'   bytes moved and network-scope bytes, per year of the transfer (no rate key).
-- Device use is in device_usage.
CREATE TABLE IF NOT EXISTS materialization_usage (
  materialization_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, rate_key VARCHAR,
  subject VARCHAR NOT NULL, fallback_subject VARCHAR NOT NULL,
  seconds DOUBLE, unknown BIGINT NOT NULL, bytes_moved BIGINT, network_bytes BIGINT, transfer_year INTEGER,
  node INTEGER NOT NULL
);

-- Derived and rebuildable (quantities only, never money): per materialization and device, what its
-- windows were charged of the device (docs/warehouse.md, "Attribution"), summed over the host's
-- intervals (sql/usage_device.sql from the ledger facts; sql/usage_legacy.sql from energy readings of
-- versions before 2026-12, origin 'legacy'). `service` is '' for the materialization's own windows,
-- else the service whose use was charged to it (e.g. 'label-studio').
--   energy_j    measured joules charged (a counter's delta x share), NULL when none was measured;
--   power_use   estimated use charged, in the device's unit (CPU thread-seconds, RAM GB-seconds): x the
--               card's cpu_watts_per_thread_max[power_model] / ram_watts_per_gb = joules;
--   seconds     device-seconds billed (interval x share), priced by device_usd_per_hour;
--   intervals, energy_unknown, share_unknown: intervals charged, and of them those whose energy or
--               whose share is unknown (a device read 'unavailable', or who used it is unknown).
CREATE TABLE IF NOT EXISTS device_usage (
  materialization_id VARCHAR NOT NULL, host VARCHAR NOT NULL, device_kind VARCHAR NOT NULL,
  device_index INTEGER NOT NULL, service VARCHAR NOT NULL, origin VARCHAR NOT NULL,
  device_name VARCHAR NOT NULL, power_model VARCHAR NOT NULL,
  energy_j DOUBLE, power_use DOUBLE, seconds DOUBLE NOT NULL,
  intervals BIGINT NOT NULL, energy_unknown BIGINT NOT NULL, share_unknown BIGINT NOT NULL,
  method_min VARCHAR, method_max VARCHAR, first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, node INTEGER NOT NULL
);

-- Bookkeeping of the loader's derived merges: the materializations a merge touched (their
-- node_footprint rows are refreshed at its end, then this is emptied). node_footprint itself (the
-- priced cache of asset_footprint on nodes) is created from the view by warehouse.views.
CREATE TABLE IF NOT EXISTS derived_touched (materialization_id VARCHAR NOT NULL);

-- Bookkeeping of warehouse.views: the digest of the view SQL last created (views are re-created only
-- when it changes).
CREATE TABLE IF NOT EXISTS warehouse_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
