"""MaterializationRecorder: meters one materialization and writes its facts as batches.

    with MaterializationRecorder(home, asset_key="clean_corpus", run_id=run_id,
                                 upstream=[raw_handle]) as rec:
        ... do the work ...
        rec.add_transfer(bytes_=n, duration_s=t, direction="read", endpoint_kind="file",
                         scope="local", endpoint=str(path))
        rec.add_storage(path, kind="dataset")
    rec.measurement      # the final Measurement
    rec.materialization_id

On enter it publishes a first batch (Materialization + lineage edges), so a killed step still shows
as `incomplete`. A heartbeat thread publishes cumulative partial energy readings every
`heartbeat_s`; the final batch (final readings + buffered facts + outcome) supersedes them. A step
that raises is recorded as `failed`, with its energy, and the exception propagates unchanged.
The recorder never opens the DuckDB file itself except through `sync_after` (a short, bounded,
lock-tolerant merge).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from metering.measurement import Measurement
from metering.meter import Meter, MeterError
from warehouse.artifacts import ArtifactHandle, tree_bytes
from warehouse.batches import write_batch
from warehouse.facts import (
    EnergyReading,
    FactBatch,
    LineageEdge,
    Materialization,
    MaterializationOutcome,
    Storage,
    Transfer,
    new_id,
    utcnow,
)
from warehouse.home import FootprintHome
from warehouse.redact import redact

DEFAULT_HEARTBEAT_S = 10.0


class MaterializationRecorder:
    def __init__(
        self,
        home: FootprintHome,
        *,
        asset_key: str,
        run_id: str,
        materialization_id: str | None = None,
        partition_key: str | None = None,
        attempt: int = 1,
        upstream: Iterable[ArtifactHandle] = (),
        meter: Meter | None = None,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        rank: int | None = None,
        sync_after: bool = True,
    ) -> None:
        if heartbeat_s <= 0:
            raise MeterError(f"heartbeat_s must be > 0 seconds, got {heartbeat_s}")
        self.home = home
        self.asset_key = asset_key
        self.run_id = run_id
        self.materialization_id = materialization_id or new_id()
        self.partition_key = partition_key
        self.attempt = attempt
        self.upstream = list(upstream)
        self.meter = meter if meter is not None else Meter.default()
        self.heartbeat_s = heartbeat_s
        self.rank = rank
        self.sync_after = sync_after
        self.window_id = new_id()
        self.host = socket.gethostname()
        self.measurement: Measurement | None = None
        self.status: str | None = None
        self._facts: list[Any] = []
        self.written: list[FactBatch] = []  # every batch this recorder published (for lock-free pricing)
        self._seq = 0
        self._stop = threading.Event()
        self._hb_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None

    # -- facts a step adds while it runs -------------------------------------------------------
    def add(self, *facts: Any) -> None:
        """Buffer facts (any fact dataclass) for the final batch."""
        FactBatch().add(*facts)  # validate now, so bad facts fail where they are made
        self._facts.extend(facts)

    def add_transfer(
        self,
        *,
        bytes_: int,
        duration_s: float,
        direction: str,
        endpoint_kind: str,
        scope: str,
        endpoint: str = "",
        requests: int = 0,
    ) -> None:
        self.add(
            Transfer(
                materialization_id=self.materialization_id,
                bytes=int(bytes_),
                duration_s=float(duration_s),
                direction=direction,
                endpoint_kind=endpoint_kind,
                scope=scope,  # type: ignore[arg-type]
                occurred_at=utcnow(),
                endpoint=endpoint,
                requests=requests,
            )
        )

    def add_storage(self, path: Path, *, kind: str) -> int:
        """Record the bytes `path` holds (file or directory). Returns them."""
        n = tree_bytes(path)
        self.add(Storage(self.materialization_id, n, str(path), kind, utcnow()))
        return n

    def handle(self, path: Path, *, rows: int | None = None, **extra: Any) -> ArtifactHandle:
        return ArtifactHandle(
            self.asset_key, self.materialization_id, str(path), tree_bytes(path), rows, extra
        )

    def add_measurement(self, measurement: Measurement, *, window_id: str | None = None) -> str:
        """Record a measurement made outside this recorder's own window (e.g. the total from
        `metering.distributed.aggregate_at_rank0`, or a `Meter.window` of a sub-step) as final energy
        readings under its own window id (new unless given). Its devices must not overlap what this
        recorder's own meter measures, or they count twice. Returns the window id."""
        wid = window_id or new_id()
        self.add(*self._readings(measurement, 1, final=True, window_id=wid))
        return wid

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> MaterializationRecorder:
        self.home.ensure()
        first = FactBatch().add(
            Materialization(
                materialization_id=self.materialization_id,
                run_id=self.run_id,
                asset_key=self.asset_key,
                started_at=utcnow(),
                partition_key=self.partition_key,
                attempt=self.attempt,
                host=self.host,
            ),
            *[LineageEdge(self.materialization_id, h.materialization_id, h.asset_key) for h in self.upstream],
        )
        self._publish(first)
        self.meter.begin_window(self.window_id)
        self._heartbeat = threading.Thread(target=self._beat, name=f"heartbeat-{self.asset_key}", daemon=True)
        self._heartbeat.start()
        return self

    def _publish(self, batch: FactBatch) -> None:
        write_batch(self.home, batch)
        self.written.append(batch)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._hb_lock:
                if self._stop.is_set():
                    return
                try:
                    partial = self.meter.read_window(self.window_id)
                except MeterError:
                    return
                self._seq += 1
                self._publish(FactBatch().add(*self._readings(partial, self._seq, final=False)))

    def _readings(
        self, m: Measurement, seq: int, *, final: bool, window_id: str | None = None
    ) -> list[EnergyReading]:
        now = utcnow()
        return [
            EnergyReading(
                materialization_id=self.materialization_id,
                window_id=window_id or self.window_id,
                seq=seq,
                is_final=final,
                device_kind=d.kind,
                device_index=d.index,
                device_name=d.name,
                host=d.host or self.host,
                energy_j=d.energy_j,
                duration_s=d.duration_s,
                method=d.method,
                source=d.source,
                measured_at=now,
                rank=d.rank if d.rank is not None else self.rank,
                note=d.note,
            )
            for d in m.devices
        ]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with self._hb_lock:
            self.measurement = self.meter.end_window(self.window_id)
            final_seq = self._seq + 1
        self.status = "success" if exc_type is None else "failed"
        error = None if exc is None else _one_line_error(exc)
        batch = FactBatch().add(
            *self._readings(self.measurement, final_seq, final=True),
            *self._facts,
            MaterializationOutcome(self.materialization_id, self.status, utcnow(), error),  # type: ignore[arg-type]
        )
        self._publish(batch)
        if self.sync_after:
            from warehouse.loader import try_sync

            try_sync(self.home)


def _one_line_error(exc: BaseException) -> str:
    """The first line of the error, bounded and with secrets masked (it is stored as a fact)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return redact(f"{type(exc).__name__}: {first}"[:500])
