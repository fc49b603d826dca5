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
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.batches import pending_batches
from warehouse.connection import WarehouseError, connect, ensure_schema
from warehouse.facts import FACT_SCHEMAS, FactBatch
from warehouse.home import FootprintHome
from warehouse.ratecard import RateCard, configured_card_path, load_default_card, read_rate_card
from warehouse.ratecard_store import install_rate_card
from warehouse.views import ensure_views, rebuild_derived

log = logging.getLogger(__name__)


class PricingError(WarehouseError):
    """No facts to price this materialization from."""


@dataclass(frozen=True)
class PricedFootprint:
    materialization_id: str
    asset_key: str
    status: str
    duration_s: float
    energy_kwh: float
    energy_method: str
    co2e_kg: float
    bytes_moved: int
    human_hours: float
    cost_person_usd: float
    cost_hardware_usd: float
    cost_energy_usd: float
    cost_labeling_usd: float
    cost_usd: float
    rate_card: str  # name and file of the card used

    def markdown(self) -> str:
        rows = [
            ("status", self.status),
            ("duration", f"{self.duration_s:,.1f} s"),
            ("energy", f"{self.energy_kwh:.6f} kWh ({self.energy_method})"),
            ("carbon", f"{self.co2e_kg:.6f} kg CO2e"),
            ("bytes moved", f"{self.bytes_moved:,}"),
            ("human time", f"{self.human_hours:.3f} h"),
            ("cost: people", f"${self.cost_person_usd:,.4f}"),
            ("cost: hardware", f"${self.cost_hardware_usd:,.4f}"),
            ("cost: labeling", f"${self.cost_labeling_usd:,.4f}"),
            ("cost: energy", f"${self.cost_energy_usd:,.4f}"),
            ("**cost total**", f"**${self.cost_usd:,.4f}**"),
        ]
        body = "\n".join(f"| {k} | {v} |" for k, v in rows)
        return f"| footprint | value |\n|---|---|\n{body}\n\nRate card: {self.rate_card}\n"


def price_materialization(
    home: FootprintHome, materialization_id: str, written: Iterable[FactBatch] | None = None
) -> PricedFootprint:
    """Price one materialization from `written` (the recorder's batches), or, when not given, from
    its facts in the pending batches and (if it can be opened at once) the warehouse."""
    card = read_rate_card(configured_card_path())
    con = open_in_memory(card)
    try:
        if written is not None:
            for batch in written:
                insert_facts(con, batch.to_tables(), only_materialization=materialization_id)
        else:
            _collect_from_home(con, home, materialization_id)
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
    for key in ("duration_s", "cost_hardware_usd", "cost_usd"):
        if values[key] is None:
            values[key] = float("nan")  # unknown (no end time yet / a device without a rate)
    return PricedFootprint(**values, rate_card=f"{card.name} ({card.source_path})")


def open_in_memory(card: RateCard | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse: the same schema and views, `card` (default: the default card) as v1.
    Add facts with `insert_facts`, then call `rebuild_derived` before querying."""
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    install_rate_card(con, card or load_default_card())
    ensure_views(con)
    return con


def insert_facts(
    con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], *, only_materialization: str | None = None
) -> None:
    """Append fact tables (as built by FactBatch.to_tables) to an in-memory warehouse."""
    for name, table in tables.items():
        rows = table
        if only_materialization is not None and "materialization_id" in table.column_names:
            rows = table.filter(pc.equal(table["materialization_id"], only_materialization))
        if rows.num_rows:
            con.register("_facts", rows)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _facts")
            con.unregister("_facts")


def _collect_from_home(con: duckdb.DuckDBPyConnection, home: FootprintHome, mid: str) -> None:
    loaded: set[str] = set()
    try:
        wh = connect(home, read_only=True, wait_s=0.0)
    except (WarehouseError, duckdb.Error) as err:
        log.info("pricing %s from pending batches only: %s", mid, err)
    else:
        try:
            for name in FACT_SCHEMAS:
                if "materialization_id" not in FACT_SCHEMAS[name].names:
                    continue  # device intervals: gathered with the window usage (see views)
                table = wh.sql(f"SELECT * FROM {name} WHERE materialization_id = ?", params=[mid])
                insert_facts(con, {name: table.to_arrow_table()}, only_materialization=mid)
            loaded = {r[0] for r in wh.execute("SELECT batch_id FROM loaded_batch").fetchall()}
        finally:
            wh.close()
    for batch in pending_batches(home):
        if batch.name in loaded:
            continue
        tables = {}
        for name in FACT_SCHEMAS:
            path = batch / f"{name}.parquet"
            try:
                tables[name] = pq.read_table(path) if path.exists() else None
            except (OSError, pa.ArrowException) as err:
                log.warning("pricing %s: skipping unreadable %s: %s", mid, path, err)
        insert_facts(con, {k: v for k, v in tables.items() if v is not None}, only_materialization=mid)
