"""Analyst views (sql/views.sql, sql/rollup.sql, sql/quality.sql), the default rate card, and the
derived tables the views read: `energy_reading_latest` (legacy heartbeats superseded), `device_usage` (per
materialization and device, what its windows were charged: docs/warehouse.md, "Attribution"),
`materialization_usage` (annotation, person and transfer quantities the rate card multiplies),
`lineage_graph` (edges once) and its integer-keyed twin `lineage_node` / `lineage_walk_edge` (edges
with allocation shares: what the recursive walk joins on). Derived tables hold facts re-shaped, never
money."""

from __future__ import annotations

import hashlib
import re

import duckdb

from warehouse.connection import DERIVED_TABLES, sql_text
from warehouse.ratecard_store import ensure_default_card, fill_missing_rates

VIEW_FILES: tuple[str, ...] = ("views.sql", "rollup.sql", "quality.sql")
# The SQL files that fold new facts into the derived tables, in order, each with the fact tables whose
# new rows it reads (`__NEW(table)__` in the file). A file runs once per merge when any of them has
# new rows; on a rebuild `__NEW(table)__` is the whole table.
_NAMING = (  # fact tables whose rows name a materialization id: each may bring a new node
    "materialization",
    "lineage_edge",
    "window_usage",
    "energy_reading",
    "annotation_work",
    "person_time",
    "transfer",
)
DERIVED_SQL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nodes.sql", _NAMING),
    ("node_status.sql", ("materialization", "materialization_outcome")),
    ("energy_latest.sql", ("energy_reading",)),
    ("usage_legacy.sql", ("energy_reading",)),
    ("usage_device.sql", ("device_interval", "window_usage", "meter_window")),
    ("lineage_graph.sql", ("lineage_edge",)),
    ("usage_annotation.sql", ("annotation_work",)),
    ("usage_person.sql", ("person_time",)),
    ("usage_transfer.sql", ("transfer",)),
)
# The derived files asset_footprint reads (lineage_node, device_usage, energy_reading_latest,
# materialization_usage): what pricing one materialization runs (warehouse.price_model). node_status,
# lineage_graph and node_footprint feed the roll-up and the report only.
FOOTPRINT_DERIVED_SQL: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (f, t) for f, t in DERIVED_SQL if f not in ("node_status.sql", "lineage_graph.sql")
)
_NEW = re.compile(r"__NEW\((\w+)\)__")


def view_sql() -> list[str]:
    """The CREATE statements of the analyst views and macros, in order."""
    return [sql_text(name) for name in VIEW_FILES]


def ensure_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the analyst views; load the default rate card if none is loaded yet; rebuild
    the derived tables when `ensure_schema` found them outdated.

    Needs a read-write connection on which `ensure_schema` has run. The views are only re-created
    when their SQL changed since the last call (binding them costs ~0.1 s; `warehouse_meta` keeps the
    digest)."""
    ensure_default_card(con)
    fill_missing_rates(con)
    statements = view_sql()
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    row = con.execute("SELECT value FROM warehouse_meta WHERE key = 'views_sha256'").fetchall()
    views_changed = not (row and row[0][0] == digest and _views_present(con))
    if views_changed:
        views, rollup, *after_rollup = statements
        con.execute(views)
        rebuild_node_footprint(con)  # the formulas may have changed; rollup.sql reads the cache
        con.execute(rollup)
        for sql in after_rollup:  # quality.sql reads the roll-up
            con.execute(sql)
        con.execute("INSERT OR REPLACE INTO warehouse_meta VALUES ('views_sha256', ?)", [digest])
    elif not _table_present(con, "node_footprint"):
        rebuild_node_footprint(con)
    if con.execute("SELECT count(*) FROM warehouse_meta WHERE key = 'derived_rebuild'").fetchall()[0][0]:
        rebuild_derived(con)  # a warehouse whose derived tables were made by an older version
        con.execute("DELETE FROM warehouse_meta WHERE key = 'derived_rebuild'")


def rebuild_node_footprint(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute node_footprint, the priced cache of asset_footprint (card in force) on nodes that the
    roll-up reads, from the views: after the views or the cards change, and on a rebuild. Cards are
    small and rarely loaded; a full recompute is about 70 ms per 10k materializations."""
    con.execute(
        "CREATE OR REPLACE TABLE node_footprint AS SELECT n.node, f.* FROM asset_footprint_at(NULL) f "
        "JOIN lineage_node n USING (materialization_id) ORDER BY n.node"
    )
    con.execute("DELETE FROM derived_touched")


def _statements(sql: str) -> list[str]:
    """Split a derived-table SQL file into statements (each ends with ';' at the end of a line)."""
    parts = [p.strip() for p in sql.split(";\n")]
    return [p for p in parts if p and not all(line.lstrip().startswith("--") for line in p.splitlines())]


def rebuild_statements(sql_file: str) -> list[str]:
    """The statements of a derived SQL file in rebuild mode (`__NEW(t)__` is the whole table t)."""
    return _statements(_NEW.sub(lambda m: m.group(1), sql_text(sql_file)))


def run_derived(con: duckdb.DuckDBPyConnection, sql_file: str, new: set[str] | None) -> None:
    """Run one derived SQL file: `__NEW(t)__` is this merge's new rows of fact table t (those of the
    batches in the temp table `new_batch`, already inserted), an empty relation when t got none, or the
    whole table t on a rebuild (`new` None). New rows are read back from the table by batch id rather
    than from the batch files: the batch ids sort by time, so zone maps skip older row groups."""

    def source(m: re.Match[str]) -> str:
        table = m.group(1)
        if new is None:
            return table
        if table in new:
            return f"(SELECT * FROM {table} WHERE batch_id IN (SELECT batch_id FROM new_batch))"
        return f"(SELECT * FROM {table} WHERE false)"

    for statement in _statements(_NEW.sub(source, sql_text(sql_file))):
        con.execute(statement)


def merge_derived(con: duckdb.DuckDBPyConnection, new_tables: set[str], batch_ids: list[str]) -> None:
    """Fold the facts of the batches just inserted (`batch_ids`; `new_tables`: the fact tables that got
    rows) into the derived tables: each derived SQL file whose fact tables have new rows runs once, then
    the priced cache is refreshed for the materializations they touched (node_footprint.sql)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE new_batch AS SELECT unnest(?::VARCHAR[]) AS batch_id", [batch_ids]
    )
    try:
        for sql_file, tables in DERIVED_SQL:
            if new_tables.intersection(tables):
                run_derived(con, sql_file, new_tables)
        run_derived(con, "node_footprint.sql", new_tables)  # the touched materializations' priced rows
    finally:
        con.execute("DROP TABLE IF EXISTS new_batch")


def rebuild_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every derived table from all facts (idempotent)."""
    for table in DERIVED_TABLES:
        con.execute(f"DELETE FROM {table}")
    for sql_file, _ in DERIVED_SQL:
        run_derived(con, sql_file, None)
    con.execute("DELETE FROM derived_touched")
    con.execute("INSERT INTO derived_touched SELECT materialization_id FROM materialization")
    run_derived(con, "node_footprint.sql", None)  # every materialization: node_status's metered, the cache


def _table_present(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
    return bool(row[0][0])


def _views_present(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND view_name = 'end_to_end_footprint'"
    ).fetchall()
    return bool(row[0][0])
