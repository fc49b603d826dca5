"""The meter: named windows over a set of energy backends.

    meter = Meter.default()
    meter.begin_window("train")
    ...
    m = meter.end_window("train")        # Measurement, one DeviceEnergy per device

or `with meter.window("train") as w: ...; w.measurement`.

Backends (CPU model, RAPL, NVML GPU, RAM) implement `EnergyBackend`; a missing piece of hardware is a
backend that reports `unavailable`, never an exception in the hot path.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from metering.measurement import DeviceEnergy, Measurement


class MeterError(RuntimeError):
    """Misuse of the meter (window ended twice, never begun, bad interval, unknown device)."""


class BackendWindow(Protocol):
    def read(self) -> list[DeviceEnergy]:
        """Cumulative energy per device since the window opened (window stays open)."""
        ...

    def close(self) -> list[DeviceEnergy]:
        """Final cumulative energy per device; releases threads/handles."""
        ...


class EnergyBackend(Protocol):
    def open_window(self) -> BackendWindow: ...


@dataclass
class _OpenWindow:
    name: str
    started_at: dt.datetime
    t0: float
    backend_windows: list[BackendWindow] = field(default_factory=list)


@dataclass
class WindowResult:
    """Filled in when a `Meter.window(...)` block exits."""

    measurement: Measurement | None = None


class Meter:
    def __init__(self, backends: Sequence[EnergyBackend]) -> None:
        self._backends = list(backends)
        self._open: dict[str, _OpenWindow] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> Meter:
        """All backends this machine can offer (see `metering.backends.default_backends`)."""
        from metering.backends import default_backends

        return cls(default_backends())

    def begin_window(self, name: str) -> None:
        with self._lock:
            if name in self._open:
                raise MeterError(f"meter window {name!r} is already open; end it before beginning it again")
            win = _OpenWindow(name, dt.datetime.now(dt.UTC), time.perf_counter())
            try:
                for b in self._backends:
                    win.backend_windows.append(b.open_window())
            except BaseException:
                for bw in win.backend_windows:  # stop the samplers already started
                    bw.close()
                raise
            self._open[name] = win

    def read_window(self, name: str) -> Measurement:
        """A partial measurement of an open window (used by heartbeats)."""
        with self._lock:
            win = self._get(name)
            devices = [d for bw in win.backend_windows for d in bw.read()]
        return Measurement(name, win.started_at, time.perf_counter() - win.t0, tuple(devices))

    def end_window(self, name: str) -> Measurement:
        with self._lock:
            win = self._get(name)
            del self._open[name]
            devices = [d for bw in win.backend_windows for d in bw.close()]
        return Measurement(name, win.started_at, time.perf_counter() - win.t0, tuple(devices))

    def _get(self, name: str) -> _OpenWindow:
        try:
            return self._open[name]
        except KeyError as err:
            raise MeterError(
                f"meter window {name!r} is not open (never begun, or already ended); "
                f"open windows: {sorted(self._open) or 'none'}"
            ) from err

    @contextmanager
    def window(self, name: str) -> Iterator[WindowResult]:
        result = WindowResult()
        self.begin_window(name)
        try:
            yield result
        finally:
            result.measurement = self.end_window(name)
