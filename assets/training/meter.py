"""The orchestrating asset's own meter, and the `accounted()` variant that uses it.

Why not the default meter: the CPU and RAM models of `metering` follow the whole process tree (the
process, its live descendants and its reaped children). The training job is a descendant of the
orchestrating step (step -> torchrun agent -> ranks), and every rank already writes its own energy
readings into the same materialization (local rank 0 meters the torchrun agent's process tree, i.e.
the agent and every local rank: `metering.distributed`). Metering the tree here as well would count
the training's CPU and RAM twice. So the orchestrator's window covers ITS OWN process only
(user+system CPU seconds without `children_*`, its own RSS), stated so in each reading's `note`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import dagster as dg
import psutil

from metering.cpu_model import DEFAULT_CPU_TDP_W
from metering.measurement import DeviceEnergy
from metering.meter import BackendWindow, Meter
from metering.ram import BYTES_PER_GB, DEFAULT_RAM_W_PER_GB
from metering.recorder import MaterializationRecorder
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle

NOTE = "orchestrating process only; the torchrun job (agent + ranks) is metered by its ranks' windows"


class _OwnProcessWindow:
    def __init__(self, tdp_w: float, w_per_gb: float) -> None:
        self._proc = psutil.Process(os.getpid())
        self._tdp_w = tdp_w
        self._w_per_gb = w_per_gb
        self._cores = psutil.cpu_count(logical=True) or 1
        self._host = socket.gethostname()
        self._t0 = self._last_t = time.perf_counter()
        self._cpu0 = self._cpu_s()
        self._last_w = self._ram_w()
        self._ram_j = 0.0
        self._closed: list[DeviceEnergy] | None = None

    def _cpu_s(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system  # children_* left out on purpose (see module docstring)

    def _ram_w(self) -> float:
        return self._proc.memory_info().rss / BYTES_PER_GB * self._w_per_gb

    def read(self) -> list[DeviceEnergy]:
        if self._closed is not None:
            return self._closed
        now = time.perf_counter()
        ram_w = self._ram_w()
        self._ram_j += (self._last_w + ram_w) / 2 * (now - self._last_t)
        self._last_t, self._last_w = now, ram_w
        cpu_s = max(self._cpu_s() - self._cpu0, 0.0)
        wall_s = now - self._t0
        return [
            DeviceEnergy(
                "cpu",
                0,
                "cpu",
                cpu_s * self._tdp_w / self._cores,
                wall_s,
                "estimated",
                f"cpu-model:tdp_w={self._tdp_w:g};cores={self._cores};basis=own_process_cpu_s;cpu_s={cpu_s:.3f}",
                NOTE,
                host=self._host,
            ),
            DeviceEnergy(
                "ram",
                0,
                "ram",
                self._ram_j,
                wall_s,
                "estimated",
                f"ram-model:w_per_gb={self._w_per_gb:g};basis=own_process_rss",
                NOTE,
                host=self._host,
            ),
        ]

    def close(self) -> list[DeviceEnergy]:
        if self._closed is None:
            self._closed = self.read()
        return self._closed


class OwnProcessBackend:
    """CPU + RAM of the calling process alone (no descendants)."""

    def __init__(self, tdp_w: float = DEFAULT_CPU_TDP_W, w_per_gb: float = DEFAULT_RAM_W_PER_GB) -> None:
        self.tdp_w = tdp_w
        self.w_per_gb = w_per_gb

    def open_window(self) -> BackendWindow:
        return _OwnProcessWindow(self.tdp_w, self.w_per_gb)


def orchestrator_meter() -> Meter:
    return Meter([OwnProcessBackend()])


@contextmanager
def accounted_launch(
    context: dg.AssetExecutionContext,
    footprint: FootprintHomeResource,
    *,
    upstream: Iterable[ArtifactHandle] = (),
) -> Iterator[MaterializationRecorder]:
    """`pipelines.accounting.accounted()` with the orchestrator's own-process meter (the ranks meter
    the training processes themselves, so the orchestrator must not count its children)."""
    from pipelines.accounting import accounted

    with accounted(context, footprint, upstream=upstream, meter=orchestrator_meter()) as rec:
        yield rec
