"""Analyst views (sql/views.sql, sql/rollup.sql), the default rate card, and the derived tables
the views read: `energy_reading_latest` (heartbeats superseded) and `lineage_graph` (edges once)."""

from __future__ import annotations

import duckdb

from warehouse.connection import sql_text
from warehouse.ratecard_store import ensure_default_card

VIEW_FILES: tuple[str, ...] = ("views.sql", "rollup.sql")
_SOURCE_TOKEN = "__SOURCE__"


def ensure_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the analyst views; load the default rate card if none is loaded yet.

    Needs a read-write connection on which `ensure_schema` has run."""
    ensure_default_card(con)
    if any(_count(con, d) == 0 and _count(con, f) > 0 for f, (d, _) in DERIVED.items()):
        rebuild_derived(con)  # a warehouse written before the derived tables existed
    for name in VIEW_FILES:
        con.execute(sql_text(name))


# fact table -> (derived table, the SQL that merges new facts of that table into it)
DERIVED: dict[str, tuple[str, str]] = {
    "energy_reading": ("energy_reading_latest", "energy_latest.sql"),
    "lineage_edge": ("lineage_graph", "lineage_graph.sql"),
}


def merge_derived(con: duckdb.DuckDBPyConnection, fact_table: str, parquet_files: list[str]) -> None:
    """Fold newly loaded facts (these batch files) into the derived table kept for `fact_table`."""
    if parquet_files and fact_table in DERIVED:
        sql = sql_text(DERIVED[fact_table][1]).replace(_SOURCE_TOKEN, "read_parquet($files)")
        con.execute(sql, {"files": parquet_files})


def rebuild_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every derived table from all facts (idempotent)."""
    for fact_table, (derived, sql_file) in DERIVED.items():
        con.execute(f"DELETE FROM {derived}")
        con.execute(sql_text(sql_file).replace(_SOURCE_TOKEN, fact_table))


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(row[0][0])
