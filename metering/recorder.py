"""MaterializationRecorder: one materialization's facts, and its meter window in the host ledger.

    with MaterializationRecorder(home, asset_key="clean_corpus", run_id=run_id,
                                 upstream=[raw_handle]) as rec:
        ... do the work ...
        rec.add_transfer(bytes_=n, duration_s=t, direction="read", endpoint_kind="file",
                         scope="local", endpoint=str(path))
        rec.add_storage(path, kind="dataset")
    rec.materialization_id, rec.window_id

On enter it publishes a first batch (Materialization + lineage edges), so a killed step still shows
as `incomplete`, then opens a ledger window (`metering.ledger`) rooted at `root_pid` (default: this
process, i.e. its whole process tree except windows nested in it), with a heartbeat every
`heartbeat_s`. The ledger's ticks record the window's use of every device of the host; on exit the
window closes at a tick whose batch also carries the final facts (buffered facts + outcome): one
batch fewer to write. Where the window cannot close, they are published in a batch of their own.
A step that raises is recorded as `failed` and the exception propagates unchanged.

The recorder only writes facts and leaves: it never opens the DuckDB warehouse and never merges
(the loader does: `footprint sync`, the Dagster sensor). What prices it afterwards
(`warehouse.pricing.price_materialization`) is `written` (its own batches) plus `tick_batch_ids`
(the ledger batches of the ticks its window was in, whichever process wrote them), of which
`tick_batch` returns those this process still holds in memory.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metering.errors import MeterError
from metering.ledger import Ledger
from metering.window import DEFAULT_HEARTBEAT_S, Window
from warehouse.artifacts import ArtifactHandle, tree_bytes
from warehouse.batches import write_batch
from warehouse.facts import (
    WINDOW_ROLES,
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
from warehouse.upload import flush_at_exit

if TYPE_CHECKING:
    from warehouse.pricing import PricedFootprint

__all__ = ["DEFAULT_HEARTBEAT_S", "MaterializationRecorder", "MeterError"]
log = logging.getLogger(__name__)


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
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        rank: int | None = None,
        role: str = "step",
        name: str | None = None,
        root_pid: int | None = None,
        services: Iterable[str] = (),
        ledger: Ledger | None = None,
    ) -> None:
        if not (isinstance(heartbeat_s, int | float) and heartbeat_s > 0):
            raise MeterError(f"heartbeat_s must be > 0 seconds, got {heartbeat_s}")
        if role not in WINDOW_ROLES:
            raise MeterError(f"window role {role!r} is not one of {WINDOW_ROLES}")
        self.home = home
        self.asset_key = asset_key
        self.run_id = run_id
        self.materialization_id = materialization_id or new_id()
        self.partition_key = partition_key
        self.attempt = attempt
        self.upstream = list(upstream)
        self.heartbeat_s = float(heartbeat_s)
        self.rank = rank
        self.role = role
        self.name = name or asset_key
        self.root_pid = os.getpid() if root_pid is None else root_pid
        self.services = tuple(services)
        self.ledger = ledger
        self.host = socket.gethostname()
        self.window: Window | None = None
        self.status: str | None = None
        self._facts: list[Any] = []
        self.written: list[FactBatch] = []  # every batch this recorder published itself
        self._ledger: Ledger | None = None

    @property
    def window_id(self) -> str | None:
        """The ledger window (set once entered)."""
        return self.window.window_id if self.window is not None else None

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

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> MaterializationRecorder:
        self.home.ensure()
        first_facts = [
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
        ]
        # published before the window opens: a killed step still shows (incomplete), and the first
        # batch write of a process (pyarrow's one-time setup, ~0.2 CPU-s) is not charged to the window
        self._publish(FactBatch().add(*first_facts))
        ledger = self.ledger if self.ledger is not None else Ledger(self.home)
        self._ledger = ledger
        self.window = ledger.window(
            materialization_id=self.materialization_id,
            role=self.role,
            name=self.name,
            root_pid=self.root_pid,
            rank=self.rank,
            uses_services=self.services,
            heartbeat_s=self.heartbeat_s,
        )
        return self

    @property
    def tick_batch_ids(self) -> list[str] | None:
        """The ledger batches that price the window (once closed; None when it was not closed here)."""
        return self.window.batch_ids if self.window is not None else None

    def tick_batch(self, batch_id: str) -> FactBatch | None:
        """A tick batch this process's ledger wrote and still holds in memory, else None."""
        return self._ledger.written_batch(batch_id) if self._ledger is not None else None

    def price(self) -> PricedFootprint:
        """This materialization priced in-process from its own facts and its window's tick batches
        (`warehouse.pricing.price_materialization`; PricingError when they cannot be found)."""
        from warehouse.pricing import price_materialization

        return price_materialization(
            self.home,
            self.materialization_id,
            written=self.written,
            tick_batch_ids=self.tick_batch_ids,
            in_memory=self.tick_batch,
        )

    def _publish(self, batch: FactBatch) -> None:
        write_batch(self.home, batch)
        self.written.append(batch)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.status = "success" if exc_type is None else "failed"
        error = None if exc is None else _one_line_error(exc)
        final = [
            *self._facts,
            MaterializationOutcome(self.materialization_id, self.status, utcnow(), error),  # type: ignore[arg-type]
        ]
        if self.window is not None:
            try:  # the final facts ride in the closing tick's batch
                self.window.close(facts=final)
            except MeterError as err:  # the outcome must still be recorded; a later tick closes it 'lost'
                log.error(
                    "meter window %s of %s could not be closed: %s", self.window_id, self.asset_key, err
                )
            if self.window.closed_batch is not None:
                self.written.append(self.window.closed_batch)
                flush_at_exit(self.home)
                return
        self._publish(FactBatch().add(*final))
        flush_at_exit(self.home)


def _one_line_error(exc: BaseException) -> str:
    """The first line of the error, bounded and with secrets masked (it is stored as a fact)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return redact(f"{type(exc).__name__}: {first}"[:500])
