"""Analyst views (sql/views.sql, sql/rollup.sql), the default rate card, and the derived tables
the views read: `energy_reading_latest` (heartbeats superseded), `materialization_usage` (per
materialization, the quantities the rate card multiplies), `lineage_graph` (edges once) and its
integer-keyed twin `lineage_node` / `lineage_walk_edge` (edges with allocation shares: what the
recursive walk joins on). Derived tables hold facts re-shaped, never money."""

from __future__ import annotations

import hashlib

import duckdb

from warehouse.connection import sql_text
from warehouse.ratecard_store import ensure_default_card

VIEW_FILES: tuple[str, ...] = ("views.sql", "rollup.sql")
_SOURCE_TOKEN = "__SOURCE__"


def view_sql() -> list[str]:
    """The CREATE statements of the analyst views and macros, in order."""
    return [sql_text(name) for name in VIEW_FILES]


def ensure_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the analyst views; load the default rate card if none is loaded yet.

    Needs a read-write connection on which `ensure_schema` has run. The views are only re-created
    when their SQL changed since the last call (binding them costs ~0.1 s; `warehouse_meta` keeps the
    digest)."""
    ensure_default_card(con)
    if any(_count(con, f) > 0 and any(_count(con, d) == 0 for d in ds) for f, (ds, _) in DERIVED.items()):
        rebuild_derived(con)  # a warehouse written before (some of) the derived tables existed
    statements = view_sql()
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    row = con.execute("SELECT value FROM warehouse_meta WHERE key = 'views_sha256'").fetchall()
    if row and row[0][0] == digest and _views_present(con):
        return
    for text in statements:
        con.execute(text)
    con.execute("INSERT OR REPLACE INTO warehouse_meta VALUES ('views_sha256', ?)", [digest])


# fact table -> (derived tables it feeds, the SQL files that merge new facts of that table into them,
# run in order). `materialization_usage` is fed by four fact tables, each refreshing its own rows.
DERIVED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "energy_reading": (
        ("energy_reading_latest", "materialization_usage"),
        ("energy_latest.sql", "usage_energy.sql"),
    ),
    "lineage_edge": (("lineage_graph", "lineage_node", "lineage_walk_edge"), ("lineage_graph.sql",)),
    "annotation_work": (("materialization_usage",), ("usage_annotation.sql",)),
    "person_time": (("materialization_usage",), ("usage_person.sql",)),
    "transfer": (("materialization_usage",), ("usage_transfer.sql",)),
}


def _statements(sql: str) -> list[str]:
    """Split a derived-table SQL file into statements (each ends with ';' at the end of a line)."""
    parts = [p.strip() for p in sql.split(";\n")]
    return [p for p in parts if p and not all(line.lstrip().startswith("--") for line in p.splitlines())]


def merge_derived(con: duckdb.DuckDBPyConnection, fact_table: str, parquet_files: list[str]) -> None:
    """Fold newly loaded facts (these batch files, already inserted) into the derived tables kept for
    `fact_table`."""
    if parquet_files and fact_table in DERIVED:
        for sql_file in DERIVED[fact_table][1]:
            sql = sql_text(sql_file).replace(_SOURCE_TOKEN, "read_parquet($files)")
            for statement in _statements(sql):
                con.execute(statement, {"files": parquet_files} if "$files" in statement else None)


def rebuild_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every derived table from all facts (idempotent)."""
    for table in sorted({t for derived, _ in DERIVED.values() for t in derived}):
        con.execute(f"DELETE FROM {table}")
    for fact_table, (_, sql_files) in DERIVED.items():
        for sql_file in sql_files:
            for statement in _statements(sql_text(sql_file).replace(_SOURCE_TOKEN, fact_table)):
                con.execute(statement)


def _views_present(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND view_name = 'end_to_end_footprint'"
    ).fetchall()
    return bool(row[0][0])


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(row[0][0])
