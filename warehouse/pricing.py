"""Pricing one materialization for its Dagster metadata, from its own facts, without the warehouse.

A step never opens the DuckDB warehouse (merging is the loader's job). It prices itself from the
facts it wrote (`written`, the recorder's FactBatches) and the ledger batches of the host ticks its
window was in (`tick_batch_ids`, remembered by the ledger whichever process ticked: found in memory
when this process wrote them, else by id in the host's batch directories, `warehouse.local_batches`).
The pricing model (`warehouse.price_model`: schema, views and rate card built once per process) reads
them back through the `asset_footprint` view: the SQL is the one definition of the formulas.

A tick batch that is nowhere on this host (pruned, or unreadable) is not skipped silently: the
device figures become unknown (NULL) with one unknown part that says why.

Rate card: `$FOOTPRINT_RATE_CARD` (a YAML/TOML path, read at call time), else the default card. The
warehouse prices history with the version in force at the materialization's start, so the two agree
once that card is loaded into the warehouse (`footprint ratecard load`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

import pyarrow as pa

from warehouse.connection import WarehouseError
from warehouse.facts import FactBatch
from warehouse.figures import shown
from warehouse.home import FootprintHome
from warehouse.local_batches import BatchReadError, find_batch, read_batch
from warehouse.price_model import model_for
from warehouse.ratecard import configured_card_path


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
    tick_batch_ids: Iterable[str] | None = None,
    in_memory: Callable[[str], FactBatch | None] | None = None,
) -> PricedFootprint:
    """Price one materialization from `written` (the batches its recorder wrote) and the ledger tick
    batches `tick_batch_ids` (its window's, `Window.batch_ids`; `in_memory` returns those this process
    still holds, the others are read from this host's batch directories). Never opens the warehouse.
    Raises PricingError when the facts hold no materialization fact for it."""
    batches, missing = step_batches(home, written, tick_batch_ids, in_memory)
    model = model_for(configured_card_path())
    row = model.asset_footprint(batches, materialization_id)
    if row is None:
        raise PricingError(
            f"no materialization fact for {materialization_id!r} in the facts given (FOOTPRINT_HOME="
            f"{home.root}); was the recorder entered, and is this the right materialization id?"
        )
    values: dict[str, Any] = {f.name: row.get(f.name) for f in fields(PricedFootprint) if f.name in row}
    card = model.card
    priced = PricedFootprint(**values, rate_card=f"{card.name} ({card.source_path})")
    return _ticks_missing(priced, missing) if missing else priced


def step_batches(
    home: FootprintHome,
    written: Iterable[FactBatch] = (),
    tick_batch_ids: Iterable[str] | None = None,
    in_memory: Callable[[str], FactBatch | None] | None = None,
) -> tuple[list[dict[str, pa.Table]], list[str]]:
    """The fact tables of `written` and of the tick batches (each batch once), and why each tick batch
    that could not be had is missing."""
    batches: dict[str, dict[str, pa.Table]] = {fb.batch_id: fb.to_tables() for fb in written}
    missing: list[str] = []
    for batch_id in tick_batch_ids or ():
        if batch_id in batches:
            continue
        held = in_memory(batch_id) if in_memory is not None else None
        if held is not None:
            batches[batch_id] = held.to_tables()
            continue
        path = find_batch(home, batch_id)
        if path is None:
            missing.append(f"meter tick batch {batch_id} is not on this host (pruned?)")
            continue
        try:
            batches[batch_id] = read_batch(path)
        except BatchReadError as err:
            missing.append(str(err))
    return list(batches.values()), missing


def _ticks_missing(p: PricedFootprint, reasons: list[str]) -> PricedFootprint:
    """Some of the window's device use could not be read: every figure it enters is unknown (the
    known parts stay in `*_at_least`), one more unknown part, and why."""
    why = f"{len(reasons)} meter tick batch(es) missing, device use unknown: {'; '.join(reasons)}"
    return replace(
        p,
        energy_kwh=None,
        co2e_kg=None,
        cost_hardware_usd=None,
        cost_energy_usd=None,
        cost_usd=None,
        unknown_parts=p.unknown_parts + 1,
        unknown_detail="; ".join(x for x in (p.unknown_detail, why) if x),
    )
