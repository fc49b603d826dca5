"""Pricing one materialization for Dagster metadata, even while another process holds the warehouse.

The facts a recorder wrote (`written`, its FactBatches) are loaded into an in-memory DuckDB with the
same `schema.sql` + `views.sql` and the configured rate card; the figures are read back from the
`asset_footprint` view. There is no second copy of the formulas in Python.

Rate card: `$FOOTPRINT_RATE_CARD` (a YAML/TOML path, read at call time), else the default card. The
warehouse prices history with the version in force at the materialization's start, so the two agree
once that card is loaded into the warehouse (`footprint ratecard load`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.batches import pending_batches
from warehouse.connection import WarehouseError, connect, ensure_schema
from warehouse.facts import FACT_SCHEMAS, FactBatch
from warehouse.figures import shown
from warehouse.home import FootprintHome
from warehouse.ratecard import RateCard, configured_card_path, load_default_card, read_rate_card
from warehouse.ratecard_store import install_rate_card
from warehouse.views import ensure_views, rebuild_derived

log = logging.getLogger(__name__)


class PricingError(WarehouseError):
    """No facts to price this materialization from."""


@dataclass(frozen=True)
class PricedFootprint:
    """One asset_footprint row. A figure is None when a part of it is unknown (`unknown_parts`,
    `unknown_detail`); the `*_at_least` figures sum its known parts."""

    materialization_id: str
    asset_key: str
    status: str
    duration_s: float | None
    energy_kwh: float | None
    energy_method: str
    co2e_kg: float | None
    bytes_moved: int
    human_hours: float | None
    cost_person_usd: float
    cost_hardware_usd: float | None
    cost_energy_usd: float | None
    cost_labeling_usd: float | None
    cost_usd: float | None
    energy_kwh_at_least: float | None
    co2e_kg_at_least: float | None
    human_hours_at_least: float
    cost_usd_at_least: float
    unknown_parts: int
    unknown_detail: str | None
    energy_note: str | None
    rate_card: str  # name and file of the card used

    def markdown(self) -> str:
        def usd(x: float) -> str:
            return f"${x:,.4f}"

        n = self.unknown_parts
        rows = [
            ("status", self.status),
            ("duration", "-" if self.duration_s is None else f"{self.duration_s:,.1f} s"),
            (
                "energy",
                f"{shown(self.energy_kwh, self.energy_kwh_at_least, n, lambda x: f'{x:.6f} kWh')} "
                f"({self.energy_method})",
            ),
            ("carbon", shown(self.co2e_kg, self.co2e_kg_at_least, n, lambda x: f"{x:.6f} kg CO2e")),
            ("bytes moved", f"{self.bytes_moved:,}"),
            ("human time", shown(self.human_hours, self.human_hours_at_least, n, lambda x: f"{x:.3f} h")),
            ("cost: people", usd(self.cost_person_usd)),
            ("cost: hardware", shown(self.cost_hardware_usd, None, n, usd)),
            ("cost: labeling", shown(self.cost_labeling_usd, None, n, usd)),
            ("cost: energy", shown(self.cost_energy_usd, None, n, usd)),
            ("**cost total**", f"**{shown(self.cost_usd, self.cost_usd_at_least, n, usd)}**"),
        ]
        body = "\n".join(f"| {k} | {v} |" for k, v in rows)
        notes = [f"Unknown: {self.unknown_detail}." if self.unknown_detail else "", self.energy_note or ""]
        extra = "".join(f"\n{note}\n" for note in notes if note)
        return f"| footprint | value |\n|---|---|\n{body}\n{extra}\nRate card: {self.rate_card}\n"


def price_materialization(
    home: FootprintHome,
    materialization_id: str,
    written: Iterable[FactBatch] = (),
    *,
    wait_s: float = 5.0,
) -> PricedFootprint:
    """Price one materialization from its facts wherever they are: the warehouse (opened read-only,
    waiting up to `wait_s` for a writer), the pending batches, and `written` (batches the caller just
    wrote, for when a writer holds the file), each batch counted once. Its window usage comes with the
    device intervals of the same host ticks and the other windows of those ticks (services are split
    among the windows that use them), so the split is the warehouse's."""
    card = read_rate_card(configured_card_path())
    con = open_in_memory(card)
    try:
        _collect(con, home, materialization_id, list(written), wait_s)
        rebuild_derived(con)
        cur = con.execute("SELECT * FROM asset_footprint WHERE materialization_id = ?", [materialization_id])
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
    finally:
        con.close()
    if not rows:
        raise PricingError(
            f"no materialization fact for {materialization_id!r} in the facts given (FOOTPRINT_HOME="
            f"{home.root}); was the recorder entered, and is this the right materialization id?"
        )
    row: dict[str, Any] = dict(zip(names, rows[0], strict=True))
    values: dict[str, Any] = {f.name: row.get(f.name) for f in fields(PricedFootprint) if f.name in row}
    return PricedFootprint(**values, rate_card=f"{card.name} ({card.source_path})")


def open_in_memory(card: RateCard | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse: the same schema and views, `card` (default: the default card) as v1.
    Add facts with `insert_facts`, then call `rebuild_derived` before querying."""
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    install_rate_card(con, card or load_default_card())
    ensure_views(con)
    return con


def insert_facts(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Append fact tables (as built by FactBatch.to_tables, or read from batch files) to an in-memory
    warehouse."""
    for name, rows in tables.items():
        if rows.num_rows:
            con.register("_facts", rows)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _facts")
            con.unregister("_facts")


def insert_unloaded(
    con: duckdb.DuckDBPyConnection,
    wh: duckdb.DuckDBPyConnection | None,
    home: FootprintHome,
    written: list[FactBatch],
) -> None:
    """Append every batch the warehouse `wh` (None: absent) has not loaded: the pending ones, then
    `written` (this process's own batches, which may not be pending any more), each batch once."""
    seen: set[str] = set()
    if wh is not None:
        seen = {r[0] for r in wh.execute("SELECT batch_id FROM loaded_batch").fetchall()}
    for batch in pending_batches(home):
        if batch.name not in seen:
            seen.add(batch.name)
            insert_facts(con, _read_batch(batch))
    for fb in written:
        if fb.batch_id not in seen:
            seen.add(fb.batch_id)
            insert_facts(con, fb.to_tables())


_LEDGER = ("device_interval", "window_usage", "meter_window")


def _collect(
    con: duckdb.DuckDBPyConnection, home: FootprintHome, mid: str, written: list[FactBatch], wait_s: float
) -> None:
    """Everything needed to price `mid`: batches not yet in the warehouse whole (pending, then
    `written`, each batch once), and from the warehouse the facts of `mid` and the ledger rows of the
    host ticks its windows were in."""
    try:
        wh = connect(home, read_only=True, wait_s=wait_s)
    except (WarehouseError, duckdb.Error) as err:
        wh = None
        log.info("pricing %s without the warehouse (%s): pending and written batches only", mid, err)
    try:
        insert_unloaded(con, wh, home, written)
        if wh is not None:
            _from_warehouse(con, wh, mid)
    finally:
        if wh is not None:
            wh.close()


def _from_warehouse(con: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection, mid: str) -> None:
    for name in FACT_SCHEMAS:
        if "materialization_id" in FACT_SCHEMAS[name].names and name not in _LEDGER:
            table = wh.sql(f"SELECT * FROM {name} WHERE materialization_id = ?", params=[mid])
            insert_facts(con, {name: table.to_arrow_table()})
    # the ticks of mid's windows, wherever their usage rows are (warehouse, or pending ones already here)
    ticks = [
        r[0]
        for r in wh.execute(
            "SELECT DISTINCT tick_id FROM window_usage WHERE materialization_id = ?", [mid]
        ).fetchall()
    ]
    ticks += [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT tick_id FROM window_usage WHERE materialization_id = ?", [mid]
        ).fetchall()
    ]
    copy_ledger_ticks(con, wh, ticks)


def copy_ledger_ticks(
    con: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection, ticks: Iterable[str]
) -> None:
    """Every ledger row of the host ticks `ticks` from the warehouse `wh` into `con`: the device
    intervals, every window's usage in them and those windows (the whole tick, so shares divide it)."""
    chosen = sorted(set(ticks))
    if not chosen:
        return
    wh.execute("CREATE OR REPLACE TEMP TABLE pricing_ticks AS SELECT unnest(?) AS tick_id", [chosen])
    in_ticks = "tick_id IN (SELECT tick_id FROM pricing_ticks)"
    queries = {
        "device_interval": f"SELECT * FROM device_interval WHERE {in_ticks}",
        "window_usage": f"SELECT * FROM window_usage WHERE {in_ticks}",
        "meter_window": f"SELECT * FROM meter_window WHERE window_id IN "
        f"(SELECT window_id FROM window_usage WHERE {in_ticks})",
    }
    for name, sql in queries.items():
        insert_facts(con, {name: wh.sql(sql).to_arrow_table()})


def _read_batch(batch: Path) -> dict[str, pa.Table]:
    tables: dict[str, pa.Table] = {}
    for name in FACT_SCHEMAS:
        path = batch / f"{name}.parquet"
        if not path.exists():
            continue
        try:
            tables[name] = pq.read_table(path)
        except (OSError, pa.ArrowException) as err:
            log.warning("pricing: skipping unreadable %s: %s", path, err)
    return tables
