"""A fake NVML for tests and demos (no GPU needed, as in Zeus): same function names and errors as
pynvml, driven by wall-clock time. `autospec_nvml(fake)` wraps each used function in
`mock.create_autospec(<the pynvml function>)`, so a call pynvml would reject fails the test.

    fake = FakeNvml([FakeGpu(power_w=100.0), FakeGpu(power_w=50.0, counter=False)])
    backend = NvmlGpuBackend(nvml=autospec_nvml(fake), visible_devices=None)
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pynvml

COUNTER_MODULUS = 2**64  # nvmlDeviceGetTotalEnergyConsumption is an unsigned long long (mJ)


@dataclass
class FakeGpu:
    """One fake device: constant `power_w`; its energy counter advances with wall-clock time."""

    power_w: float = 100.0
    name: str = "Fake GPU"
    uuid: str = ""
    counter: bool = True  # False: the energy counter raises NotSupported (pre-Volta devices)
    power_supported: bool = True
    start_counter_mj: int = 0
    lost: bool = False  # True: every call raises GpuIsLost (device fell off the bus)
    _base_t: float = field(default_factory=time.perf_counter, repr=False)
    _base_mj: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self._base_mj < 0:
            self._base_mj = self.start_counter_mj

    def counter_mj(self) -> int:
        elapsed_s = time.perf_counter() - self._base_t
        return (self._base_mj + int(self.power_w * elapsed_s * 1000.0)) % COUNTER_MODULUS

    def set_counter(self, value_mj: int) -> None:
        """The counter reads `value_mj` now and advances from there."""
        self._base_t = time.perf_counter()
        self._base_mj = value_mj

    def reset_counter(self) -> None:
        """The driver reloaded: the counter starts again from 0."""
        self.set_counter(0)


def _err(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)  # pynvml maps the code to its subclass (NVMLError_NotSupported, ...)


class FakeNvml:
    """Mirrors the pynvml functions the meter uses. `library=False` = no NVML shared library."""

    NVMLError = pynvml.NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, *, library: bool = True) -> None:
        self.gpus = list(gpus or [])
        for i, g in enumerate(self.gpus):
            if not g.uuid:
                g.uuid = f"GPU-{i:08d}-fake-{i:04d}-0000-000000000000"
        self.library = library
        self.initialized = 0

    def nvmlInit(self) -> None:
        if not self.library:
            raise _err(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.initialized = max(0, self.initialized - 1)

    def _gpu(self, handle: Any) -> FakeGpu:
        if not self.initialized:
            raise _err(pynvml.NVML_ERROR_UNINITIALIZED)
        gpu = self.gpus[int(handle)]
        if gpu.lost:
            raise _err(pynvml.NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlDeviceGetCount(self) -> int:
        if not self.initialized:
            raise _err(pynvml.NVML_ERROR_UNINITIALIZED)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        self._gpu(index)
        return index

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return self._gpu(handle).uuid

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._gpu(handle).name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        gpu = self._gpu(handle)
        if not gpu.counter:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.counter_mj()

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        gpu = self._gpu(handle)
        if not gpu.power_supported:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(gpu.power_w * 1000.0)


_USED = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetName",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetPowerUsage",
)


def autospec_nvml(fake: FakeNvml) -> Any:
    """A stand-in for the pynvml module: each function the meter uses is `mock.create_autospec` of the
    real pynvml function (so a call pynvml would reject fails), delegating to `fake`."""
    ns = types.SimpleNamespace(NVMLError=pynvml.NVMLError)
    for name in _USED:
        setattr(ns, name, mock.create_autospec(getattr(pynvml, name), side_effect=getattr(fake, name)))
    return ns
