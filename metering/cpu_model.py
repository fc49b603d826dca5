"""CPU energy estimated from CPU time, for machines without readable RAPL counters.

Model (marked `estimated`; the constants go into `source`):

    energy_j = cpu_s(process tree) x tdp_w / logical_cores

i.e. each logical core is charged TDP / cores watts while it runs this process tree (the process,
its children and their descendants). The machine's idle power and other users' work are NOT
attributed to the window (unlike RAPL, which measures the whole package). Default TDP: 85 W,
CodeCarbon's fallback for an unknown CPU; override with `tdp_w` (or FOOTPRINT_CPU_TDP_W, read by
`default_backends()` when called).
"""

from __future__ import annotations

import os
import socket
import time

import psutil

from metering.measurement import DeviceEnergy
from metering.meter import BackendWindow, MeterError
from metering.proctree import ProcessTree

DEFAULT_CPU_TDP_W = 85.0  # CodeCarbon's fallback for an unknown CPU


class _CpuModelWindow:
    def __init__(self, backend: CpuModelBackend) -> None:
        self._b = backend
        self._tree = ProcessTree(backend.pid if backend.pid is not None else os.getpid())
        self._host = socket.gethostname()
        self._t0 = time.perf_counter()
        self._cpu0 = self._tree.cpu_s()
        self._closed: list[DeviceEnergy] | None = None

    def read(self) -> list[DeviceEnergy]:
        if self._closed is not None:
            return self._closed
        wall_s = time.perf_counter() - self._t0
        cpu_s = max(self._tree.cpu_s() - self._cpu0, 0.0)
        b = self._b
        return [
            DeviceEnergy(
                kind="cpu",
                index=0,
                name="cpu",
                energy_j=cpu_s * b.tdp_w / b.cores,
                duration_s=wall_s,
                method="estimated",
                source=f"cpu-model:tdp_w={b.tdp_w:g};cores={b.cores};basis=process_tree_cpu_s;cpu_s={cpu_s:.3f}",
                note="process-tree share of TDP; machine idle power not attributed",
                rank=b.rank,
                host=self._host,
            )
        ]

    def close(self) -> list[DeviceEnergy]:
        if self._closed is None:
            self._closed = self.read()
        return self._closed


class CpuModelBackend:
    """`pid`: root of the metered process tree (default: this process, at window open)."""

    def __init__(
        self,
        tdp_w: float = DEFAULT_CPU_TDP_W,
        *,
        pid: int | None = None,
        cores: int | None = None,
        rank: int | None = None,
    ) -> None:
        if not (isinstance(tdp_w, int | float) and 0 < tdp_w < 10_000):
            raise MeterError(f"CPU TDP must be a positive number of watts, got {tdp_w!r}")
        self.tdp_w = float(tdp_w)
        self.cores = cores or psutil.cpu_count(logical=True) or 1
        self.pid = pid
        self.rank = rank

    def open_window(self) -> BackendWindow:
        return _CpuModelWindow(self)
