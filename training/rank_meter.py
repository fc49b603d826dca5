"""Per-rank metering inside a torchrun job.

Each rank opens its own meter window (its own `window_id`, `rank` set on every reading) and writes
its energy readings itself, as fact batches, into the materialization id the orchestrating asset
passed through the Pipes extras. It writes no Materialization/outcome facts: those belong to the
orchestrator's recorder, which therefore decides success/failed, and a job killed mid-way still shows
as `incomplete` with the ranks' energy up to their last heartbeat.

Device ownership is `metering.distributed.rank_backends()` (no device counted twice): GPU i by the
local rank that owns it; CPU and RAM once per node by local rank 0, as the process tree of the
torchrun agent (the agent and every local rank). The orchestrating step's own window excludes its
children (assets/training/meter.py), so nothing is counted by both.
Rank 0 gathers every rank's final readings (`metering.distributed.aggregate_at_rank0`), window ids
and final batch ids, and reports them through Pipes.
"""

from __future__ import annotations

from types import TracebackType

from metering.distributed import aggregate_at_rank0, rank_backends
from metering.meter import Meter
from metering.recorder import MaterializationRecorder
from training.result import DeviceTotal
from warehouse.facts import FactBatch
from warehouse.home import FootprintHome


class RankRecorder(MaterializationRecorder):
    """A MaterializationRecorder that writes only this rank's energy readings (and buffered facts)
    into an existing materialization: heartbeats while open, final readings on exit, failed or not."""

    def __init__(
        self,
        home: FootprintHome,
        *,
        asset_key: str,
        run_id: str,
        materialization_id: str,
        rank: int,
        heartbeat_s: float,
        meter: Meter | None = None,
    ) -> None:
        super().__init__(
            home,
            asset_key=asset_key,
            run_id=run_id,
            materialization_id=materialization_id,
            meter=meter if meter is not None else Meter(rank_backends()),
            heartbeat_s=heartbeat_s,
            rank=rank,
            sync_after=False,  # the orchestrator merges once every rank has written
        )

    def __enter__(self) -> RankRecorder:
        self.home.ensure()
        self.meter.begin_window(self.window_id)
        self._start_heartbeat()
        return self

    def _start_heartbeat(self) -> None:
        import threading

        self._heartbeat = threading.Thread(target=self._beat, name=f"heartbeat-rank{self.rank}", daemon=True)
        self._heartbeat.start()

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
        self._publish(FactBatch().add(*self._readings(self.measurement, final_seq, final=True), *self._facts))


def gather_devices(rec: RankRecorder, world_size: int) -> tuple[list[DeviceTotal], list[str], list[str]]:
    """Collective. At rank 0: every rank's final readings, window ids and final batch ids (other
    ranks get empty lists)."""
    import torch

    assert rec.measurement is not None
    total = aggregate_at_rank0(rec.measurement)
    final_batch = rec.written[-1].batch_id if rec.written and len(rec.written[-1]) else ""
    mine = (rec.window_id, final_batch)
    if world_size == 1:
        ids = [mine]
    else:
        first = rec.rank == 0
        gathered: list[tuple[str, str] | None] | None = [None] * world_size if first else None
        torch.distributed.gather_object(mine, gathered, dst=0)
        ids = [g for g in gathered or [] if g is not None]
    if total is None:
        return [], [], []
    devices = [
        DeviceTotal(
            d.rank if d.rank is not None else 0,
            d.kind,
            d.index,
            d.name,
            d.host,
            d.energy_j,
            d.method,
            d.source,
        )
        for d in total.devices
    ]
    return devices, [w for w, _ in ids], [b for _, b in ids if b]
