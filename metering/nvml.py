"""Every NVIDIA GPU of the host, read once per ledger tick through NVML (package nvidia-ml-py,
module `pynvml`; injectable, e.g. `metering.nvml_fake.autospec_nvml`).

NVML sees every GPU of the host whatever CUDA_VISIBLE_DEVICES says (the ledger meters the host, not
a process). Devices are keyed by UUID; `index` is the NVML index. Per device and tick:
- energy: `nvmlDeviceGetTotalEnergyConsumption` (mJ counter, Volta and newer), else
  `nvmlDeviceGetPowerUsage` (mW, read at the ticks only: a coarse trapezoid);
- who holds it: `nvmlDeviceGetComputeRunningProcesses` (host pids); under MIG, per MIG device
  (the parent's aggregate list needs privileges) and the parent's counter is shared by them all;
- who used it: `nvmlDeviceGetProcessUtilization(handle, last_seen_us)` (SM % per pid since the
  previous tick's newest sample; NVML_ERROR_NOT_FOUND = nobody was busy).

Errors are per call and per device: `NOT_SUPPORTED` means the device lacks that reading (not an
error); `GPU_IS_LOST` ends the device (`lost`); anything else (Unknown, Timeout, ...) is a gap noted
for that interval only: the next tick reads afresh, and the counter's last good read is kept. A
refused handle makes only that device unavailable. No NVML library: no GPU at all when there is no
`/dev/nvidia<N>`, else those devices `unavailable`. The binding is checked as Zeus does (NVIDIA's
nvidia-ml-py has `_nvmlGetFunctionPointer`; the unofficial `pynvml` packages do not): an unofficial
one is used with a warning, its bytes names and UUIDs decoded.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metering.gpu_devices import CudaView, NvmlGpu, describe, text, visible_uuids

log = logging.getLogger(__name__)

# NVML return codes and values (stable ABI; pynvml maps the codes to NVMLError subclasses)
NOT_SUPPORTED = 3
NOT_FOUND = 6
GPU_IS_LOST = 15
MIG_ENABLE = 1  # NVML_DEVICE_MIG_ENABLE
_DEV_NODE = re.compile(r"^nvidia(\d+)$")


class GpuLost(Exception):
    """NVML says the device fell off the bus (GpuIsLost)."""


def load_pynvml() -> Any:
    """The real NVML binding (imported on first use, never at import time)."""
    import pynvml

    return pynvml


def binding_problem(nv: Any) -> str | None:
    """None for NVIDIA's binding (nvidia-ml-py); else what is wrong with it (Zeus's check)."""
    if hasattr(nv, "_nvmlGetFunctionPointer"):
        return None
    return (
        "the pynvml module is not NVIDIA's nvidia-ml-py (an unofficial `pynvml` package): used as is, "
        "bytes names and UUIDs decoded; replace it with `pip uninstall pynvml && pip install nvidia-ml-py`"
    )


def _code(err: BaseException) -> int | None:
    value = getattr(err, "value", None)
    return value if isinstance(value, int) else None


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
    mig_devices: int | None = None  # MIG mode on: how many MIG devices share this GPU's counter
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
                problem = binding_problem(nv)
                if problem:
                    log.warning("NVML: %s", problem)
                nv.nvmlInit()
                _SESSIONS[key] = (self._nvml_arg, nv, None)
            except Exception as err:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
                _SESSIONS[key] = (self._nvml_arg, None, f"NVML unavailable: {describe(err)}")
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
        rediscovered by index when empty or when the device count changed. When the count cannot be
        read, the known devices are still read (their counters keep running)."""
        nv, error = self._session()
        if nv is None:
            return [
                GpuSample(f"index:{i}", i, available=False, notes=[error or "NVML unavailable"])
                for i in self.device_nodes()
            ]
        try:
            count: int | None = int(nv.nvmlDeviceGetCount())
        except nv.NVMLError as err:
            if not inventory:
                return [
                    GpuSample(f"index:{i}", i, available=False, notes=[f"device count: {describe(err)}"])
                    for i in self.device_nodes()
                ]
            count = None
        handles: list[tuple[str, int, Any]] = []
        out: list[GpuSample] = []
        if inventory and (count is None or len(inventory) == count):
            for uuid, index in sorted(inventory.items(), key=lambda kv: kv[1]):
                try:
                    handles.append((uuid, index, nv.nvmlDeviceGetHandleByUUID(uuid)))
                except nv.NVMLError as err:
                    out.append(self._failed(uuid, index, "handle", err))
        else:
            uuid_at = {index: uuid for uuid, index in inventory.items()}
            for index in range(count or 0):
                try:
                    h = nv.nvmlDeviceGetHandleByIndex(index)
                    uuid = text(nv.nvmlDeviceGetUUID(h))
                except nv.NVMLError as err:
                    # a device known by UUID keeps its key (and its counter) through a transient error
                    out.append(self._failed(uuid_at.get(index) or f"index:{index}", index, "handle", err))
                    continue
                handles.append((uuid, index, h))
        for uuid, index, h in handles:
            out.append(self._read(nv, uuid, index, h, last_util_ts.get(uuid, 0)))
        return sorted(out, key=lambda s: s.index)

    @staticmethod
    def _failed(key: str, index: int, what: str, err: BaseException) -> GpuSample:
        uuid = None if key.startswith("index:") else key
        lost = _code(err) == GPU_IS_LOST
        note = f"{what}: {describe(err)}"
        if lost:
            note = f"GPU lost ({note}): no longer metered"
        return GpuSample(key, index, uuid=uuid, available=False, lost=lost, notes=[note])

    def _read(self, nv: Any, uuid: str, index: int, h: Any, last_ts: int) -> GpuSample:
        s = GpuSample(uuid, index, uuid=uuid)
        try:
            s.name = text(self._call(nv, s, "name", "nvmlDeviceGetName", h) or "gpu")
            s.energy_mj, s.has_counter = self._energy(nv, h, s)
            if not s.has_counter:
                s.power_mw = self._call(nv, s, "power", "nvmlDeviceGetPowerUsage", h)
            mig = self._mig_devices(nv, h, s)
            s.mig_devices = None if mig is None else len(mig)
            s.pids = self._processes(nv, h, mig, s)
            s.util, s.util_ts = self._utilization(nv, h, last_ts, s)
        except GpuLost as err:
            s.lost, s.available = True, False
            s.notes.append(f"GPU lost ({err}): no longer metered")
        return s

    @staticmethod
    def _call(nv: Any, s: GpuSample, what: str, fn: str, *args: Any, quiet: tuple[int, ...] = ()) -> Any:
        """One NVML call; None when it failed (noted as a gap unless NOT_SUPPORTED or `quiet`)."""
        try:
            return getattr(nv, fn)(*args)
        except AttributeError:
            s.notes.append(f"the pynvml binding lacks {fn}: no {what}")
            return None
        except nv.NVMLError as err:
            code = _code(err)
            if code == GPU_IS_LOST:
                raise GpuLost(describe(err)) from err
            if code != NOT_SUPPORTED and code not in quiet:
                s.notes.append(f"gap: {what}: {describe(err)}")
            return None

    def _energy(self, nv: Any, h: Any, s: GpuSample) -> tuple[int | None, bool]:
        try:
            return int(nv.nvmlDeviceGetTotalEnergyConsumption(h)), True
        except AttributeError:
            return None, False
        except nv.NVMLError as err:
            if _code(err) == GPU_IS_LOST:
                raise GpuLost(describe(err)) from err
            if _code(err) == NOT_SUPPORTED:
                return None, False
            s.notes.append(f"gap: energy counter: {describe(err)}")
            return None, True

    def _mig_devices(self, nv: Any, h: Any, s: GpuSample) -> list[Any] | None:
        """The MIG device handles when MIG mode is on; None when it is off (or not a MIG GPU)."""
        if not hasattr(nv, "nvmlDeviceGetMigMode"):  # a binding older than MIG: no MIG either
            return None
        mode = self._call(nv, s, "MIG mode", "nvmlDeviceGetMigMode", h)
        if not mode or int(mode[0]) != MIG_ENABLE:
            return None
        out = []
        for i in range(int(self._call(nv, s, "MIG device count", "nvmlDeviceGetMaxMigDeviceCount", h) or 0)):
            mig = self._call(
                nv, s, "MIG device", "nvmlDeviceGetMigDeviceHandleByIndex", h, i, quiet=(NOT_FOUND,)
            )
            if mig is not None:
                out.append(mig)
        return out

    def _processes(self, nv: Any, h: Any, mig: list[Any] | None, s: GpuSample) -> list[int] | None:
        """Host pids with a compute context on the device (under MIG: on any of its MIG devices, read
        per MIG device; the parent's aggregate list is the fallback)."""
        fn = "nvmlDeviceGetComputeRunningProcesses"
        if mig:
            per: list[int] = []
            for m in mig:
                got = self._call(nv, s, "MIG device process list", fn, m)
                if got is None:
                    break
                per += [int(p.pid) for p in got]
            else:
                return sorted(set(per))
        procs = self._call(nv, s, "process list", fn, h)
        return None if procs is None else sorted({int(p.pid) for p in procs})

    @staticmethod
    def _utilization(
        nv: Any, h: Any, last_ts: int, s: GpuSample
    ) -> tuple[dict[int, float] | None, int | None]:
        try:
            samples = nv.nvmlDeviceGetProcessUtilization(h, last_ts)
        except AttributeError:
            return None, None
        except nv.NVMLError as err:
            code = _code(err)
            if code == GPU_IS_LOST:
                raise GpuLost(describe(err)) from err
            if code in (NOT_FOUND, 0):  # no sample since last_ts: nobody was busy
                return {}, None
            s.notes.append(f"per-process utilisation unavailable ({describe(err)}): split evenly")
            return None, None
        by_pid: dict[int, list[float]] = defaultdict(list)
        newest = last_ts
        for smp in samples:
            by_pid[int(smp.pid)].append(float(smp.smUtil))
            newest = max(newest, int(smp.timeStamp))
        return {pid: sum(v) / len(v) for pid, v in by_pid.items()}, newest

    def window_gpus(
        self, views: Mapping[str, Iterable[CudaView | None]], samples: list[GpuSample]
    ) -> dict[str, frozenset[str] | None]:
        """Per window, the UUIDs of the sampled GPUs its processes can use (the union over its
        processes' CUDA views), or None when that is not known (a view unreadable or unresolved).
        A known set only holds UUIDs of `samples`' identified devices."""
        nv, _ = self._session()
        gpus = [NvmlGpu(g.index, g.uuid, self._bus_id(nv, g.uuid)) for g in samples]
        resolved: dict[CudaView, frozenset[str] | None] = {}
        out: dict[str, frozenset[str] | None] = {}
        for window, window_views in views.items():
            union: set[str] = set()
            known = True
            for view in window_views:
                if view is not None and view not in resolved:
                    resolved[view] = self._visible(nv, view, gpus)
                got = None if view is None else resolved[view]
                if got is None:
                    known = False
                    break
                union |= got
            out[window] = frozenset(union) if known else None
        return out

    @staticmethod
    def _visible(nv: Any, view: CudaView, gpus: list[NvmlGpu]) -> frozenset[str] | None:
        if view.hides_all:
            return frozenset()
        return None if nv is None else visible_uuids(nv, view, gpus)

    @staticmethod
    def _bus_id(nv: Any, uuid: str | None) -> str | None:
        if nv is None or uuid is None:
            return None
        try:
            return text(nv.nvmlDeviceGetPciInfo(nv.nvmlDeviceGetHandleByUUID(uuid)).busId).upper()
        except (nv.NVMLError, AttributeError):
            return None
