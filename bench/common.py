"""What every benchmark returns (rows of measured figures, printed together by `bench.run_all`), and
the helpers the warehouse benchmarks share: fact tables built straight from numpy arrays (with random
UUID fact ids, as the batch writer gives them), a host ledger (DeviceInterval + WindowUsage) from an
occupancy of host intervals by meter windows, and a median query timer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from warehouse.facts import DEVICE_UNITS, FACT_SCHEMAS

# The bare recursive walk of a materialization's lineage: the baseline of end_to_end_footprint_of.
LINEAGE_WALK_SQL = (
    "WITH RECURSIVE c(id) AS (SELECT ? UNION SELECT e.upstream_materialization_id FROM c "
    "JOIN lineage_edge e ON e.materialization_id = c.id) SELECT count(*) FROM c"
)


@dataclass(frozen=True)
class BenchRow:
    bench: str
    metric: str
    value: float
    unit: str
    target: str = ""  # e.g. '>= 1000000' or '<= 50'; empty when only informative
    baseline: float | None = None  # the side-by-side figure measured in the same run
    note: str = ""
    ratio_target: str = ""  # e.g. '<= 5' or '>= 0.5': a target on value / baseline instead of value

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    @property
    def met(self) -> str:
        if self.ratio_target:
            return "" if self.ratio is None else _meets(self.ratio, self.ratio_target)
        return _meets(self.value, self.target) if self.target else ""


def _meets(value: float, target: str) -> str:
    op, _, bound = target.partition(" ")
    limit = float(bound)
    checks = {">=": value >= limit, "<=": value <= limit, ">": value > limit, "<": value < limit}
    if op not in checks:
        raise ValueError(f"target {target!r}: the operator must be one of {sorted(checks)}")
    return "yes" if checks[op] else "NO"


def print_rows(rows: list[BenchRow], title: str = "Benchmarks") -> None:
    table = Table(title=title)
    for col in ("bench", "metric", "value", "unit", "baseline", "ratio", "target", "met", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r.bench,
            r.metric,
            f"{r.value:,.3f}" if abs(r.value) < 1000 else f"{r.value:,.0f}",
            r.unit,
            "" if r.baseline is None else f"{r.baseline:,.3f}",
            "" if r.ratio is None else f"{r.ratio:.2f}x",
            f"ratio {r.ratio_target}" if r.ratio_target else r.target,
            r.met,
            r.note,
        )
    Console(width=200).print(table)


# -- timing ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    wall_ms: float  # median wall-clock
    cpu_ms: float  # median process CPU time (steadier on a shared, loaded machine)


def run_once(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None) -> Timing:
    """Wall-clock and process CPU ms of one run of `sql`, its result fetched."""
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(sql, params).fetchall()
    return Timing((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000)


def median_of(timings: Sequence[Timing]) -> Timing:
    return Timing(statistics.median(t.wall_ms for t in timings), statistics.median(t.cpu_ms for t in timings))


def median_ms(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None, repeats: int = 9
) -> Timing:
    """Median over `repeats` runs of `sql`, after one warm-up run."""
    run_once(con, sql, params)
    return median_of([run_once(con, sql, params) for _ in range(repeats)])


# -- fact tables from arrays ---------------------------------------------------------------------------
def fact_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """Random version-4 UUIDs, as the batch writer gives every fact (not compressible), seeded."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw.tobytes())])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """Random 32-hex-character ids, as `warehouse.facts.new_id` gives materializations, ticks, windows."""
    text = rng.bytes(16 * n).hex()
    return pa.array([text[i : i + 32] for i in range(0, 32 * n, 32)], type=pa.string())


def fact_table(
    name: str, batch_id: str, rng: np.random.Generator, n: int, columns: Mapping[str, object]
) -> pa.Table:
    """One fact table of `n` rows: `fact_id` and `batch_id` filled in as the batch writer does; a column
    is an array (numpy or Arrow; int64 microseconds for timestamps) or one value for every row; a
    nullable column not given is NULL."""
    arrays: list[pa.Array] = []
    for f in FACT_SCHEMAS[name]:
        v = columns.get(f.name)
        if f.name == "fact_id":
            arrays.append(fact_ids(rng, n))
        elif f.name == "batch_id":
            arrays.append(pa.repeat(pa.scalar(batch_id), n))
        elif v is None:
            if not f.nullable:
                raise ValueError(f"{name}.{f.name} is NOT NULL: give it a value")
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(v, pa.Array):
            arrays.append(v if v.type == f.type else v.cast(f.type))
        elif isinstance(v, np.ndarray):
            if pa.types.is_timestamp(f.type):
                arrays.append(pa.array(v.astype(np.int64)).view(f.type))
            else:
                arrays.append(pa.array(v, type=f.type, mask=_nan_mask(v)))
        else:
            arrays.append(pa.repeat(pa.scalar(v, type=f.type), n))
        if len(arrays[-1]) != n:
            raise ValueError(f"{name}.{f.name} has {len(arrays[-1])} rows, expected {n}")
    return pa.Table.from_arrays(arrays, schema=FACT_SCHEMAS[name])


def _nan_mask(v: np.ndarray) -> np.ndarray | None:
    return np.isnan(v) if v.dtype.kind == "f" else None


# -- the host ledger ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchDevice:
    """One device of the benchmark host. `capacity_per_s`: logical CPUs, installed GB, or 1 (GPU)."""

    kind: str
    name: str
    capacity_per_s: float
    method: str
    split: str
    source: str
    power_model: str = ""


CPU = BenchDevice("cpu", "AMD EPYC 7R13", 2.0, "estimated", "capacity", "proc-stat", "amd-epyc-milan")
RAM = BenchDevice("ram", "ram", 16.0, "estimated", "capacity", "meminfo")
GPU = BenchDevice("gpu", "NVIDIA A10G", 1.0, "measured", "utilization", "nvml-counter")


@dataclass(frozen=True)
class Occupancy:
    """Which windows were open in which host interval: one entry per (interval, open window), sorted by
    interval; `tick` indexes the intervals of the batch, `window` every window of the benchmark."""

    tick: np.ndarray  # int
    window: np.ndarray  # int
    last: np.ndarray  # bool: the window's last interval (its WindowUsage rows say ended='closed')
    gpu: np.ndarray  # bool: the window's processes hold the GPU

    def __len__(self) -> int:
        return len(self.tick)

    def between(self, lo: int, hi: int) -> Occupancy:
        """The entries of intervals [lo, hi), renumbered from 0 (one batch's)."""
        a, b = np.searchsorted(self.tick, [lo, hi])
        return Occupancy(self.tick[a:b] - lo, self.window[a:b], self.last[a:b], self.gpu[a:b])


def ledger_tables(
    batch_id: str,
    rng: np.random.Generator,
    *,
    host: str,
    devices: Sequence[BenchDevice],
    tick_ids: pa.Array,
    tick_start_us: np.ndarray,
    tick_s: float,
    occ: Occupancy,
    window_ids: pa.Array,
    window_mids: pa.Array,
) -> dict[str, pa.Table]:
    """A host's ledger facts for the intervals of one batch: a DeviceInterval per interval and device, a
    WindowUsage per open window and device (tick-major, as the ledger writes them). Uses are random but
    never exceed capacity (at most 4 windows per interval); the CPU and RAM are estimated, the GPU
    measured (60 W idle + 240 W per busy unit) and split by utilisation among the windows holding it."""
    n_ticks, n_occ, n_dev = len(tick_ids), len(occ), len(devices)
    use, busy, energy, holders = [], [], [], []
    for d in devices:
        if d.kind == "gpu":
            n_holding = np.bincount(occ.tick, weights=occ.gpu, minlength=n_ticks)
            u = np.where(occ.gpu, rng.uniform(0.3, 0.95, n_occ) / np.maximum(n_holding[occ.tick], 1), 0.0)
            u *= tick_s
            b = np.bincount(occ.tick, weights=u, minlength=n_ticks)
            e = (60.0 + 240.0 * b / tick_s) * tick_s
            holders.append(n_holding)
        else:
            cap = d.capacity_per_s * tick_s
            u = rng.uniform(0.01, 0.22, n_occ) * cap
            b = np.minimum(np.bincount(occ.tick, weights=u, minlength=n_ticks) + 0.05 * cap, cap)
            e = np.full(n_ticks, np.nan)
            holders.append(np.full(n_ticks, np.nan))
        use.append(u)
        busy.append(b)
        energy.append(e)
    kinds = np.array([d.kind for d in devices], dtype=object)

    def per_tick(values: Sequence[object]) -> np.ndarray:
        return np.tile(np.array(values, dtype=object), n_ticks)

    tick_rows = np.repeat(np.arange(n_ticks), n_dev)
    start_us = tick_start_us[tick_rows]
    device_interval = fact_table(
        "device_interval",
        batch_id,
        rng,
        n_ticks * n_dev,
        {
            "tick_id": tick_ids.take(tick_rows),
            "host": host,
            "device_kind": per_tick(list(kinds)),
            "device_index": np.zeros(n_ticks * n_dev, dtype=np.int32),
            "device_name": per_tick([d.name for d in devices]),
            "started_at": start_us,
            "ended_at": start_us + int(tick_s * 1e6),
            "duration_s": tick_s,
            "unit": per_tick([DEVICE_UNITS[d.kind] for d in devices]),
            "capacity": np.tile(np.array([d.capacity_per_s * tick_s for d in devices]), n_ticks),
            "busy": np.stack(busy, axis=1).ravel(),
            "split": per_tick([d.split for d in devices]),
            "energy_j": np.stack(energy, axis=1).ravel(),
            "method": per_tick([d.method for d in devices]),
            "source": per_tick([d.source for d in devices]),
            "power_model": per_tick([d.power_model for d in devices]),
            "hypervisor": True,
            "holders": np.stack(holders, axis=1).ravel(),
        },
    )
    occ_rows = np.repeat(np.arange(n_occ), n_dev)
    dev_rows = np.tile(np.arange(n_dev), n_occ)
    window_usage = fact_table(
        "window_usage",
        batch_id,
        rng,
        n_occ * n_dev,
        {
            "tick_id": tick_ids.take(occ.tick[occ_rows]),
            "window_id": window_ids.take(occ.window[occ_rows]),
            "materialization_id": window_mids.take(occ.window[occ_rows]),
            "host": host,
            "device_kind": kinds[dev_rows],
            "device_index": np.zeros(n_occ * n_dev, dtype=np.int32),
            "use": np.stack(use, axis=1).ravel(),
            "holds": occ.gpu[occ_rows] & (kinds[dev_rows] == "gpu"),
            "ended": pa.array(np.full(len(occ_rows), "closed", dtype=object), mask=~occ.last[occ_rows]),
        },
    )
    return {"device_interval": device_interval, "window_usage": window_usage}
