"""A fake NVML for tests, demos and benchmarks (no GPU needed, as in Zeus): same function names,
arguments and errors as pynvml, driven by a clock (wall-clock by default; `FakeClock` in tests, so
nothing sleeps). `autospec_nvml(fake)` wraps each used function in `mock.create_autospec(<the
pynvml function>)`, so a call pynvml would reject fails.

    clock = FakeClock()
    gpu = FakeGpu(power_w=100.0, processes=[pid_a, pid_b], utilization={pid_a: 60.0, pid_b: 20.0})
    reader = GpuReader(autospec_nvml(FakeNvml([gpu], clock=clock)), dev_root=empty_dir)
    clock.advance(2.0)  # the counter grows by 200 J
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pynvml

COUNTER_MODULUS = 2**64  # nvmlDeviceGetTotalEnergyConsumption is an unsigned long long (mJ)
NOT_APPLICABLE = 0xFFFFFFFF  # NVML's gpuInstanceId / computeInstanceId outside MIG


class FakeClock:
    """Seconds that move only when told to (`advance`)."""

    def __init__(self, start_s: float = 1_000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass(frozen=True)
class FakeHandle:
    """A device handle: a GPU by its NVML index, or one of its MIG devices."""

    gpu: int
    mig: int | None = None


@dataclass
class FakeGpu:
    """One fake device: constant `power_w`; its energy counter advances with its clock.

    `processes`: pids holding it; `utilization`: SM % per pid (a sample per pid at every query; no
    entry = that pid was idle). Failure switches: `counter`/`power_supported` False = NotSupported;
    `utilization_supported` False = NotSupported; `process_list_fails` = Unknown on the process
    list; `refuse_handle` = NoPermission on its handle (a cgroup-constrained node); `lost` = GpuIsLost
    everywhere; `fail_once[name] = code`: the next call of that function on this GPU raises
    NVMLError(code), then it works. `legacy_bytes`: names, UUIDs and PCI bus ids as bytes (old pynvml).
    MIG: `mig` = MIG mode on; `mig_instances` = the pids on each MIG device (default: one instance
    holding `processes`); per-process utilisation is NotSupported; the energy counter is the parent's
    only; `mig_parent_refused` = the parent's aggregate process list needs privileges (NoPermission)."""

    power_w: float = 100.0
    name: str = "Fake GPU"
    uuid: str = ""
    pci_bus_id: str = ""
    counter: bool = True
    power_supported: bool = True
    start_counter_mj: int = 0
    lost: bool = False
    processes: list[int] = field(default_factory=list)
    utilization: dict[int, float] = field(default_factory=dict)
    utilization_supported: bool = True
    process_list_fails: bool = False
    refuse_handle: bool = False
    persistence: bool = True
    mig: bool = False
    mig_instances: list[list[int]] = field(default_factory=list)
    mig_parent_refused: bool = False
    legacy_bytes: bool = False
    fail_once: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False)
    _base_t: float = field(default=-1.0, repr=False)
    _base_mj: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self._base_mj < 0:
            self._base_mj = self.start_counter_mj
        if self._base_t < 0:
            self._base_t = self.clock()

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Drive the counter by `clock` from now on (the counter keeps its current value)."""
        value = self.counter_mj()
        self.clock = clock
        self.set_counter(value)

    def counter_mj(self) -> int:
        elapsed_s = self.clock() - self._base_t
        return (self._base_mj + int(self.power_w * elapsed_s * 1000.0)) % COUNTER_MODULUS

    def set_counter(self, value_mj: int) -> None:
        """The counter reads `value_mj` now and advances from there."""
        self._base_t = self.clock()
        self._base_mj = value_mj

    def reset_counter(self) -> None:
        """The driver reloaded: the counter starts again from 0."""
        self.set_counter(0)

    def instances(self) -> list[list[int]]:
        if not self.mig:
            return []
        return self.mig_instances or [list(self.processes)]

    def mig_uuid(self, j: int) -> str:
        return f"MIG-{self.uuid[4:12]}-0000-{j:04x}-0000-000000000000"


def _err(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)  # pynvml maps the code to its subclass (NVMLError_NotSupported, ...)


def _proc(pid: int, instance: int) -> Any:
    return types.SimpleNamespace(
        pid=pid, usedGpuMemory=1 << 30, gpuInstanceId=instance, computeInstanceId=instance
    )


class FakeNvml:
    """Mirrors the pynvml functions the ledger and the GPU check use. `library=False` = no NVML
    shared library; `clock` drives every GPU's counter and the utilisation timestamps."""

    NVMLError = pynvml.NVMLError

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        library: bool = True,
        clock: Callable[[], float] | None = None,
        driver: str = "570.00.00",
    ) -> None:
        self.gpus = list(gpus or [])
        self.clock = clock or time.time
        for i, g in enumerate(self.gpus):
            if not g.uuid:
                g.uuid = f"GPU-{i:08x}-fa4e-{i:04x}-0000-000000000000"
            if not g.pci_bus_id:
                g.pci_bus_id = f"00000000:{0x10 + i:02X}:00.0"
            if clock is not None:
                g.use_clock(clock)
        self.library = library
        self.driver = driver
        self.initialized = 0
        self.calls: dict[str, int] = {}

    def _count(self, name: str, gpu: FakeGpu | None = None) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if gpu is not None and name in gpu.fail_once:
            raise _err(gpu.fail_once.pop(name))

    def _str(self, gpu: FakeGpu, value: str) -> Any:
        return value.encode() if gpu.legacy_bytes else value

    def _check_init(self) -> None:
        if not self.initialized:
            raise _err(pynvml.NVML_ERROR_UNINITIALIZED)

    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if not self.library:
            raise _err(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.initialized = max(0, self.initialized - 1)

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check_init()
        return self.driver

    def _gpu(self, handle: Any, name: str, *, counted: bool = False) -> FakeGpu:
        self._check_init()
        gpu = self.gpus[handle.gpu]
        if counted:
            if name in gpu.fail_once:
                raise _err(gpu.fail_once.pop(name))
        else:
            self._count(name, gpu)
        if gpu.lost:
            raise _err(pynvml.NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlDeviceGetCount(self) -> int:
        self._count("nvmlDeviceGetCount")
        self._check_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._count("nvmlDeviceGetHandleByIndex")
        self._check_init()
        if not 0 <= index < len(self.gpus):
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self._gpu(FakeHandle(index), "nvmlDeviceGetHandleByIndex", counted=True)
        if gpu.refuse_handle:
            raise _err(pynvml.NVML_ERROR_NO_PERMISSION)
        return FakeHandle(index)

    def nvmlDeviceGetHandleByUUID(self, uuid: Any) -> FakeHandle:
        self._count("nvmlDeviceGetHandleByUUID")
        self._check_init()
        wanted = uuid.decode() if isinstance(uuid, bytes) else uuid
        for i, g in enumerate(self.gpus):
            found = FakeHandle(i) if g.uuid == wanted else None
            for j in range(len(g.instances())):
                if g.mig_uuid(j) == wanted:
                    found = FakeHandle(i, j)
            if found is not None:
                gpu = self._gpu(found, "nvmlDeviceGetHandleByUUID", counted=True)
                if gpu.refuse_handle:
                    raise _err(pynvml.NVML_ERROR_NO_PERMISSION)
                return found
        raise _err(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetIndex(self, handle: Any) -> int:
        self._gpu(handle, "nvmlDeviceGetIndex")
        if handle.mig is not None:
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)  # a MIG device has no NVML index
        return int(handle.gpu)

    def nvmlDeviceGetUUID(self, handle: Any) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetUUID")
        return self._str(gpu, gpu.uuid if handle.mig is None else gpu.mig_uuid(handle.mig))

    def nvmlDeviceGetName(self, handle: Any) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetName")
        return self._str(gpu, gpu.name)

    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetPciInfo")
        return types.SimpleNamespace(busId=self._str(gpu, gpu.pci_bus_id), bus=0, device=0, domain=0)

    def nvmlDeviceGetPersistenceMode(self, handle: Any) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetPersistenceMode")
        return pynvml.NVML_FEATURE_ENABLED if gpu.persistence else pynvml.NVML_FEATURE_DISABLED

    def nvmlDeviceGetMigMode(self, handle: Any) -> list[int]:
        gpu = self._gpu(handle, "nvmlDeviceGetMigMode")
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if gpu.mig else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: Any) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetMaxMigDeviceCount")
        return 7 if gpu.mig else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: Any, index: int) -> FakeHandle:
        gpu = self._gpu(device, "nvmlDeviceGetMigDeviceHandleByIndex")
        if not 0 <= index < len(gpu.instances()):
            raise _err(pynvml.NVML_ERROR_NOT_FOUND)
        return FakeHandle(device.gpu, index)

    def nvmlDeviceIsMigDeviceHandle(self, device: Any) -> int:
        self._gpu(device, "nvmlDeviceIsMigDeviceHandle")
        return int(device.mig is not None)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice: Any) -> FakeHandle:
        self._gpu(migDevice, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle")
        if migDevice.mig is None:
            raise _err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return FakeHandle(migDevice.gpu)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        if not gpu.counter or handle.mig is not None:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.counter_mj()

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetPowerUsage")
        if not gpu.power_supported or handle.mig is not None:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(gpu.power_w * 1000.0)

    def nvmlDeviceGetFieldValues(self, handle: Any, fieldIds: list[Any]) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetFieldValues")
        out = []
        for fid in fieldIds:
            known = fid == pynvml.NVML_FI_DEV_POWER_INSTANT and gpu.power_supported and handle.mig is None
            value = types.SimpleNamespace(uiVal=int(gpu.power_w * 1000.0) if known else 0)
            ret = pynvml.NVML_SUCCESS if known else pynvml.NVML_ERROR_NOT_SUPPORTED
            out.append(types.SimpleNamespace(fieldId=fid, scopeId=0, nvmlReturn=ret, value=value))
        return out

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        if gpu.process_list_fails:
            raise _err(pynvml.NVML_ERROR_UNKNOWN)
        if handle.mig is not None:
            return [_proc(pid, handle.mig + 1) for pid in gpu.instances()[handle.mig]]
        if gpu.mig:
            if gpu.mig_parent_refused:
                raise _err(pynvml.NVML_ERROR_NO_PERMISSION)
            return [_proc(pid, j + 1) for j, pids in enumerate(gpu.instances()) for pid in pids]
        return [_proc(pid, NOT_APPLICABLE) for pid in gpu.processes]

    def nvmlDeviceGetProcessUtilization(self, handle: Any, timeStamp: int) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetProcessUtilization")
        if gpu.mig or not gpu.utilization_supported:
            raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        now_us = int(self.clock() * 1e6)
        samples = [
            types.SimpleNamespace(pid=pid, timeStamp=now_us, smUtil=int(u), memUtil=0, encUtil=0, decUtil=0)
            for pid, u in gpu.utilization.items()
            if u > 0 and now_us > timeStamp
        ]
        if not samples:
            raise _err(pynvml.NVML_ERROR_NOT_FOUND)
        return samples


USED = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetHandleByUUID",
    "nvmlDeviceGetIndex",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetName",
    "nvmlDeviceGetPciInfo",
    "nvmlDeviceGetPersistenceMode",
    "nvmlDeviceGetMigMode",
    "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMigDeviceHandleByIndex",
    "nvmlDeviceIsMigDeviceHandle",
    "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetFieldValues",
    "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetProcessUtilization",
)
# The constants the readers compare with, copied from the real module.
CONSTANTS = (
    "NVML_DEVICE_MIG_ENABLE",
    "NVML_DEVICE_MIG_DISABLE",
    "NVML_FEATURE_ENABLED",
    "NVML_FEATURE_DISABLED",
)


def autospec_nvml(fake: FakeNvml, *, official: bool = True) -> Any:
    """A stand-in for the pynvml module: each function the readers use is `mock.create_autospec` of
    the real pynvml function (so a call pynvml would reject fails), delegating to `fake`.
    `official=False` leaves out `_nvmlGetFunctionPointer`, as the unofficial `pynvml` packages do
    (how Zeus tells them from NVIDIA's nvidia-ml-py)."""
    ns = types.SimpleNamespace(NVMLError=pynvml.NVMLError)
    for name in USED:
        setattr(ns, name, mock.create_autospec(getattr(pynvml, name), side_effect=getattr(fake, name)))
    for name in CONSTANTS:
        setattr(ns, name, getattr(pynvml, name))
    if official:
        ns._nvmlGetFunctionPointer = mock.create_autospec(pynvml._nvmlGetFunctionPointer)
    return ns
