"""Opening the warehouse file. DuckDB allows one read-write process and no writer while another
process holds the file (even read-only), so every open here retries a lock conflict for a bounded
time and then raises `WarehouseLockedError` naming the file."""

from __future__ import annotations

import time
from importlib import resources

import duckdb

from warehouse.facts import FACT_COLUMNS, FACT_TABLES, fact_table_ddl
from warehouse.home import FootprintHome


class WarehouseError(RuntimeError):
    """Base class of warehouse errors with a message a user can act on."""


class WarehouseLockedError(WarehouseError):
    pass


class WarehouseMissingError(WarehouseError):
    pass


def _is_lock_error(err: Exception) -> bool:
    text = str(err)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


def connect(home: FootprintHome, *, read_only: bool, wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying a lock conflict for up to `wait_s` seconds."""
    path = home.warehouse_path
    if read_only and not path.exists():
        raise WarehouseMissingError(
            f"no warehouse at {path}: materialise an asset or run `footprint sync` first "
            f"(FOOTPRINT_HOME={home.root})"
        )
    if not read_only:
        home.ensure()
    deadline = time.monotonic() + max(0.0, wait_s)
    delay_s = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            if not read_only:
                path.chmod(0o600)
            return con
        except duckdb.IOException as err:
            if not _is_lock_error(err):
                raise WarehouseError(f"cannot open warehouse {path}: {err}") from err
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"warehouse {path} is locked by another process (an open analyst session or a "
                    f"running sync); facts stay pending under {home.pending_dir} and load once it is free"
                ) from err
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.5)


def sql_text(name: str) -> str:
    return resources.files("warehouse").joinpath("sql", name).read_text()


def schema_sql() -> str:
    """Every CREATE statement of the warehouse: the fact tables from their declarations
    (`warehouse.facts.fact_table_ddl`), then `sql/schema.sql` (bookkeeping, rate cards, derived tables)."""
    return "\n".join([*(fact_table_ddl(t) for t in FACT_TABLES), sql_text("schema.sql")])


# The derived tables (sql/schema.sql; node_footprint is made by warehouse.views) and the version of
# their shape. When it changes, the derived tables of an older warehouse are dropped, re-created and
# rebuilt from the facts (warehouse.views).
DERIVED_VERSION = "2026-12-quality-1"
DERIVED_TABLES: tuple[str, ...] = (
    "node_footprint",
    "node_status",
    "energy_reading_latest",
    "device_usage",
    "materialization_usage",
    "lineage_graph",
    "lineage_node",
    "lineage_walk_edge",
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create tables (idempotent) and upgrade an older warehouse's fact tables in place; derived tables
    of an older shape are dropped here and rebuilt by `warehouse.views.ensure_views`. Views and the
    default rate card are added by `warehouse.views`."""
    outdated = _derived_outdated(con)
    if outdated:
        for table in DERIVED_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        for (view,) in con.execute(  # views before 2026-12, tables now (sql/rate_tables.sql)
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name IN "
            "('rate_card_scalar', 'rate_card_period', 'rate_card_timeline')"
        ).fetchall():
            con.execute(f"DROP VIEW {view}")
    con.execute(schema_sql())
    _upgrade_fact_tables(con)
    if outdated or not con.execute("SELECT 1 FROM warehouse_meta WHERE key = 'derived_version'").fetchall():
        con.execute("INSERT OR REPLACE INTO warehouse_meta VALUES ('derived_version', ?)", [DERIVED_VERSION])
        if outdated:
            con.execute("INSERT OR REPLACE INTO warehouse_meta VALUES ('derived_rebuild', '1')")


def _derived_outdated(con: duckdb.DuckDBPyConnection) -> bool:
    """True for a warehouse whose derived tables were made by an older version (a new one has none)."""
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
    }
    if "warehouse_meta" not in tables:
        return False
    row = con.execute("SELECT value FROM warehouse_meta WHERE key = 'derived_version'").fetchall()
    return (row[0][0] if row else None) != DERIVED_VERSION and bool(tables & set(DERIVED_TABLES))


def _upgrade_fact_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Bring fact tables written by an older version to their declarations, in one transaction:
    - `fact_id` held as 32-character hex VARCHAR (before fact ids became UUIDs): converted, same ids;
    - a declared column the table lacks (added to a fact later; always nullable): added, NULL for old rows;
    - a column NOT NULL in the table but nullable in the declaration (e.g. `annotation_work.active_s`,
      NULL when the lead time is unknown): the constraint is dropped.
    Runs on every read-write open: it asks each fact table for its columns (`pragma_table_info`, a few
    ms), not `duckdb_columns()` (~25 ms: it binds every view too)."""
    rows = con.execute(
        " UNION ALL ".join(
            f"SELECT '{t}', name, type, \"notnull\" FROM pragma_table_info('{t}')" for t in FACT_TABLES
        )
    ).fetchall()
    have = {(t, name): (typ, bool(notnull)) for t, name, typ, notnull in rows}
    changes: list[str] = []
    for table, cols in FACT_COLUMNS.items():
        for c in cols:
            found = have.get((table, c.name))
            if found is None:
                changes.append(f"ALTER TABLE {table} ADD COLUMN {c.name} {c.sql_type}")
            elif c.name == "fact_id" and found[0] == "VARCHAR":
                changes.append(f"ALTER TABLE {table} ALTER fact_id SET DATA TYPE UUID")
            elif c.nullable and found[1]:
                changes.append(f"ALTER TABLE {table} ALTER {c.name} DROP NOT NULL")
    if not changes:
        return
    con.execute("BEGIN")
    try:
        for statement in changes:
            con.execute(statement)
        con.execute("COMMIT")
    except duckdb.Error as err:
        con.execute("ROLLBACK")
        raise WarehouseError(
            f"cannot upgrade the warehouse's fact tables ({'; '.join(changes)}): a fact id that is not a "
            f"UUID was written by hand?; the warehouse is unchanged: {err}"
        ) from err
