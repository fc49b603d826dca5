"""The pricing model a step prices itself with: an in-memory warehouse built once per process.

The warehouse's own definitions, nothing else: `schema.sql`, the views (`views.sql`, `rollup.sql`,
`quality.sql`), the derived SQL files and one rate card are loaded once into an in-memory DuckDB
(`model_for`: one model per rate card file and its modification time; the card is parsed once). Each
pricing then runs in one transaction that is rolled back at the end, so the model is empty again
without deleting anything:

    facts in (Arrow tables) -> the derived files asset_footprint reads (rebuild mode over these
    facts only) -> SELECT ... FROM asset_footprint -> ROLLBACK

No formula is repeated in Python. A lock serialises the steps of one process that price at the same
time (threads); DuckDB's per-query planning, not the data, is what a pricing costs.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.connection import ensure_schema
from warehouse.ratecard import RateCard, load_default_card, read_rate_card
from warehouse.ratecard_store import install_rate_card
from warehouse.views import (
    FOOTPRINT_DERIVED_SQL,
    ensure_views,
    rebuild_derived,
    rebuild_statements,
    run_derived,
)

# Up to this many fact rows, DuckDB's optimizer costs more than it saves (planning, not data, is what
# pricing a step costs): it is turned off for the query; beyond, on.
SMALL_INPUT_ROWS = 20_000
FOOTPRINT_SQL = "SELECT * FROM asset_footprint_at(NULL)"
_models: dict[tuple[str, int, int], PriceModel] = {}
_models_lock = threading.Lock()


class PriceModel:
    """An in-memory warehouse holding one rate card (version 1) and no facts between calls."""

    def __init__(self, card: RateCard) -> None:
        self.card = card
        self._con = open_in_memory(card)
        self._con.execute("SET threads = 1")  # tiny inputs: scheduling threads costs more than it saves
        # prepared once, unoptimized (on a few rows its plan runs faster than the optimized one): a
        # small pricing then skips parsing, binding and planning the view; all rows, the caller picks
        # its own (the facts hold few materializations)
        self._con.execute("PRAGMA disable_optimizer")
        self._derived = {f: _compile(self._con, f) for f, _ in FOOTPRINT_DERIVED_SQL}
        self._con.execute(f"PREPARE footprint_rows AS {FOOTPRINT_SQL}")
        self._lock = threading.Lock()

    @contextmanager
    def _with_facts(self, batches: Iterable[dict[str, pa.Table]]) -> Iterator[tuple[Any, set[str], bool]]:
        """A cursor on the model holding `batches` (each batch's tables, each batch once by batch id:
        callers pass distinct batches), inside a transaction rolled back on leaving."""
        by_table: dict[str, list[pa.Table]] = {}
        rows = 0
        for tables in batches:
            for name, table in tables.items():
                if table.num_rows:
                    by_table.setdefault(name, []).append(table)
                    rows += table.num_rows
        with self._lock:
            con = self._con
            con.execute("PRAGMA disable_optimizer" if rows <= SMALL_INPUT_ROWS else "PRAGMA enable_optimizer")
            con.execute("BEGIN TRANSACTION")
            try:
                insert_facts(
                    con, {n: pa.concat_tables(p, promote_options="default") for n, p in by_table.items()}
                )
                yield con, set(by_table), rows <= SMALL_INPUT_ROWS
            finally:
                con.execute("ROLLBACK")

    def asset_footprint(
        self, batches: Iterable[dict[str, pa.Table]], materialization_id: str
    ) -> dict[str, Any] | None:
        """`materialization_id`'s asset_footprint row (column -> value) priced from `batches` alone,
        or None when they hold no materialization fact for it."""
        with self._with_facts(batches) as (con, present, small):
            for sql_file, tables in FOOTPRINT_DERIVED_SQL:
                if not present.intersection(tables):
                    continue
                if small:  # the file's statements, prepared once (`_compile`)
                    for name in self._derived[sql_file]:
                        con.execute(f"EXECUTE {name}")
                else:
                    run_derived(con, sql_file, None)  # rebuild mode: the whole tables
            cur = con.execute("EXECUTE footprint_rows" if small else FOOTPRINT_SQL)
            names = [d[0] for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return next((r for r in rows if r["materialization_id"] == materialization_id), None)

    def query(
        self, batches: Iterable[dict[str, pa.Table]], sql: str, params: list[Any]
    ) -> list[dict[str, Any]]:
        """Rows of `sql` over `batches` with every derived table rebuilt (the roll-up and quality views
        need them all)."""
        with self._with_facts(batches) as (con, _, _small):
            rebuild_derived(con)
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


_TEMP_TABLE = re.compile(r"CREATE OR REPLACE TEMP TABLE (\w+) AS\s+(.*)", re.S)
_DROP_TABLE = re.compile(r"DROP TABLE (\w+)")


def _compile(con: duckdb.DuckDBPyConnection, sql_file: str) -> list[str]:
    """Prepare the statements of a derived SQL file (rebuild mode) once; returns their names, in order.
    The file is the definition: only its scratch tables change form, so that what is prepared stays
    bound (a re-created table would make DuckDB bind again): `CREATE OR REPLACE TEMP TABLE t AS q`
    becomes a table t made once (q's columns, no rows) then `DELETE FROM t; INSERT INTO t q` per call,
    and `DROP TABLE t` is left out (the pricing's transaction is rolled back)."""
    names: list[str] = []
    stem = sql_file.removesuffix(".sql")
    for statement in rebuild_statements(sql_file):
        body = "\n".join(
            line for line in statement.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if _DROP_TABLE.fullmatch(body):
            continue
        temp = _TEMP_TABLE.fullmatch(body)
        if temp:
            table, query = temp.groups()
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM ({query}) WHERE false")
            steps = [f"DELETE FROM {table}", f"INSERT INTO {table} {query}"]
        else:
            steps = [body]
        for step in steps:
            name = f"{stem}_{len(names)}"
            con.execute(f"PREPARE {name} AS {step}")
            names.append(name)
    return names


def open_in_memory(card: RateCard | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory warehouse (tests, one-off pricing): the same schema and views, `card`
    (default: the default card) as v1. Add facts with `insert_facts`, then `rebuild_derived`."""
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    install_rate_card(con, card or load_default_card())
    ensure_views(con)
    return con


def insert_facts(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Append fact tables (FactBatch.to_tables, or read from batch files) to an in-memory warehouse."""
    chosen = {name: rows for name, rows in tables.items() if rows.num_rows}
    if not chosen:
        return
    for name, rows in chosen.items():
        con.register(f"_facts_{name}", rows)
    try:  # one call for all tables: fewer round trips
        con.execute("".join(f"INSERT INTO {name} BY NAME SELECT * FROM _facts_{name};" for name in chosen))
    finally:
        for name in chosen:
            con.unregister(f"_facts_{name}")


def model_for(card_path: Path) -> PriceModel:
    """The model of the card at `card_path`, built on first use in this process and again only when
    the file changes (path, modification time and size are the key)."""
    try:
        st = os.stat(card_path)
    except OSError:
        read_rate_card(card_path)  # raises RateCardError, saying what to do
        raise
    key = (str(Path(card_path).resolve()), st.st_mtime_ns, st.st_size)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = PriceModel(read_rate_card(card_path))
            for old in [k for k in _models if k[0] == key[0]]:
                del _models[old]
            _models[key] = model
        return model
