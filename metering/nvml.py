"""GPU energy through NVML (package nvidia-ml-py, module `pynvml`).

Per device, the best method the device supports:
- `nvml-counter`: `nvmlDeviceGetTotalEnergyConsumption` (mJ since the driver loaded; Volta and
  newer). Read at the window's start and end, and polled every `counter_poll_s` in a background
  thread so that a gap or a counter reset loses at most one poll period. A value below the previous
  one is a wrap (previous value near 2**64) or a reset (driver reload: counting restarts from 0).
- `nvml-sampled`: `nvmlDeviceGetPowerUsage` (mW) sampled every `interval_s` (<= 0.1 s by default)
  in a background thread, integrated with the trapezoid rule between the first and last sample.
- neither: the device reads `unavailable` (energy_j None), with the reason in `note`.

Both methods measure the WHOLE device: idle and busy power are both counted, including other
processes' work on the same GPU. Every reading says so in its `note`.

Which devices: every GPU visible to this process, honouring CUDA_VISIBLE_DEVICES (indices and
GPU- UUID prefixes; CUDA's rule: stop at the first invalid entry). `devices=[i, ...]` picks logical
(CUDA) indices among the visible ones. `DeviceEnergy.index` is the NVML (physical) index, so two
processes with different CUDA_VISIBLE_DEVICES name the same GPU the same way.

No NVML library, no driver, or no GPU: one `unavailable` GPU reading, never a pretend zero. An NVML
error in the middle of a window (device lost) ends that device's reading at the last good value and
records the gap in `note`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from metering.measurement import DeviceEnergy
from metering.meter import BackendWindow, MeterError
from metering.sampler import Sampler, Trapezoid, check_interval
from warehouse.facts import Method

NO_DEVICE_INDEX = -1  # a reading that stands for "no GPU here", not for GPU 0


DEFAULT_INTERVAL_S = 0.1
DEFAULT_COUNTER_POLL_S = 1.0
COUNTER_MODULUS = 2**64
IDLE_BUSY_NOTE = "whole-device energy: idle and busy both counted (other processes on the GPU included)"
_FROM_ENV = object()


def load_pynvml() -> Any:
    """The real NVML binding (imported on first use, never at import time)."""
    import pynvml

    return pynvml


def parse_visible_devices(spec: str | None, uuids: Sequence[str]) -> list[int]:
    """Physical indices named by a CUDA_VISIBLE_DEVICES value (None = all devices)."""
    if spec is None:
        return list(range(len(uuids)))
    out: list[int] = []
    for raw in spec.split(","):
        tok = raw.strip()
        if tok.lstrip("-").isdigit():
            idx = int(tok)
            if not 0 <= idx < len(uuids):
                break
        elif tok.startswith("GPU-"):
            matches = [i for i, u in enumerate(uuids) if u.startswith(tok)]
            if len(matches) != 1:
                break
            idx = matches[0]
        else:  # empty, MIG-..., garbage: CUDA stops here
            break
        if idx not in out:
            out.append(idx)
    return out


@dataclass
class _Gpu:
    logical: int
    physical: int
    handle: Any
    name: str
    uuid: str
    mode: str  # 'counter' | 'sampling' | 'unavailable'
    reason: str = ""


@dataclass
class _State:
    gpu: _Gpu
    energy_j: float = 0.0
    last_mj: int | None = None
    last_poll_s: float = 0.0
    trap: Trapezoid = field(default_factory=Trapezoid)
    failed: bool = False
    notes: list[str] = field(default_factory=list)


class NvmlGpuBackend:
    """EnergyBackend for NVIDIA GPUs. `nvml` is injectable (default: the real pynvml)."""

    def __init__(
        self,
        devices: Sequence[int] | None = None,
        *,
        nvml: Any = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        counter_poll_s: float = DEFAULT_COUNTER_POLL_S,
        visible_devices: str | object | None = _FROM_ENV,
        force_sampling: bool = False,
        rank: int | None = None,
    ) -> None:
        self.interval_s = check_interval(interval_s, "GPU power sampling interval")
        self.counter_poll_s = check_interval(counter_poll_s, "GPU energy counter poll interval")
        self.rank = rank
        self.unavailable_reason: str | None = None
        self.gpus: list[_Gpu] = []
        self._requested = list(devices) if devices is not None else None
        spec = os.environ.get("CUDA_VISIBLE_DEVICES") if visible_devices is _FROM_ENV else visible_devices
        assert spec is None or isinstance(spec, str)
        self.visible_spec = spec
        try:
            self._nvml = nvml if nvml is not None else load_pynvml()
            self._nvml.nvmlInit()
        except Exception as err:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self.unavailable_reason = f"NVML unavailable: {type(err).__name__}: {err}"
            return
        self._discover(force_sampling)

    def _discover(self, force_sampling: bool) -> None:
        nv = self._nvml
        try:
            handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
            uuids = [str(nv.nvmlDeviceGetUUID(h)) for h in handles]
        except nv.NVMLError as err:
            self.unavailable_reason = f"NVML device enumeration failed: {type(err).__name__}: {err}"
            return
        visible = parse_visible_devices(self.visible_spec, uuids)
        wanted = self._requested if self._requested is not None else list(range(len(visible)))
        for logical in wanted:
            if not isinstance(logical, int) or not 0 <= logical < len(visible):
                valid = f"valid indices are 0..{len(visible) - 1}" if visible else "no GPU is visible"
                raise MeterError(
                    f"unknown GPU index {logical!r}: {len(visible)} GPU(s) visible to this process "
                    f"(CUDA_VISIBLE_DEVICES={self.visible_spec!r}); {valid}"
                )
        for logical in wanted:
            physical = visible[logical]
            handle = handles[physical]
            self.gpus.append(self._probe(logical, physical, handle, uuids[physical], force_sampling))
        if not self.gpus:
            self.unavailable_reason = f"no GPU visible (CUDA_VISIBLE_DEVICES={self.visible_spec!r})"

    def _probe(self, logical: int, physical: int, handle: Any, uuid: str, force_sampling: bool) -> _Gpu:
        nv = self._nvml
        try:
            name = str(nv.nvmlDeviceGetName(handle))
        except nv.NVMLError:
            name = "gpu"
        gpu = _Gpu(logical, physical, handle, name, uuid, "unavailable")
        reasons = []
        if not force_sampling:
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(handle)
                gpu.mode = "counter"
                return gpu
            except nv.NVMLError as err:
                reasons.append(f"energy counter: {type(err).__name__}")
        try:
            nv.nvmlDeviceGetPowerUsage(handle)
            gpu.mode = "sampling"
        except nv.NVMLError as err:
            reasons.append(f"power usage: {type(err).__name__}")
            gpu.reason = "NVML cannot read this device's energy or power (" + "; ".join(reasons) + ")"
        return gpu

    def open_window(self) -> BackendWindow:
        return _NvmlWindow(self)


class _NvmlWindow:
    def __init__(self, backend: NvmlGpuBackend) -> None:
        self._b = backend
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._states = [_State(g) for g in backend.gpus]
        self._closed: list[DeviceEnergy] | None = None
        self._host = socket.gethostname()
        for st in self._states:
            self._poll(st, self._t0)
        modes = {st.gpu.mode for st in self._states}
        interval = backend.interval_s if "sampling" in modes else backend.counter_poll_s
        self._sampler: Sampler | None = None
        if modes & {"sampling", "counter"}:
            self._sampler = Sampler(self._tick, interval, name="nvml-sampler").start()

    def _tick(self, now_s: float) -> None:
        with self._lock:
            for st in self._states:
                if st.gpu.mode == "sampling" or now_s - st.last_poll_s >= self._b.counter_poll_s:
                    self._poll(st, now_s)

    def _poll(self, st: _State, now_s: float) -> None:
        if st.failed or st.gpu.mode == "unavailable":
            return
        nv = self._b._nvml
        try:
            if st.gpu.mode == "counter":
                self._counter(st, int(nv.nvmlDeviceGetTotalEnergyConsumption(st.gpu.handle)), now_s)
            else:
                st.trap.add(now_s, nv.nvmlDeviceGetPowerUsage(st.gpu.handle) / 1000.0)
            st.last_poll_s = now_s
        except nv.NVMLError as err:
            st.failed = True
            st.notes.append(
                f"gap: NVML error {type(err).__name__} ({err}) at t={now_s - self._t0:.2f}s; energy "
                f"counted up to the last good read at t={max(st.last_poll_s - self._t0, 0.0):.2f}s"
            )

    def _counter(self, st: _State, value_mj: int, now_s: float) -> None:
        last = st.last_mj
        st.last_mj = value_mj
        if last is None:
            return
        if value_mj >= last:
            st.energy_j += (value_mj - last) / 1000.0
        elif last > COUNTER_MODULUS // 2:
            st.energy_j += (value_mj + COUNTER_MODULUS - last) / 1000.0
            st.notes.append(f"energy counter wrapped at t={now_s - self._t0:.2f}s (handled)")
        else:
            st.energy_j += value_mj / 1000.0
            st.notes.append(
                f"energy counter reset at t={now_s - self._t0:.2f}s (driver reload?); energy between "
                f"t={st.last_poll_s - self._t0:.2f}s and the reset is not counted"
            )

    def _dev(
        self,
        index: int,
        name: str,
        energy_j: float | None,
        duration_s: float,
        method: Method,
        source: str,
        note: str,
    ) -> DeviceEnergy:
        return DeviceEnergy(
            kind="gpu",
            index=index,
            name=name,
            energy_j=energy_j,
            duration_s=duration_s,
            method=method,
            source=source,
            note=note,
            rank=self._b.rank,
            host=self._host,
        )

    def _readings(self, now_s: float) -> list[DeviceEnergy]:
        b = self._b
        duration_s = now_s - self._t0
        if b.unavailable_reason is not None:
            # No GPU could be enumerated at all: index -1 = "no device", so nothing is billed for it
            # (a requested index that cannot be reached keeps its number).
            idx = b._requested[0] if b._requested else NO_DEVICE_INDEX
            return [self._dev(idx, "gpu", None, duration_s, "unavailable", "nvml", b.unavailable_reason)]
        out = []
        for st in self._states:
            g = st.gpu
            src = (
                f"nvml-{'counter' if g.mode == 'counter' else 'sampled'}:uuid={g.uuid};cuda_index={g.logical}"
            )
            if g.mode == "sampling":
                src += f";interval_s={b.interval_s}"
            if g.mode == "unavailable":
                out.append(
                    self._dev(
                        g.physical, g.name, None, duration_s, "unavailable", f"nvml:uuid={g.uuid}", g.reason
                    )
                )
                continue
            energy_j = st.energy_j if g.mode == "counter" else st.trap.energy_j
            note = "; ".join([IDLE_BUSY_NOTE, *st.notes])
            out.append(self._dev(g.physical, g.name, energy_j, duration_s, "measured", src, note))
        return out

    def read(self) -> list[DeviceEnergy]:
        if self._closed is not None:
            return self._closed
        now_s = time.perf_counter()
        with self._lock:
            for st in self._states:
                self._poll(st, now_s)
            return self._readings(now_s)

    def close(self) -> list[DeviceEnergy]:
        if self._closed is not None:
            return self._closed
        if self._sampler is not None:
            self._sampler.stop()
        self._closed = self.read()
        return self._closed
