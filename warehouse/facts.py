"""The fact tables: immutable, append-only records that every step writes.

Each fact is declared ONCE, as a frozen dataclass whose field names carry their units; the Arrow
schema of its batch files (`FACT_SCHEMAS`) and its SQL table (`fact_table_ddl`) are derived from that
declaration (`column(...)` only where the Python type does not say enough: a 32-bit integer, a
primary key). Money, carbon and estimated energy are never facts: they are derived in the warehouse
views from these facts and the rate card in force (see `warehouse/sql/views.sql`).

Metering facts (see docs/warehouse.md, "Attribution"): a host's meter ledger writes, at each host
tick, one `DeviceInterval` per device (what the device did since the previous tick: capacity, host-wide
use, a measured counter delta if there is one) and one `WindowUsage` per open meter window and device
(what that window's own processes used). Windows are declared by `MeterWindow`. The split of each
device's energy and time among windows, with the remainder left unattributed, is derived in SQL.
`EnergyReading` is the per-window reading that versions before 2026-12 wrote; it is still loaded.

`fact_id` (a random UUID, stored as DuckDB's 16-byte UUID type) and `batch_id` are filled in by the
batch writer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pyarrow as pa

Method = Literal["measured", "estimated", "unavailable"]
METHODS: tuple[str, ...] = ("measured", "estimated", "unavailable")
Status = Literal["success", "failed"]
TransferScope = Literal["network", "local"]
DEVICE_KINDS: tuple[str, ...] = ("cpu", "ram", "gpu")
# DeviceInterval.unit per device kind: what capacity, busy and WindowUsage.use count.
DEVICE_UNITS: dict[str, str] = {"cpu": "thread_s", "ram": "gb_s", "gpu": "device_s"}
SPLITS: tuple[str, ...] = ("capacity", "utilization", "even", "unknown")
WINDOW_ROLES: tuple[str, ...] = ("step", "rank", "meter", "service", "window")
# LineageEdge.relation: how a materialization used its upstream (NULL in batches older than 2026-12:
# 'input'). 'input': consumed its data; 'resumed_from': continued that (failed) attempt's training from
# its checkpoint, so both attempts' footprints belong to the result; 'compared_with': scored against it
# (a baseline), so its footprint is NOT part of the result's.
LINEAGE_RELATIONS: tuple[str, ...] = ("input", "resumed_from", "compared_with")

_TS = pa.timestamp("us", tz="UTC")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class _ArrowType:
    """`Annotated[int, INT32]`: a fact field whose Arrow type is not the default for its Python type."""

    arrow: pa.DataType


class _PrimaryKey:
    """`Annotated[str, PRIMARY_KEY]`: the fact table's primary key (one fact per value)."""


INT32 = _ArrowType(pa.int32())
PRIMARY_KEY = _PrimaryKey()


@dataclass(frozen=True)
class Materialization:
    """A materialization began (written first, so a killed step still shows as incomplete)."""

    materialization_id: Annotated[str, PRIMARY_KEY]
    run_id: str
    asset_key: str
    started_at: dt.datetime
    partition_key: str | None = None
    attempt: Annotated[int, INT32] = 1
    host: str = ""
    code_version: str | None = None


@dataclass(frozen=True)
class MaterializationOutcome:
    """A materialization ended. No outcome fact => the view reports it as `incomplete`."""

    materialization_id: Annotated[str, PRIMARY_KEY]
    status: Status
    ended_at: dt.datetime
    error: str | None = None  # one readable line; never a secret


@dataclass(frozen=True)
class MeterWindow:
    """A meter window opened on `host`: from `opened_at` until its final `WindowUsage`, the processes of
    the tree rooted at `root_pid` belong to it, except those inside a window nested in it (a process
    belongs to its innermost window). `materialization_id` is None for a service window (a local
    server the product runs, e.g. Label Studio): its use is charged to the windows that name it in
    `uses_services` while they are open, else shown as the service's own line."""

    window_id: str
    materialization_id: str | None
    host: str
    role: str  # one of WINDOW_ROLES
    name: str  # asset key, `rank N`, the metered command, or the service name
    root_pid: int
    opened_at: dt.datetime
    parent_window_id: str | None = None  # the innermost window that held root_pid when this opened
    rank: Annotated[int | None, INT32] = None
    uses_services: str = ""  # comma-separated service names


@dataclass(frozen=True)
class DeviceInterval:
    """What one device of a host did between two consecutive host ticks: the unit of conservation.

    `capacity`, `busy` and every `WindowUsage.use` of the same tick and device are in `unit`
    (DEVICE_UNITS): CPU thread-seconds (logical CPUs x seconds; busy = host-wide CPU time, steal
    excluded), RAM GB-seconds (installed GB x seconds; busy = used GB x seconds), GPU device-seconds
    (busy = utilisation-seconds of every process on it; None when per-process utilisation is unknown).
    `energy_j` is the measured counter delta (RAPL, NVML) or None: then the energy is estimated from
    busy and capacity by the rate card's power model for `power_model` (method 'estimated'), or is
    unknown (method 'unavailable'). `split` says how the device is shared among windows: 'capacity'
    (a window's use / capacity), 'utilization' (GPU: its utilisation / busy), 'even' (GPU: evenly
    among the `holders`), 'unknown' (who used it is unknown)."""

    tick_id: str
    host: str
    device_kind: str  # one of DEVICE_KINDS
    device_index: Annotated[int, INT32]
    device_name: str
    started_at: dt.datetime
    ended_at: dt.datetime
    duration_s: float
    unit: str
    capacity: float
    busy: float | None
    split: str  # one of SPLITS
    energy_j: float | None
    method: Method
    source: str  # 'rapl:intel-rapl:0', 'nvml-counter', 'proc-stat', 'meminfo', ...
    power_model: str = ""  # rate-card subject of the power model (CPU family; 'unknown' = fallback)
    hypervisor: bool = False
    holders: int | None = None  # GPU: windows holding it, +1 if processes outside any window hold it
    device_uuid: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class WindowUsage:
    """One window's own use of one device during one host interval (the DeviceInterval of the same
    `tick_id`, `device_kind`, `device_index`), in that interval's `unit`; its nested windows' processes
    excluded. `use` is None when it is unknown (e.g. the GPU's process list could not be read)."""

    tick_id: str
    window_id: str
    materialization_id: str | None
    host: str
    device_kind: str
    device_index: Annotated[int, INT32]
    use: float | None
    holds: bool = False  # GPU: a process of this window is on the device
    ended: str | None = None  # set on the window's last row: 'closed', or 'lost' (its root process
    # exited without closing it: its use up to this tick is kept, reaped children included)


@dataclass(frozen=True)
class EnergyReading:
    """Cumulative energy of one device over one meter window, up to `measured_at`: what versions
    before 2026-12 wrote per window (each window charged whole devices). Still loaded: the views
    re-estimate its CPU and RAM model readings from the usage in `source` and bill it as before.

    Heartbeats write partial readings (`is_final=False`, increasing `seq`); the views keep only the
    latest `seq` per (window_id, device). `energy_j` is NULL when method='unavailable'.
    """

    materialization_id: str
    window_id: str
    seq: Annotated[int, INT32]
    is_final: bool
    device_kind: str  # 'gpu' | 'cpu' | 'ram'
    device_index: Annotated[int, INT32]
    device_name: str
    host: str
    energy_j: float | None
    duration_s: float
    method: Method
    source: str  # e.g. 'nvml-counter', 'rapl', 'cpu-model:tdp_w=85;cores=2;...;cpu_s=3.000'
    measured_at: dt.datetime
    rank: Annotated[int | None, INT32] = None
    note: str | None = None  # gaps, idle/busy statement, errors met mid-window


@dataclass(frozen=True)
class Transfer:
    """Bytes moved in or out by a step. `scope='network'` transfers get E_data; local I/O does not
    (its energy is already inside the host's measured or estimated energy)."""

    materialization_id: str
    bytes: int
    duration_s: float
    direction: str  # 'upload' | 'download' | 'read' | 'write'
    endpoint_kind: str  # 'label-studio' | 'hub' | 'file' | 'object-store' | ...
    scope: TransferScope
    occurred_at: dt.datetime
    endpoint: str = ""  # host or path; never a credential
    requests: int = 0


@dataclass(frozen=True)
class Storage:
    """Bytes an artifact of this materialization holds, and where."""

    materialization_id: str
    bytes_held: int
    location: str
    kind: str  # 'dataset' | 'checkpoint' | 'report' | ...
    occurred_at: dt.datetime


@dataclass(frozen=True)
class LineageEdge:
    """This materialization consumed exactly that upstream materialization."""

    materialization_id: str
    upstream_materialization_id: str
    upstream_asset_key: str
    relation: str | None = "input"  # one of LINEAGE_RELATIONS (NULL in older batches: 'input')


@dataclass(frozen=True)
class AnnotationWork:
    """One version of one annotation, as synced from Label Studio.

    `active_s` = min(lead_time_s, idle_cap_s); both raw and cap are kept. Both are None when the lead
    time is missing or invalid (the raw value is in `flags`): the time is unknown, never 0. A later
    version of the same annotation (`annotation_id`, newer `updated_at`) supersedes this one.
    """

    materialization_id: str
    annotation_id: int
    task_id: int
    annotator: str
    project: str
    lead_time_s: float | None
    active_s: float | None
    idle_cap_s: float
    was_cancelled: bool
    label: str | None
    flags: str  # comma-separated: 'idle_capped', 'skipped', ...
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class PersonTime:
    """Human time (engineering, review) booked against a materialization."""

    materialization_id: str
    person: str
    role: str
    duration_s: float
    note: str = ""


@dataclass(frozen=True)
class QualityMetric:
    """A quality figure beside the footprint (e.g. macro F1), so cost per F1 point is one query."""

    materialization_id: str
    name: str
    value: float
    split: str = "eval"
    label: str | None = None  # the class of a per-class figure; None for an overall one
    # the training step it was measured at (evaluation during training); None: the final figure of
    # the materialization's model (older batches: always None)
    step: Annotated[int | None, INT32] = None


@dataclass(frozen=True)
class TrainingProgress:
    """A training rank's cumulative counters at a step (written by `training.callback.FootprintCallback`
    at each log/eval step and at the end, so a killed run keeps what it did). Counters are this rank's,
    for this attempt (a resumed run starts its counters at 0 again; `step` is the global optimizer
    step, so a resumed attempt's first row says where it resumed). Sum over ranks in SQL."""

    materialization_id: str
    window_id: str | None  # the rank's meter window (None: the process ran unmetered)
    rank: Annotated[int, INT32]
    step: Annotated[int, INT32]  # global optimizer steps done
    samples: int  # training samples this rank processed in this attempt
    tokens: int | None  # non-padding input tokens this rank processed (None: not counted)
    recorded_at: dt.datetime
    epoch: float | None = None
    loss: float | None = None  # the training loss last logged by this rank (None: not logged yet)


# Table name -> fact class, in load order (a window is declared before its usage; a tick's device
# intervals before the window usage that joins them).
FACT_CLASSES_BY_TABLE: dict[str, type[Any]] = {
    "materialization": Materialization,
    "materialization_outcome": MaterializationOutcome,
    "meter_window": MeterWindow,
    "device_interval": DeviceInterval,
    "window_usage": WindowUsage,
    "energy_reading": EnergyReading,
    "transfer": Transfer,
    "storage": Storage,
    "lineage_edge": LineageEdge,
    "annotation_work": AnnotationWork,
    "person_time": PersonTime,
    "quality_metric": QualityMetric,
    "training_progress": TrainingProgress,
}
FACT_CLASSES: dict[type[Any], str] = {cls: name for name, cls in FACT_CLASSES_BY_TABLE.items()}
FACT_TABLES: tuple[str, ...] = tuple(FACT_CLASSES_BY_TABLE)


# -- derived declarations: Arrow schema and SQL table -----------------------------------------------
_PY_ARROW: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    dt.datetime: _TS,
}
_SQL: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    _TS: "TIMESTAMPTZ",
    pa.uuid(): "UUID",
}


@dataclass(frozen=True)
class FactColumn:
    name: str
    arrow: pa.DataType
    nullable: bool
    primary_key: bool = False

    @property
    def sql_type(self) -> str:
        return _SQL[self.arrow]


def _arrow_of(hint: Any) -> tuple[pa.DataType, bool, bool]:
    """(Arrow type, nullable, primary key) of a resolved type hint: `X | None` is nullable, a Literal is a
    string, `Annotated[X, INT32]` / `Annotated[X, PRIMARY_KEY]` override the type / mark the key."""
    if typing.get_origin(hint) is Annotated:
        inner, *marks = typing.get_args(hint)
        arrow, nullable, _ = _arrow_of(inner)
        for mark in marks:
            if isinstance(mark, _ArrowType):
                arrow = mark.arrow
        return arrow, nullable, any(isinstance(m, _PrimaryKey) for m in marks)
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner_types = [a for a in args if a is not type(None)]
        if len(inner_types) != 1:
            raise TypeError(f"fact field type {hint!r}: only `X | None` unions are supported")
        return _arrow_of(inner_types[0])[0], True, False
    if typing.get_origin(hint) is Literal:
        return pa.string(), False, False
    if hint not in _PY_ARROW:
        raise TypeError(f"fact field type {hint!r} has no Arrow type; add it to _PY_ARROW or annotate it")
    return _PY_ARROW[hint], False, False


def fact_columns(cls: type[Any]) -> tuple[FactColumn, ...]:
    """The columns of a fact class: `fact_id` and `batch_id` first, then its fields in order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    cols = [FactColumn("fact_id", pa.uuid(), False), FactColumn("batch_id", pa.string(), False)]
    for f in dataclasses.fields(cls):
        arrow, nullable, primary_key = _arrow_of(hints[f.name])
        cols.append(FactColumn(f.name, arrow, nullable, primary_key))
    return tuple(cols)


FACT_COLUMNS: dict[str, tuple[FactColumn, ...]] = {
    t: fact_columns(c) for t, c in FACT_CLASSES_BY_TABLE.items()
}
FACT_SCHEMAS: dict[str, pa.Schema] = {
    t: pa.schema([pa.field(c.name, c.arrow, c.nullable) for c in cols]) for t, cols in FACT_COLUMNS.items()
}


def fact_table_ddl(table: str) -> str:
    """CREATE TABLE IF NOT EXISTS for one fact table, from its declaration."""
    parts = [
        f"{c.name} {c.sql_type}{'' if c.nullable else ' NOT NULL'}{' PRIMARY KEY' if c.primary_key else ''}"
        for c in FACT_COLUMNS[table]
    ]
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(parts) + "\n);"


class FactValidationError(ValueError):
    """A fact that must not be written (negative bytes, unknown method, ...)."""


_NON_NEGATIVE_SUFFIXES = ("_s", "_j", "bytes", "bytes_held")
_NON_NEGATIVE_FIELDS = frozenset({"capacity", "busy", "use", "holders", "samples", "tokens", "step"})


def validate_fact(fact: Any) -> None:
    """Reject facts that would give a silent wrong number. Raises FactValidationError."""
    name = type(fact).__name__
    if type(fact) not in FACT_CLASSES:
        raise FactValidationError(
            f"{name} is not a fact type; expected one of {sorted(FACT_CLASSES_BY_TABLE)}"
        )
    for f in dataclasses.fields(fact):
        value = getattr(fact, f.name)
        checked = f.name.endswith(_NON_NEGATIVE_SUFFIXES) or f.name in _NON_NEGATIVE_FIELDS
        if checked and isinstance(value, int | float) and not isinstance(value, bool):
            if value != value or value in (float("inf"), float("-inf")):
                raise FactValidationError(f"{name}.{f.name} is not a finite number ({value})")
            if value < 0:
                raise FactValidationError(f"{name}.{f.name} is negative ({value}); it must be >= 0")
    if isinstance(fact, EnergyReading | DeviceInterval):
        if fact.method not in METHODS:
            raise FactValidationError(f"{name}.method {fact.method!r} is not one of {METHODS}")
        if isinstance(fact, EnergyReading):
            if fact.method == "unavailable" and fact.energy_j is not None:
                raise FactValidationError("EnergyReading with method='unavailable' must have energy_j=None")
            if fact.method != "unavailable" and fact.energy_j is None:
                raise FactValidationError(f"EnergyReading with method={fact.method!r} needs energy_j")
    if isinstance(fact, DeviceInterval):
        _validate_interval(fact)
    if isinstance(fact, WindowUsage):
        if fact.device_kind not in DEVICE_KINDS:
            raise FactValidationError(
                f"WindowUsage.device_kind {fact.device_kind!r} is not one of {DEVICE_KINDS}"
            )
        if fact.ended not in (None, "closed", "lost"):
            raise FactValidationError(f"WindowUsage.ended {fact.ended!r} is not None, 'closed' or 'lost'")
    if isinstance(fact, LineageEdge) and fact.relation not in (None, *LINEAGE_RELATIONS):
        raise FactValidationError(f"LineageEdge.relation {fact.relation!r} is not one of {LINEAGE_RELATIONS}")
    if isinstance(fact, MeterWindow) and fact.role not in WINDOW_ROLES:
        raise FactValidationError(f"MeterWindow.role {fact.role!r} is not one of {WINDOW_ROLES}")
    if isinstance(fact, MaterializationOutcome) and fact.status not in ("success", "failed"):
        raise FactValidationError(f"MaterializationOutcome.status {fact.status!r} is not success|failed")
    if isinstance(fact, Transfer) and fact.scope not in ("network", "local"):
        raise FactValidationError(f"Transfer.scope {fact.scope!r} is not network|local")
    if isinstance(fact, AnnotationWork) and (fact.lead_time_s is None) != (fact.active_s is None):
        raise FactValidationError(
            "AnnotationWork.active_s must be None exactly when lead_time_s is None (unknown time is never 0)"
        )


def _validate_interval(d: DeviceInterval) -> None:
    if d.device_kind not in DEVICE_KINDS:
        raise FactValidationError(
            f"DeviceInterval.device_kind {d.device_kind!r} is not one of {DEVICE_KINDS}"
        )
    if d.unit != DEVICE_UNITS[d.device_kind]:
        raise FactValidationError(
            f"DeviceInterval.unit {d.unit!r} is not {DEVICE_UNITS[d.device_kind]!r} for a {d.device_kind}"
        )
    if d.split not in SPLITS:
        raise FactValidationError(f"DeviceInterval.split {d.split!r} is not one of {SPLITS}")
    if (d.method == "measured") != (d.energy_j is not None):
        raise FactValidationError(
            "DeviceInterval.energy_j is given exactly when method='measured' (a counter delta)"
        )
    if d.ended_at < d.started_at:
        raise FactValidationError(f"DeviceInterval ends ({d.ended_at}) before it starts ({d.started_at})")


@dataclass
class FactBatch:
    """Facts to be written together as one append-only batch (one atomic directory)."""

    batch_id: str = field(default_factory=lambda: f"{utcnow():%Y%m%dT%H%M%S%f}-{new_id()}")
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, *facts: Any) -> FactBatch:
        for fact in facts:
            validate_fact(fact)
            table = FACT_CLASSES[type(fact)]
            row = dataclasses.asdict(fact)
            row["fact_id"] = uuid.uuid4()
            row["batch_id"] = self.batch_id
            self.rows.setdefault(table, []).append(row)
        return self

    def __len__(self) -> int:
        return sum(len(v) for v in self.rows.values())

    def to_tables(self) -> dict[str, pa.Table]:
        return {
            name: pa.Table.from_pylist(rows, schema=FACT_SCHEMAS[name])
            for name, rows in self.rows.items()
            if rows
        }
