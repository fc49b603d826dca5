"""Metering under torchrun (or accelerate): each rank meters only what it owns; rank 0 adds up.

Ownership on a node (no device counted twice):
- GPU i (logical CUDA index) belongs to local rank `i % local_world_size`: with one rank per GPU,
  rank r meters exactly its LOCAL_RANK device;
- CPU and RAM belong to local rank 0. With RAPL that is the whole package; with the models it is the
  process tree of the torchrun agent (the parent of the workers), so every local rank's CPU seconds
  and memory count once. Outside torchrun: this process's tree.

    meter = Meter(rank_backends())                  # every rank
    with meter.window("train") as w:
        train()
    total = aggregate_at_rank0(w.measurement)       # collective: every rank must call it
    if total is not None:                           # rank 0 only
        rec.add_measurement(total)                  # MaterializationRecorder(meter=Meter([])) at rank 0

`aggregate_at_rank0` uses torch.distributed.gather_object (works on gloo and nccl); with no process
group (or world size 1) it returns the measurement unchanged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from metering.backends import cpu_backend, ram_backend
from metering.measurement import DeviceEnergy, Measurement
from metering.meter import EnergyBackend, MeterError
from metering.nvml import NvmlGpuBackend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    under_launcher: bool = False  # started by torchrun / torch.distributed.elastic

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RankInfo:
        e = dict(os.environ) if env is None else env
        try:
            rank = int(e.get("RANK", "0"))
            local_rank = int(e.get("LOCAL_RANK", str(rank)))
            world = int(e.get("WORLD_SIZE", "1"))
            local_world = int(e.get("LOCAL_WORLD_SIZE", str(world)))
        except ValueError as err:
            raise MeterError(f"RANK/LOCAL_RANK/WORLD_SIZE/LOCAL_WORLD_SIZE must be integers: {err}") from err
        if not (0 <= local_rank < max(local_world, 1) and 0 <= rank < max(world, 1)):
            raise MeterError(
                f"inconsistent rank environment: RANK={rank} WORLD_SIZE={world} "
                f"LOCAL_RANK={local_rank} LOCAL_WORLD_SIZE={local_world}"
            )
        return cls(rank, local_rank, world, local_world, "TORCHELASTIC_RUN_ID" in e)


def rank_backends(*, info: RankInfo | None = None, nvml: Any = None) -> list[EnergyBackend]:
    """The backends this rank owns (see the module docstring). Every reading carries `rank`."""
    info = info or RankInfo.from_env()
    backends: list[EnergyBackend] = []
    if info.local_rank == 0:
        root_pid = os.getppid() if info.under_launcher else os.getpid()
        backends += [cpu_backend(pid=root_pid, rank=info.rank), ram_backend(pid=root_pid, rank=info.rank)]
    probe = NvmlGpuBackend(nvml=nvml, rank=info.rank)
    if probe.unavailable_reason is not None:
        if info.local_rank == 0:  # say once per node that GPUs could not be measured
            backends.append(probe)
        return backends
    n_visible = len(probe.gpus)
    mine = [i for i in range(n_visible) if i % info.local_world_size == info.local_rank]
    if mine:
        backends.append(NvmlGpuBackend(mine, nvml=nvml, rank=info.rank, visible_devices=probe.visible_spec))
    return backends


def merge_devices(parts: list[Measurement]) -> Measurement:
    """One measurement from several ranks' measurements; a (host, kind, index) reported twice is kept
    once (the first, lowest rank) and logged, never added twice."""
    if not parts:
        raise MeterError("merge_devices needs at least one measurement")
    seen: dict[tuple[str, str, int], DeviceEnergy] = {}
    for m in parts:
        for d in m.devices:
            key = (d.host, d.kind, d.index)
            if key in seen:
                log.warning(
                    "device %s reported by ranks %s and %s; counted once", key, seen[key].rank, d.rank
                )
                continue
            seen[key] = d
    return Measurement(
        name=parts[0].name,
        started_at=min(m.started_at for m in parts),
        duration_s=max(m.duration_s for m in parts),
        devices=tuple(seen.values()),
    )


def aggregate_at_rank0(measurement: Measurement, *, group: Any = None) -> Measurement | None:
    """Collective: gather every rank's measurement at rank 0 and merge it. Rank 0 gets the total,
    the others None. No initialized process group: returns `measurement` itself."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
        return measurement
    rank = dist.get_rank(group)
    gathered: list[Any] | None = [None] * dist.get_world_size(group) if rank == 0 else None
    dist.gather_object(measurement, gathered, dst=0, group=group)
    if rank != 0:
        return None
    assert gathered is not None
    return merge_devices([m for m in gathered if isinstance(m, Measurement)])
