"""Sensors owned by the foundation: merge pending fact batches whenever the warehouse is free."""

from __future__ import annotations

import dagster as dg

from pipelines.resources import FootprintHomeResource
from warehouse.loader import try_sync

SYNC_INTERVAL_S = 30


@dg.sensor(
    name="warehouse_sync_sensor",
    minimum_interval_seconds=SYNC_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Merges pending fact batches into the DuckDB warehouse when no other process holds it.",
)
def warehouse_sync_sensor(
    context: dg.SensorEvaluationContext, footprint: FootprintHomeResource
) -> dg.SkipReason:
    result = try_sync(footprint.home(), wait_s=1.0)
    if result.locked:
        return dg.SkipReason(f"warehouse locked; {result.pending_left} fact batches stay pending")
    if result.store_error is not None:
        return dg.SkipReason(f"{result.store_error}; {result.pending_left} fact batches stay spooled")
    parts = [f"loaded {result.loaded_batches} batches ({result.loaded_facts} facts)"]
    if result.quarantined:
        parts.append(
            f"quarantined {len(result.quarantined)}: "
            + "; ".join(f"{b}: {why}" for b, why in result.quarantined.items())
        )
    return dg.SkipReason(", ".join(parts))
