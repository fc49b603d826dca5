"""RAM energy estimated from resident memory (marked `estimated`).

    power_w = rss_gb(process tree) x w_per_gb,   energy_j = trapezoid integral over the window

`w_per_gb` default 0.375 W/GB: 3 W per 8 GB of DDR3/DDR4, the figure CodeCarbon uses (after Crucial's
power guide); Green Algorithms (Lannelongue et al. 2021) uses 0.3725 W/GB and Cloud Carbon Footprint
0.000392 kWh per GB-hour (= 0.392 W/GB). RSS is sampled every `interval_s` (default 1 s) and at the
window's start, each read, and its end. Shared pages count once per process (an upper bound).
"""

from __future__ import annotations

import os
import socket
import threading
import time

from metering.measurement import DeviceEnergy
from metering.meter import BackendWindow, MeterError
from metering.proctree import ProcessTree
from metering.sampler import Sampler, Trapezoid, check_interval

DEFAULT_RAM_W_PER_GB = 0.375
DEFAULT_RAM_INTERVAL_S = 1.0
BYTES_PER_GB = 1e9


class _RamWindow:
    def __init__(self, backend: RamModelBackend) -> None:
        self._b = backend
        self._tree = ProcessTree(backend.pid if backend.pid is not None else os.getpid())
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._trap = Trapezoid()
        self._peak_bytes = 0
        self._t0 = time.perf_counter()
        self._sample(self._t0)
        self._closed: list[DeviceEnergy] | None = None
        self._sampler = Sampler(self._sample, backend.interval_s, name="ram-sampler").start()

    def _sample(self, now_s: float) -> None:
        rss = self._tree.rss_bytes()
        with self._lock:
            self._peak_bytes = max(self._peak_bytes, rss)
            self._trap.add(now_s, rss / BYTES_PER_GB * self._b.w_per_gb)

    def read(self) -> list[DeviceEnergy]:
        if self._closed is not None:
            return self._closed
        now_s = time.perf_counter()
        self._sample(now_s)
        b = self._b
        with self._lock:
            energy_j = self._trap.energy_j
            peak_gb = self._peak_bytes / BYTES_PER_GB
        return [
            DeviceEnergy(
                kind="ram",
                index=0,
                name="ram",
                energy_j=energy_j,
                duration_s=now_s - self._t0,
                method="estimated",
                source=(
                    f"ram-model:w_per_gb={b.w_per_gb:g};basis=process_tree_rss;"
                    f"interval_s={b.interval_s:g};peak_rss_gb={peak_gb:.3f}"
                ),
                rank=b.rank,
                host=self._host,
            )
        ]

    def close(self) -> list[DeviceEnergy]:
        if self._closed is None:
            self._sampler.stop()
            self._closed = self.read()
        return self._closed


class RamModelBackend:
    def __init__(
        self,
        w_per_gb: float = DEFAULT_RAM_W_PER_GB,
        *,
        interval_s: float = DEFAULT_RAM_INTERVAL_S,
        pid: int | None = None,
        rank: int | None = None,
    ) -> None:
        if not (isinstance(w_per_gb, int | float) and 0 < w_per_gb < 100):
            raise MeterError(f"RAM power must be a positive number of W per GB, got {w_per_gb!r}")
        self.w_per_gb = float(w_per_gb)
        self.interval_s = check_interval(interval_s, "RAM sampling interval")
        self.pid = pid
        self.rank = rank

    def open_window(self) -> BackendWindow:
        return _RamWindow(self)
