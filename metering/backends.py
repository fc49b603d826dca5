"""Energy backends available on this machine. (Placeholder: CPU model only; the metering issue adds
RAPL, NVML and RAM backends behind the same interface.)"""

from __future__ import annotations

import os
import socket
import time

import psutil

from metering.measurement import DeviceEnergy
from metering.meter import BackendWindow, EnergyBackend

DEFAULT_CPU_TDP_W = 85.0  # CodeCarbon's fallback for an unknown CPU


class _CpuModelWindow:
    def __init__(self, tdp_w: float) -> None:
        self._tdp_w = tdp_w
        self._cores = psutil.cpu_count() or 1
        self._proc = psutil.Process(os.getpid())
        self._t0 = time.perf_counter()
        self._cpu0 = self._cpu_s()

    def _cpu_s(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def read(self) -> list[DeviceEnergy]:
        wall_s = time.perf_counter() - self._t0
        cpu_s = self._cpu_s() - self._cpu0
        energy_j = cpu_s * self._tdp_w / self._cores
        return [
            DeviceEnergy(
                kind="cpu",
                index=0,
                name="cpu",
                energy_j=energy_j,
                duration_s=wall_s,
                method="estimated",
                source=f"cpu-model:tdp_w={self._tdp_w};cores={self._cores};process_cpu_share",
                host=socket.gethostname(),
            )
        ]

    def close(self) -> list[DeviceEnergy]:
        return self.read()


class CpuModelBackend:
    def __init__(self, tdp_w: float = DEFAULT_CPU_TDP_W) -> None:
        self.tdp_w = tdp_w

    def open_window(self) -> BackendWindow:
        return _CpuModelWindow(self.tdp_w)


def default_backends() -> list[EnergyBackend]:
    return [CpuModelBackend()]
