"""What one window used, read back from the ledger's facts: per device, the sum of its `use` over its
ticks, the host capacity over the same ticks and how the device's energy was obtained. Used by
`footprint meter`'s summary and the benchmarks; the warehouse derives the same figures in SQL.

Given `batches` (the window's own fact tables: `warehouse.pricing.step_batches`), only those are read:
`footprint meter` never opens the warehouse. Otherwise pending batches are read first, then the
warehouse (read-only, waiting up to `wait_s` for a writer): a batch merged in between is in the second
read, and rows read twice (same `batch_id`) count once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.batches import pending_batches
from warehouse.home import FootprintHome


@dataclass
class DeviceUse:
    kind: str
    index: int
    name: str
    unit: str
    use: float = 0.0  # sum over ticks where it is known
    unknown_ticks: int = 0  # ticks where the window's use of this device is unknown (None)
    capacity: float = 0.0  # the device's capacity over the same ticks
    methods: set[str] = field(default_factory=set)  # how the device's energy was obtained

    @property
    def method(self) -> str:
        if not self.methods:
            return "unavailable"
        return next(iter(self.methods)) if len(self.methods) == 1 else "mixed"


def read_fact_table(dirs: list[Path], table: str) -> pa.Table | None:
    """One fact table over batch directories (those without it are skipped)."""
    parts = []
    for d in dirs:
        try:
            parts.append(pq.read_table(d / f"{table}.parquet"))
        except FileNotFoundError:
            continue
    return pa.concat_tables(parts) if parts else None


def _pending_rows(home: FootprintHome, window_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dirs = pending_batches(home)
    return _filtered(
        read_fact_table(dirs, "window_usage"), read_fact_table(dirs, "device_interval"), window_id
    )


def _rows_of(
    batches: list[dict[str, pa.Table]], window_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    def table(name: str) -> pa.Table | None:
        parts = [b[name] for b in batches if name in b]
        return pa.concat_tables(parts) if parts else None

    return _filtered(table("window_usage"), table("device_interval"), window_id)


def _filtered(
    usage: pa.Table | None, intervals: pa.Table | None, window_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if usage is None:
        return [], []
    mine = usage.filter(pc.equal(usage["window_id"], window_id))
    if intervals is None or not mine.num_rows:
        return mine.to_pylist(), []
    ticks = pc.unique(mine["tick_id"])
    return mine.to_pylist(), intervals.filter(pc.is_in(intervals["tick_id"], ticks)).to_pylist()


def _warehouse_rows(
    home: FootprintHome, window_id: str, wait_s: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from warehouse.connection import WarehouseError, connect

    if not home.warehouse_path.exists():
        return [], []
    try:
        con = connect(home, read_only=True, wait_s=wait_s)
    except WarehouseError:
        return [], []
    try:
        mine = con.sql("SELECT * FROM window_usage WHERE window_id = ?", params=[window_id]).to_arrow_table()
        intervals = con.sql(
            "SELECT * FROM device_interval WHERE tick_id IN (SELECT tick_id FROM window_usage "
            "WHERE window_id = ?)",
            params=[window_id],
        ).to_arrow_table()
    finally:
        con.close()
    return mine.to_pylist(), intervals.to_pylist()


def window_usage(
    home: FootprintHome,
    window_id: str,
    *,
    wait_s: float = 10.0,
    batches: list[dict[str, pa.Table]] | None = None,
) -> list[DeviceUse]:
    """Per device, what window `window_id` used (see the module docstring)."""
    if batches is not None:
        usage, intervals = _rows_of(batches, window_id)
        more_usage: list[dict[str, Any]] = []
        more_intervals: list[dict[str, Any]] = []
    else:
        usage, intervals = _pending_rows(home, window_id)
        more_usage, more_intervals = _warehouse_rows(home, window_id, wait_s)
    # a row read from both places (same batch) counts once; a tick can hold several rows of one window
    # and device (CPU that arrived late and was placed back into it), its capacity counts once
    rows = {
        (r["batch_id"], r["tick_id"], r["device_kind"], r["device_index"]): r for r in [*usage, *more_usage]
    }
    devices = {(r["tick_id"], r["device_kind"], r["device_index"]): r for r in [*intervals, *more_intervals]}
    out: dict[tuple[str, int], DeviceUse] = {}
    counted: set[tuple[str, str, int]] = set()
    for key, r in sorted(rows.items()):
        d = devices.get(key[1:])
        if d is None:
            continue
        du = out.setdefault(key[2:], DeviceUse(key[2], key[3], d["device_name"], d["unit"]))
        if key[1:] not in counted:
            counted.add(key[1:])
            du.capacity += d["capacity"]
            du.methods.add(d["method"])
        if r["use"] is None:
            du.unknown_ticks += 1
        else:
            du.use += r["use"]
    order = {"cpu": 0, "ram": 1, "gpu": 2}
    return sorted(out.values(), key=lambda du: (order.get(du.kind, 9), du.index))
