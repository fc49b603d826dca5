"""Pricing a model against its baseline for Dagster metadata, without opening the warehouse.

`price_comparison(home, model_id, written=rec.written)` reads the model's row of `model_vs_baseline`
(sql/quality.sql) from the process's pricing model (`warehouse.price_model`: the same schema, views
and rate card as the warehouse, built once per process) holding the facts of the model, of everything
upstream of it (its end-to-end lineage) and of the baselines it was compared with. No formula is
repeated here.

The facts come from ONE place, `_lineage_facts(home, ids)`: for now the published batches on this
host (pending, uploaded and loaded: `warehouse.local_batches`), later the store's lake. Batches the
caller just wrote (`written`) are added, each batch once. An upstream whose facts are not found is
not guessed: `upstream_unrecorded` counts it and the caller reports the end-to-end figures as not
priced yet (`footprint_complete` False); `warehouse_note` says why when the facts could not be read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields

import pyarrow as pa

from warehouse.facts import FactBatch
from warehouse.home import FootprintHome
from warehouse.lake import lake_tables
from warehouse.local_batches import BatchReadError, local_batch_paths, read_batch
from warehouse.price_model import model_for
from warehouse.ratecard import configured_card_path
from warehouse.store import StoreError
from warehouse.upload import configured_store

log = logging.getLogger(__name__)


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
    warehouse_read: bool = True  # False: some facts could not be read; upstreams not priced
    warehouse_note: str | None = None  # why they could not be read

    @property
    def footprint_complete(self) -> bool:
        """Every upstream of the model was found (the end-to-end figures are not too small)."""
        return self.warehouse_read and self.upstream_unrecorded == 0


def price_comparison(
    home: FootprintHome,
    model_id: str,
    written: Iterable[FactBatch] = (),
) -> list[PricedComparison]:
    """The model's model_vs_baseline rows (one per baseline it was compared with; none without a
    'compared_with' edge), priced from its whole lineage's facts (`_lineage_facts`)."""
    own = {fb.batch_id: fb.to_tables() for fb in written}
    facts, problems = _lineage_facts(home, own)
    model = model_for(configured_card_path())
    rows = model.query(facts, "SELECT * FROM model_vs_baseline_of(?)", [model_id])
    wanted = {f.name for f in fields(PricedComparison)}
    note = "; ".join(problems) if problems else None
    return [
        PricedComparison(
            **{k: v for k, v in row.items() if k in wanted},
            rate_card=f"{model.card.name} ({model.card.source_path})",
            warehouse_read=not problems,
            warehouse_note=note,
        )
        for row in rows
    ]


def _lineage_facts(
    home: FootprintHome, own: dict[str, dict[str, pa.Table]]
) -> tuple[list[dict[str, pa.Table]], list[str]]:
    """The fact source of lineage pricing: the fact log (every published batch: on this host for the
    local store; in the store and this host's spool for a remote one, `warehouse.lake`) plus `own`
    (batch id -> tables), each batch once, and why any batch could not be read. The model's view walks
    the lineage itself, so extra facts do not change it."""
    store = configured_store(home)
    if not store.local:
        try:
            lake, read = lake_tables(home, store)
        except StoreError as err:
            return list(own.values()), [str(err)]
        return [lake, *(tables for bid, tables in own.items() if bid not in set(read))], []
    batches = dict(own)
    problems: list[str] = []
    for path in local_batch_paths(home):
        if path.name in batches:
            continue
        try:
            batches[path.name] = read_batch(path)
        except BatchReadError as err:
            problems.append(str(err))
            log.warning("lineage pricing: %s", err)
    return list(batches.values()), problems
