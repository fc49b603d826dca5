"""The fact tables: immutable, append-only records that every step writes.

Each fact is a frozen dataclass whose field names carry their units; `FACT_TABLES` maps a table name
to its dataclass and its Arrow schema. Money and carbon are never facts: they are derived in the
warehouse views from these facts and the rate card in force (see `warehouse/sql/views.sql`).

Every fact carries the materialization it belongs to (`materialization_id`). `fact_id` (a random
UUID, stored as DuckDB's 16-byte UUID type) and `batch_id` are filled in by the batch writer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

Method = Literal["measured", "estimated", "unavailable"]
METHODS: tuple[str, ...] = ("measured", "estimated", "unavailable")
Status = Literal["success", "failed"]
TransferScope = Literal["network", "local"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Materialization:
    """A materialization began (written first, so a killed step still shows as incomplete)."""

    materialization_id: str
    run_id: str
    asset_key: str
    started_at: dt.datetime
    partition_key: str | None = None
    attempt: int = 1
    host: str = ""
    code_version: str | None = None


@dataclass(frozen=True)
class MaterializationOutcome:
    """A materialization ended. No outcome fact => the view reports it as `incomplete`."""

    materialization_id: str
    status: Status
    ended_at: dt.datetime
    error: str | None = None  # one readable line; never a secret


@dataclass(frozen=True)
class EnergyReading:
    """Cumulative energy of one device over one meter window, up to `measured_at`.

    Heartbeats write partial readings (`is_final=False`, increasing `seq`); the final reading has
    `is_final=True`. The views keep only the latest `seq` per (window_id, device), so partial
    readings are superseded without double counting. `energy_j` is NULL when method='unavailable'.
    """

    materialization_id: str
    window_id: str
    seq: int
    is_final: bool
    device_kind: str  # 'gpu' | 'cpu' | 'ram'
    device_index: int
    device_name: str
    host: str
    energy_j: float | None
    duration_s: float
    method: Method
    source: str  # e.g. 'nvml-counter', 'nvml-sampled:interval_s=0.1', 'rapl', 'cpu-model:tdp_w=85;...'
    measured_at: dt.datetime
    rank: int | None = None
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


@dataclass(frozen=True)
class AnnotationWork:
    """One version of one annotation, as synced from Label Studio.

    `active_s` = min(lead_time_s, idle_cap_s); both raw and cap are kept. A later version of the same
    annotation (`annotation_id`, newer `updated_at`) supersedes this one in the views.
    """

    materialization_id: str
    annotation_id: int
    task_id: int
    annotator: str
    project: str
    lead_time_s: float | None
    active_s: float
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
    label: str | None = None


_TS = pa.timestamp("us", tz="UTC")


def _schema(*cols: tuple[str, pa.DataType, bool]) -> pa.Schema:
    base = [pa.field("fact_id", pa.uuid(), False), pa.field("batch_id", pa.string(), False)]
    return pa.schema(base + [pa.field(n, t, nullable) for n, t, nullable in cols])


FACT_SCHEMAS: dict[str, pa.Schema] = {
    "materialization": _schema(
        ("materialization_id", pa.string(), False),
        ("run_id", pa.string(), False),
        ("asset_key", pa.string(), False),
        ("started_at", _TS, False),
        ("partition_key", pa.string(), True),
        ("attempt", pa.int32(), False),
        ("host", pa.string(), False),
        ("code_version", pa.string(), True),
    ),
    "materialization_outcome": _schema(
        ("materialization_id", pa.string(), False),
        ("status", pa.string(), False),
        ("ended_at", _TS, False),
        ("error", pa.string(), True),
    ),
    "energy_reading": _schema(
        ("materialization_id", pa.string(), False),
        ("window_id", pa.string(), False),
        ("seq", pa.int32(), False),
        ("is_final", pa.bool_(), False),
        ("device_kind", pa.string(), False),
        ("device_index", pa.int32(), False),
        ("device_name", pa.string(), False),
        ("host", pa.string(), False),
        ("energy_j", pa.float64(), True),
        ("duration_s", pa.float64(), False),
        ("method", pa.string(), False),
        ("source", pa.string(), False),
        ("measured_at", _TS, False),
        ("rank", pa.int32(), True),
        ("note", pa.string(), True),
    ),
    "transfer": _schema(
        ("materialization_id", pa.string(), False),
        ("bytes", pa.int64(), False),
        ("duration_s", pa.float64(), False),
        ("direction", pa.string(), False),
        ("endpoint_kind", pa.string(), False),
        ("scope", pa.string(), False),
        ("occurred_at", _TS, False),
        ("endpoint", pa.string(), False),
        ("requests", pa.int64(), False),
    ),
    "storage": _schema(
        ("materialization_id", pa.string(), False),
        ("bytes_held", pa.int64(), False),
        ("location", pa.string(), False),
        ("kind", pa.string(), False),
        ("occurred_at", _TS, False),
    ),
    "lineage_edge": _schema(
        ("materialization_id", pa.string(), False),
        ("upstream_materialization_id", pa.string(), False),
        ("upstream_asset_key", pa.string(), False),
    ),
    "annotation_work": _schema(
        ("materialization_id", pa.string(), False),
        ("annotation_id", pa.int64(), False),
        ("task_id", pa.int64(), False),
        ("annotator", pa.string(), False),
        ("project", pa.string(), False),
        ("lead_time_s", pa.float64(), True),
        ("active_s", pa.float64(), False),
        ("idle_cap_s", pa.float64(), False),
        ("was_cancelled", pa.bool_(), False),
        ("label", pa.string(), True),
        ("flags", pa.string(), False),
        ("created_at", _TS, False),
        ("updated_at", _TS, False),
    ),
    "person_time": _schema(
        ("materialization_id", pa.string(), False),
        ("person", pa.string(), False),
        ("role", pa.string(), False),
        ("duration_s", pa.float64(), False),
        ("note", pa.string(), False),
    ),
    "quality_metric": _schema(
        ("materialization_id", pa.string(), False),
        ("name", pa.string(), False),
        ("value", pa.float64(), False),
        ("split", pa.string(), False),
        ("label", pa.string(), True),
    ),
}

FACT_CLASSES: dict[type[Any], str] = {
    Materialization: "materialization",
    MaterializationOutcome: "materialization_outcome",
    EnergyReading: "energy_reading",
    Transfer: "transfer",
    Storage: "storage",
    LineageEdge: "lineage_edge",
    AnnotationWork: "annotation_work",
    PersonTime: "person_time",
    QualityMetric: "quality_metric",
}

FACT_TABLES: tuple[str, ...] = tuple(FACT_SCHEMAS)


class FactValidationError(ValueError):
    """A fact that must not be written (negative bytes, unknown method, ...)."""


def validate_fact(fact: Any) -> None:
    """Reject facts that would give a silent wrong number. Raises FactValidationError."""
    name = type(fact).__name__
    if type(fact) not in FACT_CLASSES:
        raise FactValidationError(f"{name} is not a fact type; expected one of {sorted(FACT_SCHEMAS)}")
    for f in dataclasses.fields(fact):
        value = getattr(fact, f.name)
        if f.name.endswith(("_s", "_j", "bytes", "bytes_held")) and isinstance(value, int | float):
            if value < 0:
                raise FactValidationError(f"{name}.{f.name} is negative ({value}); it must be >= 0")
            if value != value or value in (float("inf"), float("-inf")):
                raise FactValidationError(f"{name}.{f.name} is not a finite number ({value})")
    if isinstance(fact, EnergyReading):
        if fact.method not in METHODS:
            raise FactValidationError(f"EnergyReading.method {fact.method!r} is not one of {METHODS}")
        if fact.method == "unavailable" and fact.energy_j is not None:
            raise FactValidationError("EnergyReading with method='unavailable' must have energy_j=None")
        if fact.method != "unavailable" and fact.energy_j is None:
            raise FactValidationError(f"EnergyReading with method={fact.method!r} needs energy_j")
    if isinstance(fact, MaterializationOutcome) and fact.status not in ("success", "failed"):
        raise FactValidationError(f"MaterializationOutcome.status {fact.status!r} is not success|failed")
    if isinstance(fact, Transfer) and fact.scope not in ("network", "local"):
        raise FactValidationError(f"Transfer.scope {fact.scope!r} is not network|local")


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
