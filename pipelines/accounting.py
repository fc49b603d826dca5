"""The bridge between a Dagster asset and the meter + warehouse.

    @dg.asset
    def clean_corpus(context, footprint: FootprintHomeResource, raw_corpus: ArtifactHandle):
        with accounted(context, footprint, upstream=[raw_corpus]) as rec:
            ...
            return rec.handle(out_path, rows=n)

The step's meter window (role 'step') is rooted at the step's process: everything the step runs
(a torchrun job, a subprocess) is in it, except windows nested inside (the ranks' own windows, a
`footprint meter`). `services` names local servers the step uses (e.g. the managed Label Studio):
their service window's use is charged to this step while it runs. Every materialization, failed
ones included, leaves its facts; a successful one also gets numeric `footprint/*` metadata (plotted
by Dagster across materializations) and a markdown summary, priced in-process from the facts it wrote
and its window's ledger ticks (`warehouse.pricing`): the step never opens the warehouse and never
merges; the loader does (the `warehouse_sync_sensor`, `footprint sync`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg

from metering.recorder import MaterializationRecorder
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle


@contextmanager
def accounted(
    context: dg.AssetExecutionContext,
    footprint: FootprintHomeResource,
    *,
    upstream: Iterable[ArtifactHandle] = (),
    heartbeat_s: float | None = None,
    services: Iterable[str] = (),
) -> Iterator[MaterializationRecorder]:
    """Meter the step (a ledger window on this process) and record its facts."""
    rec = MaterializationRecorder(
        footprint.home(),
        asset_key=context.asset_key.to_user_string(),
        run_id=context.run.run_id,
        partition_key=context.partition_key if context.has_partition_key else None,
        attempt=context.retry_number + 1,
        upstream=upstream,
        heartbeat_s=heartbeat_s or footprint.heartbeat_s,
        services=services,
    )
    with rec:
        yield rec
    context.add_output_metadata(footprint_metadata(rec))


def footprint_metadata(rec: MaterializationRecorder) -> dict[str, Any]:
    """Numeric `footprint/*` keys with unit suffixes (plotted by Dagster), plus a markdown summary. A
    figure with an unknown part is null (never 0); `footprint/<figure>_at_least` holds its known part and
    `footprint/unknown_parts` how many parts are unknown, as the summary says ("at least X")."""
    from warehouse.pricing import PricingError

    try:
        priced = rec.price()
    except PricingError as err:  # the facts are written; only this summary could not be priced now
        return {
            "footprint/materialization_id": rec.materialization_id,
            "footprint/window_id": rec.window_id or "",
            "footprint/summary": dg.MetadataValue.md(f"Footprint not priced yet: {err}"),
        }
    meta: dict[str, Any] = {
        "footprint/materialization_id": rec.materialization_id,
        "footprint/window_id": rec.window_id or "",
        "footprint/duration_s": _number(None if priced.duration_s is None else round(priced.duration_s, 3)),
        "footprint/energy_kwh": _number(priced.energy_kwh),
        "footprint/co2e_kg": _number(priced.co2e_kg),
        "footprint/bytes_moved": dg.MetadataValue.int(priced.bytes_moved),
        "footprint/human_hours": _number(priced.human_hours),
        "footprint/cost_usd": _number(priced.cost_usd),
        "footprint/energy_method": priced.energy_method,
        "footprint/unknown_parts": dg.MetadataValue.int(priced.unknown_parts),
        "footprint/summary": dg.MetadataValue.md(priced.markdown()),
    }
    if priced.unknown_parts:
        meta["footprint/energy_kwh_at_least"] = _number(priced.energy_kwh_at_least)
        meta["footprint/cost_usd_at_least"] = _number(priced.cost_usd_at_least)
        meta["footprint/unknown"] = priced.unknown_detail or ""
    return meta


def _number(x: float | None) -> dg.FloatMetadataValue | dg.NullMetadataValue:
    return dg.MetadataValue.null() if x is None else dg.MetadataValue.float(float(x))
