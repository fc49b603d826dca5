"""Pricing a model against its baseline for Dagster metadata, without writing to the warehouse.

`price_comparison(home, model_id, written=rec.written)` loads into an in-memory DuckDB (the same
schema and views as the warehouse, the configured rate card, as `warehouse.pricing` does for one
materialization) the facts of the model, of everything upstream of it (its end-to-end lineage) and of
the baselines it was compared with, then reads its row of `model_vs_baseline` (sql/quality.sql). The
facts come from the batches the caller just wrote, the pending batches, and the warehouse opened
read-only (waiting up to `wait_s` for a writer), each batch once; a model's ledger ticks come with every
window's use of them, so the split is the warehouse's. No formula is repeated here.

When the warehouse exists but cannot be read (another process holds it for longer than `wait_s`),
the upstream footprint is not guessed: the result says so (`warehouse_read` False) and the caller
reports the figures as not priced yet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import duckdb

from warehouse.connection import WarehouseError, WarehouseMissingError, connect
from warehouse.facts import FACT_SCHEMAS, FactBatch
from warehouse.home import FootprintHome
from warehouse.pricing import copy_ledger_ticks, insert_facts, insert_unloaded, open_in_memory
from warehouse.ratecard import configured_card_path, read_rate_card
from warehouse.views import rebuild_derived

log = logging.getLogger(__name__)
_LEDGER = ("device_interval", "window_usage", "meter_window")


@dataclass(frozen=True)
class PricedComparison:
    """One model_vs_baseline row (None: unknown, see `per_unit_note`), and where its facts came from."""

    model_materialization_id: str
    baseline_materialization_id: str
    baseline_asset_key: str | None
    model_f1_macro: float | None
    baseline_f1_macro: float | None
    f1_points_gained: float | None
    energy_kwh: float | None
    cost_usd: float | None
    co2e_kg: float | None
    f1_points_per_kwh: float | None
    f1_points_per_usd: float | None
    f1_points_per_kg_co2e: float | None
    energy_kwh_at_least: float | None
    cost_usd_at_least: float | None
    co2e_kg_at_least: float | None
    unknown_parts: int
    upstream_count: int | None
    upstream_unrecorded: int | None
    per_unit_note: str | None
    rate_card: str = ""
    warehouse_read: bool = True  # False: the warehouse exists but was locked; upstreams not priced
    warehouse_note: str | None = None  # why it could not be read

    @property
    def footprint_complete(self) -> bool:
        """Every upstream of the model was found (the end-to-end figures are not too small)."""
        return self.warehouse_read and self.upstream_unrecorded == 0


def price_comparison(
    home: FootprintHome,
    model_id: str,
    written: Iterable[FactBatch] = (),
    *,
    wait_s: float = 5.0,
) -> list[PricedComparison]:
    """The model's model_vs_baseline rows (one per baseline it was compared with; none without a
    'compared_with' edge), priced from its whole lineage's facts wherever they are."""
    card = read_rate_card(configured_card_path())
    con = open_in_memory(card)
    try:
        warehouse_read, note = _collect_lineage(con, home, model_id, list(written), wait_s)
        rebuild_derived(con)
        cur = con.execute("SELECT * FROM model_vs_baseline_of(?)", [model_id])
        names = [d[0] for d in cur.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    wanted = {f.name for f in fields(PricedComparison)}
    return [
        PricedComparison(
            **{k: v for k, v in row.items() if k in wanted},
            rate_card=f"{card.name} ({card.source_path})",
            warehouse_read=warehouse_read,
            warehouse_note=note,
        )
        for row in rows
    ]


def _collect_lineage(
    con: duckdb.DuckDBPyConnection,
    home: FootprintHome,
    model_id: str,
    written: list[FactBatch],
    wait_s: float,
) -> tuple[bool, str | None]:
    """Load the pending and written batches whole, then from the warehouse the facts of the model's
    lineage. Returns (warehouse read or absent, why it was not read)."""
    wh: duckdb.DuckDBPyConnection | None = None
    note: str | None = None
    warehouse_read = True
    try:
        wh = connect(home, read_only=True, wait_s=wait_s)
    except WarehouseMissingError:
        pass  # no warehouse yet: every fact is in a pending batch
    except (WarehouseError, duckdb.Error) as err:
        warehouse_read, note = False, str(err)
        log.info("pricing the comparison of %s without the warehouse: %s", model_id, err)
    try:
        insert_unloaded(con, wh, home, written)
        if wh is not None:
            _copy_from_warehouse(con, wh, _lineage_ids(con, wh, model_id))
    finally:
        if wh is not None:
            wh.close()
    return warehouse_read, note


_EDGES = (
    "SELECT DISTINCT upstream_materialization_id, coalesce(relation, 'input') FROM lineage_edge "
    "WHERE materialization_id IN (SELECT unnest(?::VARCHAR[]))"
)


def _lineage_ids(con: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection, model_id: str) -> list[str]:
    """The model, every materialization upstream of it (edges in the warehouse or already loaded here)
    and the materializations it was compared with (for their scores; not their upstreams)."""

    def edges(of: set[str]) -> list[tuple[str, str]]:
        return con.execute(_EDGES, [sorted(of)]).fetchall() + wh.execute(_EDGES, [sorted(of)]).fetchall()

    first = edges({model_id})
    ids = {model_id} | {up for up, relation in first if relation == "compared_with"}
    frontier = {up for up, relation in first if relation != "compared_with"} - ids
    while frontier:
        ids |= frontier
        frontier = {up for up, relation in edges(frontier) if relation != "compared_with"} - ids
    return sorted(ids)


def _copy_from_warehouse(
    con: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection, ids: list[str]
) -> None:
    """The facts naming `ids`, and every ledger row of the host ticks their windows were in."""
    wh.execute("CREATE OR REPLACE TEMP TABLE pricing_ids AS SELECT unnest(?::VARCHAR[]) AS id", [ids])
    in_ids = "materialization_id IN (SELECT id FROM pricing_ids)"
    for name, schema in FACT_SCHEMAS.items():
        if "materialization_id" in schema.names and name not in _LEDGER:
            insert_facts(con, {name: wh.sql(f"SELECT * FROM {name} WHERE {in_ids}").to_arrow_table()})
    ticks: set[Any] = {
        r[0] for r in wh.execute(f"SELECT DISTINCT tick_id FROM window_usage WHERE {in_ids}").fetchall()
    }
    ticks |= {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT tick_id FROM window_usage "
            "WHERE materialization_id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
    }
    copy_ledger_ticks(con, wh, ticks)
