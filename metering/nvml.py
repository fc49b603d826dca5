"""Every NVIDIA GPU of the host, read once per ledger tick through NVML (package nvidia-ml-py,
module `pynvml`; injectable, e.g. `metering.nvml_fake.autospec_nvml`).

NVML sees every GPU of the host whatever CUDA_VISIBLE_DEVICES says (the ledger meters the host, not
a process). Devices are keyed by UUID; `index` is the NVML index. Per device and tick:
- energy: `nvmlDeviceGetTotalEnergyConsumption` (mJ counter, Volta and newer), else
  `nvmlDeviceGetPowerUsage` (mW, read at the ticks only: a coarse trapezoid);
- who holds it: `nvmlDeviceGetComputeRunningProcesses` (host pids);
- who used it: `nvmlDeviceGetProcessUtilization(handle, last_seen_us)` (SM % per pid since the
  previous tick's newest sample; NVML_ERROR_NOT_FOUND = nobody was busy).

Errors are per call and per device: `NOT_SUPPORTED` means the device lacks that reading (not an
error); `GPU_IS_LOST` ends the device (`lost`); anything else is a transient gap noted for that
interval only (the next tick reads afresh). A refused handle makes only that device unavailable.
No NVML library: no GPU at all when there is no `/dev/nvidia<N>`, else those devices `unavailable`.
Legacy pynvml returns bytes for names and UUIDs: decoded.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# NVML return codes (stable ABI; pynvml maps them to NVMLError subclasses)
NOT_SUPPORTED = 3
NOT_FOUND = 6
GPU_IS_LOST = 15
_DEV_NODE = re.compile(r"^nvidia(\d+)$")


class GpuLost(Exception):
    """NVML says the device fell off the bus (GpuIsLost)."""


def load_pynvml() -> Any:
    """The real NVML binding (imported on first use, never at import time)."""
    import pynvml

    return pynvml


def text(value: Any) -> str:
    """A name or UUID as str (legacy pynvml returns bytes)."""
    return value.decode(errors="replace") if isinstance(value, bytes | bytearray) else str(value)


def _code(err: BaseException) -> int | None:
    value = getattr(err, "value", None)
    return value if isinstance(value, int) else None


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


@dataclass
class GpuSample:
    """One device at one tick. `pids` None: the process list could not be read; `util` None: the
    utilisation query failed (or is not supported, e.g. MIG), {} nobody was busy since `util_ts`."""

    key: str  # UUID, or 'index:N' when the device could not be identified
    index: int
    name: str = "gpu"
    uuid: str | None = None
    available: bool = True
    lost: bool = False
    energy_mj: int | None = None
    power_mw: int | None = None
    has_counter: bool = False
    pids: list[int] | None = None
    util: dict[int, float] | None = None
    util_ts: int | None = None
    notes: list[str] = field(default_factory=list)


# id(nvml module) -> (that module, initialised module or None, init error): NVML is initialised once per
# process and module (the module is kept, so its id cannot be reused by another object)
_SESSIONS: dict[int, tuple[Any, Any, str | None]] = {}


class GpuReader:
    """Reads the host's GPUs. `nvml`: a pynvml-like module (default: the real one, loaded and
    initialised once per process); `dev_root`: where device nodes are looked for."""

    def __init__(self, nvml: Any = None, *, dev_root: Path = Path("/dev")) -> None:
        self._nvml_arg = nvml
        self.dev_root = dev_root

    def _session(self) -> tuple[Any, str | None]:
        key = id(self._nvml_arg) if self._nvml_arg is not None else 0
        if key not in _SESSIONS:
            try:
                nv = self._nvml_arg if self._nvml_arg is not None else load_pynvml()
                nv.nvmlInit()
                _SESSIONS[key] = (self._nvml_arg, nv, None)
            except Exception as err:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
                _SESSIONS[key] = (self._nvml_arg, None, f"NVML unavailable: {_describe(err)}")
        _, nv, error = _SESSIONS[key]
        return nv, error

    def device_nodes(self) -> list[int]:
        try:
            names = [p.name for p in self.dev_root.iterdir()]
        except OSError:
            return []
        return sorted(int(m.group(1)) for n in names if (m := _DEV_NODE.match(n)))

    def sample(self, inventory: dict[str, int], last_util_ts: dict[str, int]) -> list[GpuSample]:
        """Every GPU now. `inventory`: UUID -> NVML index known from earlier ticks (read by UUID);
        rediscovered by index when empty or when the device count changed."""
        nv, error = self._session()
        if nv is None:
            return [
                GpuSample(f"index:{i}", i, available=False, notes=[error or "NVML unavailable"])
                for i in self.device_nodes()
            ]
        try:
            count = int(nv.nvmlDeviceGetCount())
        except nv.NVMLError as err:
            return [
                GpuSample(f"index:{i}", i, available=False, notes=[f"device count: {_describe(err)}"])
                for i in self.device_nodes()
            ]
        handles: list[tuple[str, int, Any]] = []
        out: list[GpuSample] = []
        if inventory and len(inventory) == count:
            for uuid, index in sorted(inventory.items(), key=lambda kv: kv[1]):
                try:
                    handles.append((uuid, index, nv.nvmlDeviceGetHandleByUUID(uuid)))
                except nv.NVMLError as err:
                    out.append(self._failed(uuid, index, "handle", err))
        else:
            for index in range(count):
                try:
                    h = nv.nvmlDeviceGetHandleByIndex(index)
                    uuid = text(nv.nvmlDeviceGetUUID(h))
                except nv.NVMLError as err:
                    out.append(self._failed(f"index:{index}", index, "handle", err))
                    continue
                handles.append((uuid, index, h))
        for uuid, index, h in handles:
            out.append(self._read(nv, uuid, index, h, last_util_ts.get(uuid, 0)))
        return sorted(out, key=lambda s: s.index)

    @staticmethod
    def _failed(key: str, index: int, what: str, err: BaseException) -> GpuSample:
        uuid = None if key.startswith("index:") else key
        lost = _code(err) == GPU_IS_LOST
        note = f"{what}: {_describe(err)}"
        if lost:
            note = f"GPU lost ({note}): no longer metered"
        return GpuSample(key, index, uuid=uuid, available=False, lost=lost, notes=[note])

    def _read(self, nv: Any, uuid: str, index: int, h: Any, last_ts: int) -> GpuSample:
        s = GpuSample(uuid, index, uuid=uuid)
        try:
            s.name = text(nv.nvmlDeviceGetName(h))
            s.energy_mj, s.has_counter = self._energy(nv, h, s)
            if not s.has_counter:
                s.power_mw = self._call(nv, s, "power", nv.nvmlDeviceGetPowerUsage, h)
            procs = self._call(nv, s, "process list", nv.nvmlDeviceGetComputeRunningProcesses, h)
            s.pids = None if procs is None else sorted({int(p.pid) for p in procs})
            s.util, s.util_ts = self._utilization(nv, h, last_ts, s)
        except GpuLost as err:
            s.lost, s.available = True, False
            s.notes.append(f"GPU lost ({err}): no longer metered")
        return s

    @staticmethod
    def _call(nv: Any, s: GpuSample, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except nv.NVMLError as err:
            if _code(err) == GPU_IS_LOST:
                raise GpuLost(_describe(err)) from err
            if _code(err) != NOT_SUPPORTED:
                s.notes.append(f"gap: {what}: {_describe(err)}")
            return None

    def _energy(self, nv: Any, h: Any, s: GpuSample) -> tuple[int | None, bool]:
        try:
            return int(nv.nvmlDeviceGetTotalEnergyConsumption(h)), True
        except nv.NVMLError as err:
            if _code(err) == GPU_IS_LOST:
                raise GpuLost(_describe(err)) from err
            if _code(err) == NOT_SUPPORTED:
                return None, False
            s.notes.append(f"gap: energy counter: {_describe(err)}")
            return None, True

    @staticmethod
    def _utilization(
        nv: Any, h: Any, last_ts: int, s: GpuSample
    ) -> tuple[dict[int, float] | None, int | None]:
        try:
            samples = nv.nvmlDeviceGetProcessUtilization(h, last_ts)
        except nv.NVMLError as err:
            code = _code(err)
            if code == GPU_IS_LOST:
                raise GpuLost(_describe(err)) from err
            if code in (NOT_FOUND, 0):  # no sample since last_ts: nobody was busy
                return {}, None
            s.notes.append(f"per-process utilisation unavailable ({_describe(err)}): split evenly")
            return None, None
        by_pid: dict[int, list[float]] = defaultdict(list)
        newest = last_ts
        for smp in samples:
            by_pid[int(smp.pid)].append(float(smp.smUtil))
            newest = max(newest, int(smp.timeStamp))
        return {pid: sum(v) / len(v) for pid, v in by_pid.items()}, newest
