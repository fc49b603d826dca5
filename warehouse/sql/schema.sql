-- Warehouse tables. Facts are append-only: nothing here is ever UPDATEd or DELETEd by the product.
-- Column names and types mirror warehouse/facts.py (FACT_SCHEMAS); keep them in step.

-- A materialization is begun once: a second fact with the same id fails its batch (quarantined).
CREATE TABLE IF NOT EXISTS materialization (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL PRIMARY KEY, run_id VARCHAR NOT NULL, asset_key VARCHAR NOT NULL,
  started_at TIMESTAMPTZ NOT NULL, partition_key VARCHAR, attempt INTEGER NOT NULL,
  host VARCHAR NOT NULL, code_version VARCHAR
);

-- ... and ends once: a second outcome for the same materialization fails its batch.
CREATE TABLE IF NOT EXISTS materialization_outcome (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL PRIMARY KEY, status VARCHAR NOT NULL, ended_at TIMESTAMPTZ NOT NULL,
  error VARCHAR
);

CREATE TABLE IF NOT EXISTS energy_reading (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, window_id VARCHAR NOT NULL, seq INTEGER NOT NULL,
  is_final BOOLEAN NOT NULL, device_kind VARCHAR NOT NULL, device_index INTEGER NOT NULL,
  device_name VARCHAR NOT NULL, host VARCHAR NOT NULL, energy_j DOUBLE, duration_s DOUBLE NOT NULL,
  method VARCHAR NOT NULL, source VARCHAR NOT NULL, measured_at TIMESTAMPTZ NOT NULL,
  rank INTEGER, note VARCHAR
);

CREATE TABLE IF NOT EXISTS transfer (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, bytes BIGINT NOT NULL, duration_s DOUBLE NOT NULL,
  direction VARCHAR NOT NULL, endpoint_kind VARCHAR NOT NULL, scope VARCHAR NOT NULL,
  occurred_at TIMESTAMPTZ NOT NULL, endpoint VARCHAR NOT NULL, requests BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS storage (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, bytes_held BIGINT NOT NULL, location VARCHAR NOT NULL,
  kind VARCHAR NOT NULL, occurred_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS lineage_edge (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, upstream_materialization_id VARCHAR NOT NULL,
  upstream_asset_key VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS annotation_work (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, annotation_id BIGINT NOT NULL, task_id BIGINT NOT NULL,
  annotator VARCHAR NOT NULL, project VARCHAR NOT NULL, lead_time_s DOUBLE, active_s DOUBLE NOT NULL,
  idle_cap_s DOUBLE NOT NULL, was_cancelled BOOLEAN NOT NULL, label VARCHAR, flags VARCHAR NOT NULL,
  created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS person_time (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, person VARCHAR NOT NULL, role VARCHAR NOT NULL,
  duration_s DOUBLE NOT NULL, note VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS quality_metric (
  fact_id UUID NOT NULL, batch_id VARCHAR NOT NULL,
  materialization_id VARCHAR NOT NULL, name VARCHAR NOT NULL, value DOUBLE NOT NULL,
  split VARCHAR NOT NULL, label VARCHAR
);

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
-- Derived and rebuildable, for the recursive walk only: an INTEGER surrogate `node` for every id that
-- appears in lineage_edge, and lineage_graph on those keys (integer joins at each step of the walk
-- instead of 32-character strings). Kept in step with lineage_graph by sql/lineage_graph.sql.
CREATE TABLE IF NOT EXISTS lineage_node (
  materialization_id VARCHAR NOT NULL PRIMARY KEY, node INTEGER NOT NULL
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
--   kind 'device'     device energy and billable device-seconds per (device model, device kind), from
--                     energy_reading_latest; rate_key device_usd_per_hour, subject = model, else kind;
--   kind 'meter'      one per materialization with readings: billable_readings 1 if any device was
--                     really metered (index >= 0) else 0, the range of their methods, last heartbeat;
--   kind 'annotation' active seconds per annotator, newest version of each annotation
--                     (as annotation_work_latest); rate_key annotator_usd_per_hour, else subject '';
--   kind 'person'     person_time seconds per person; rate_key person_usd_per_hour, else subject '';
--   kind 'transfer'   bytes moved and network-scope bytes (no rate key).
CREATE TABLE IF NOT EXISTS materialization_usage (
  materialization_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, rate_key VARCHAR,
  subject VARCHAR NOT NULL, fallback_subject VARCHAR NOT NULL,
  energy_j DOUBLE, seconds DOUBLE, billable_readings BIGINT, method_min VARCHAR, method_max VARCHAR,
  last_measured_at TIMESTAMPTZ, bytes_moved BIGINT, network_bytes BIGINT
);

-- Bookkeeping of warehouse.views: the digest of the view SQL last created (views are re-created only
-- when it changes).
CREATE TABLE IF NOT EXISTS warehouse_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
