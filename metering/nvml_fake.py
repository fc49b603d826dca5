"""A fake NVML for tests, demos and benchmarks (no GPU needed, as in Zeus): same function names,
arguments and errors as pynvml, driven by wall-clock time. `autospec_nvml(fake)` wraps each used
function in `mock.create_autospec(<the pynvml function>)`, so a call pynvml would reject fails.

    gpu = FakeGpu(power_w=100.0, processes=[pid_a, pid_b], utilization={pid_a: 60.0, pid_b: 20.0})
    ledger = Ledger(home, gpus=GpuReader(autospec_nvml(FakeNvml([gpu])), dev_root=empty_dir))
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
    """One fake device: constant `power_w`; its energy counter advances with wall-clock time.

    `processes`: pids holding it; `utilization`: SM % per pid (a sample per pid at every query; no
    entry = that pid was idle). Failure switches: `counter`/`power_supported` False = NotSupported;
    `utilization_supported` False = NotSupported (as under MIG); `process_list_fails` = Unknown on
    the process list; `refuse_handle` = NoPermission on its handle; `lost` = GpuIsLost everywhere;
    `fail_once[name] = code`: the next call of that function raises NVMLError(code), then works.
    `legacy_bytes`: names and UUIDs as bytes (old pynvml)."""

    power_w: float = 100.0
    name: str = "Fake GPU"
    uuid: str = ""
    counter: bool = True
    power_supported: bool = True
    start_counter_mj: int = 0
    lost: bool = False
    processes: list[int] = field(default_factory=list)
    utilization: dict[int, float] = field(default_factory=dict)
    utilization_supported: bool = True
    process_list_fails: bool = False
    refuse_handle: bool = False
    mig: bool = False  # processes carry gpu/compute instance ids; per-process utilisation unsupported
    legacy_bytes: bool = False
    fail_once: dict[str, int] = field(default_factory=dict)
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
    """Mirrors the pynvml functions the ledger uses. `library=False` = no NVML shared library."""

    NVMLError = pynvml.NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, *, library: bool = True) -> None:
        self.gpus = list(gpus or [])
        for i, g in enumerate(self.gpus):
            if not g.uuid:
                g.uuid = f"GPU-{i:08d}-fake-{i:04d}-0000-000000000000"
        self.library = library
        self.initialized = 0
        self.calls: dict[str, int] = {}

    def _count(self, name: str, gpu: FakeGpu | None = None) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if gpu is not None and name in gpu.fail_once:
            raise _err(gpu.fail_once.pop(name))

    def _str(self, gpu: FakeGpu, value: str) -> Any:
        return value.encode() if gpu.legacy_bytes else value

    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if not self.library:
            raise _err(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.initialized = max(0, self.initialized - 1)

    def _gpu(self, handle: Any, name: str) -> FakeGpu:
        if not self.initialized:
            raise _err(pynvml.NVML_ERROR_UNINITIALIZED)
        gpu = self.gpus[int(handle)]
        self._count(name, gpu)
        if gpu.lost:
            raise _err(pynvml.NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlDeviceGetCount(self) -> int:
        self._count("nvmlDeviceGetCount")
        if not self.initialized:
            raise _err(pynvml.NVML_ERROR_UNINITIALIZED)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self._gpu(index, "nvmlDeviceGetHandleByIndex")
        if gpu.refuse_handle:
            raise _err(pynvml.NVML_ERROR_NO_PERMISSION)
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: Any) -> int:
        wanted = uuid.decode() if isinstance(uuid, bytes) else uuid
        for i, g in enumerate(self.gpus):
            if g.uuid == wanted:
                gpu = self._gpu(i, "nvmlDeviceGetHandleByUUID")
                if gpu.refuse_handle:
                    raise _err(pynvml.NVML_ERROR_NO_PERMISSION)
                return i
        raise _err(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetUUID(self, handle: Any) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetUUID")
        return self._str(gpu, gpu.uuid)

    def nvmlDeviceGetName(self, handle: Any) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetName")
        return self._str(gpu, gpu.name)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        if not gpu.counter:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.counter_mj()

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetPowerUsage")
        if not gpu.power_supported:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(gpu.power_w * 1000.0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        if gpu.process_list_fails:
            raise _err(pynvml.NVML_ERROR_UNKNOWN)
        instance = 1 if gpu.mig else 0xFFFFFFFF  # NVML's "not applicable" outside MIG
        return [
            types.SimpleNamespace(
                pid=pid, usedGpuMemory=1 << 30, gpuInstanceId=instance, computeInstanceId=instance
            )
            for pid in gpu.processes
        ]

    def nvmlDeviceGetProcessUtilization(self, handle: Any, timeStamp: int) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetProcessUtilization")
        if gpu.mig or not gpu.utilization_supported:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        now_us = int(time.time() * 1e6)
        samples = [
            types.SimpleNamespace(pid=pid, timeStamp=now_us, smUtil=int(u), memUtil=0, encUtil=0, decUtil=0)
            for pid, u in gpu.utilization.items()
            if u > 0 and now_us > timeStamp
        ]
        if not samples:
            raise _err(pynvml.NVML_ERROR_NOT_FOUND)
        return samples


_USED = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetHandleByUUID",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetName",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetProcessUtilization",
)


def autospec_nvml(fake: FakeNvml) -> Any:
    """A stand-in for the pynvml module: each function the ledger uses is `mock.create_autospec` of
    the real pynvml function (so a call pynvml would reject fails), delegating to `fake`."""
    ns = types.SimpleNamespace(NVMLError=pynvml.NVMLError)
    for name in _USED:
        setattr(ns, name, mock.create_autospec(getattr(pynvml, name), side_effect=getattr(fake, name)))
    return ns
