"""Building host-ledger facts by hand for view tests: a window, and one tick of a host's devices with
each window's use (what metering/ writes at each host tick)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from warehouse.facts import DEVICE_UNITS, DeviceInterval, FactBatch, MeterWindow, Method, WindowUsage, new_id

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Device:
    """One device of a host. `capacity_per_s`: logical CPUs (cpu), installed GB (ram), 1 (gpu)."""

    kind: str = "cpu"
    index: int = 0
    name: str = "test cpu"
    capacity_per_s: float = 2.0
    method: Method = "estimated"
    power_model: str = "test-family"
    split: str = ""  # default: 'capacity' for cpu/ram, 'utilization' for gpu


def window(
    batch: FactBatch,
    window_id: str,
    materialization_id: str | None,
    *,
    host: str = "h",
    role: str = "step",
    name: str = "",
    parent: str | None = None,
    uses_services: str = "",
    at: dt.datetime = T0,
) -> str:
    batch.add(
        MeterWindow(
            window_id,
            materialization_id,
            host,
            role,
            name or window_id,
            1000,
            at,
            parent_window_id=parent,
            uses_services=uses_services,
        )
    )
    return window_id


def tick(
    batch: FactBatch,
    *,
    start: dt.datetime,
    duration_s: float,
    devices: list[Device],
    use: Mapping[str, Mapping[tuple[str, int], float | None]],
    busy: Mapping[tuple[str, int], float | None] | None = None,
    energy_j: Mapping[tuple[str, int], float | None] | None = None,
    holds: Mapping[str, set[tuple[str, int]]] | None = None,
    holders: Mapping[tuple[str, int], int] | None = None,
    host: str = "h",
    ended: Mapping[str, str] | None = None,
) -> str:
    """One host tick: a DeviceInterval per device and a WindowUsage per window in `use` and device.
    `busy` defaults to the windows' total use; `energy_j` is the counter delta of measured devices."""
    tick_id = new_id()
    end = start + dt.timedelta(seconds=duration_s)
    for d in devices:
        key = (d.kind, d.index)
        split = d.split or ("utilization" if d.kind == "gpu" else "capacity")
        total = sum((u.get(key) or 0.0) for u in use.values())
        b = (busy or {}).get(key, total)
        e = (energy_j or {}).get(key)
        batch.add(
            DeviceInterval(
                tick_id,
                host,
                d.kind,
                d.index,
                d.name,
                start,
                end,
                duration_s,
                DEVICE_UNITS[d.kind],
                d.capacity_per_s * duration_s,
                b,
                split,
                e if d.method == "measured" else None,
                d.method,
                "test",
                power_model=d.power_model if d.kind == "cpu" else "",
                holders=(holders or {}).get(key),
            )
        )
        for wid, per_device in use.items():
            if key in per_device:
                batch.add(
                    WindowUsage(
                        tick_id,
                        wid,
                        _mat_of(batch, wid),
                        host,
                        d.kind,
                        d.index,
                        per_device[key],
                        holds=key in (holds or {}).get(wid, set()),
                        ended=(ended or {}).get(wid),
                    )
                )
    return tick_id


def _mat_of(batch: FactBatch, window_id: str) -> str | None:
    for row in batch.rows.get("meter_window", []):
        if row["window_id"] == window_id:
            return row["materialization_id"]  # type: ignore[no-any-return]
    raise KeyError(f"declare window {window_id!r} in the same batch first (ledger_facts.window)")
