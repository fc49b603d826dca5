"""Background sampling: a daemon thread that calls `tick()` every `interval_s`, and trapezoid
integration of power samples into energy.

Every sampler thread measures its own CPU time (`time.thread_time`), so the meter's overhead can be
reported (`sampler_cpu_s()` sums it over every sampler this process ran).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_cpu_lock = threading.Lock()
_cpu_s_total = 0.0


def sampler_cpu_s() -> float:
    """CPU seconds spent by all sampler threads of this process so far (finished and running)."""
    with _cpu_lock:
        return _cpu_s_total


def _add_cpu_s(delta_s: float) -> None:
    global _cpu_s_total
    with _cpu_lock:
        _cpu_s_total += delta_s


def check_interval(interval_s: float, what: str = "sampling interval") -> float:
    """Reject a non-positive or non-finite interval with a message naming it (MeterError)."""
    from metering.meter import MeterError

    if not isinstance(interval_s, int | float) or not (0 < interval_s < float("inf")):
        raise MeterError(f"{what} must be a positive number of seconds, got {interval_s!r}")
    return float(interval_s)


class Sampler:
    """Calls `tick(now_s)` (perf_counter seconds) every `interval_s` until `stop()`."""

    def __init__(self, tick: Callable[[float], None], interval_s: float, *, name: str) -> None:
        self.interval_s = check_interval(interval_s)
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.cpu_s = 0.0

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        cpu0 = time.thread_time()
        last = cpu0
        try:
            while not self._stop.wait(self.interval_s):
                self._tick(time.perf_counter())
                now = time.thread_time()
                _add_cpu_s(now - last)
                last = now
        finally:
            now = time.thread_time()
            _add_cpu_s(now - last)
            self.cpu_s = now - cpu0

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(2.0, 4 * self.interval_s))


@dataclass
class Trapezoid:
    """Running trapezoid integral of a power signal (W) over time (s) -> energy (J)."""

    energy_j: float = 0.0
    last_t_s: float | None = None
    last_power_w: float | None = None
    samples: int = 0

    def add(self, t_s: float, power_w: float) -> None:
        if self.last_t_s is not None and self.last_power_w is not None and t_s > self.last_t_s:
            self.energy_j += (t_s - self.last_t_s) * (self.last_power_w + power_w) / 2.0
        if self.last_t_s is None or t_s >= self.last_t_s:
            self.last_t_s = t_s
            self.last_power_w = power_w
        self.samples += 1
