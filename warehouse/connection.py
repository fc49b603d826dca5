"""Opening the warehouse file. DuckDB allows one read-write process and no writer while another
process holds the file (even read-only), so every open here retries a lock conflict for a bounded
time and then raises `WarehouseLockedError` naming the file."""

from __future__ import annotations

import time
from importlib import resources

import duckdb

from warehouse.facts import FACT_TABLES
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


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create tables (idempotent) and upgrade an older warehouse's columns in place. Views and the
    default rate card are added by `warehouse.views`."""
    con.execute(sql_text("schema.sql"))
    _upgrade_fact_ids(con)


def _upgrade_fact_ids(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses written before fact ids became UUIDs hold them as 32-character hex VARCHAR: convert
    them (same values, 16 bytes each), all tables in one transaction. Runs on every read-write open:
    it asks each fact table for its fact_id type (~4 ms), not `duckdb_columns()` (~25 ms: it binds
    every view too)."""
    rows = con.execute(
        " UNION ALL ".join(
            f"SELECT '{t}' FROM pragma_table_info('{t}') WHERE name = 'fact_id' AND type = 'VARCHAR'"
            for t in sorted(FACT_TABLES)
        )
    ).fetchall()
    if not rows:
        return
    con.execute("BEGIN")
    try:
        for (table,) in rows:
            con.execute(f"ALTER TABLE {table} ALTER fact_id SET DATA TYPE UUID")
        con.execute("COMMIT")
    except duckdb.Error as err:
        con.execute("ROLLBACK")
        raise WarehouseError(
            f"cannot upgrade the fact_id columns of {', '.join(r[0] for r in rows)} to UUID (a fact id "
            f"that is not a UUID was written by hand?); the warehouse is unchanged: {err}"
        ) from err
