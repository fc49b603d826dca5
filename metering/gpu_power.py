"""GPU energy by the NVML total-energy counter vs by sampled power over the same window (a check of
`make gpu-check`): a thread reads every GPU's power each period between `begin()` and `end()`, and the
counter at both ends; the power is integrated by trapezoid. Driven by any clock (a fake one in tests).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from metering.gpu_readiness import ENERGY_TOLERANCE, FAIL, PASS, Check
from metering.gpu_split import COUNTER_MODULUS

FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT


def integrate_power_j(samples: Sequence[tuple[float, float]]) -> float:
    """Trapezoid over (time s, power W) samples in time order."""
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in itertools.pairwise(samples))


def counter_delta_j(start_mj: int, end_mj: int) -> float:
    """Energy between two reads of the total-energy counter (mJ, wraps at 2^64)."""
    return ((end_mj - start_mj) % COUNTER_MODULUS) / 1000.0


def energy_check(index: int, counter_j: float, power_j: float, duration_s: float, samples: int) -> Check:
    name = f"GPU {index} energy counter vs power"
    if counter_j <= 0:
        return Check(name, FAIL, f"counter {counter_j:.1f} J over {duration_s:.1f} s: nothing measured")
    diff = (power_j - counter_j) / counter_j
    figure = (
        f"counter {counter_j:.1f} J, power integrated {power_j:.1f} J over {duration_s:.1f} s "
        f"({samples} samples): {diff * 100:+.2f} % (target within {ENERGY_TOLERANCE * 100:.0f} %)"
    )
    return Check(name, PASS if abs(diff) <= ENERGY_TOLERANCE else FAIL, figure)


def read_power_w(nv: Any, h: Any) -> float:
    """Instantaneous power when NVML has it (field NVML_FI_DEV_POWER_INSTANT), else the power reading
    (averaged by the driver on recent GPUs)."""
    try:
        [v] = nv.nvmlDeviceGetFieldValues(h, [FI_POWER_INSTANT])
        if int(v.nvmlReturn) == 0:
            return float(v.value.uiVal) / 1000.0
    except (AttributeError, nv.NVMLError):
        pass
    return float(nv.nvmlDeviceGetPowerUsage(h)) / 1000.0


@dataclass
class PowerTrace:
    index: int
    counter_start_mj: int = 0
    counter_end_mj: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time s, W)
    missed: int = 0  # samples a transient NVML error skipped

    def check(self) -> Check:
        duration = self.samples[-1][0] - self.samples[0][0] if self.samples else 0.0
        check = energy_check(
            self.index,
            counter_delta_j(self.counter_start_mj, self.counter_end_mj),
            integrate_power_j(self.samples),
            duration,
            len(self.samples),
        )
        return dataclasses.replace(check, detail=f"{self.missed} samples missed") if self.missed else check


class PowerSampler:
    """Reads every GPU's power each `period_s` between `begin()` and `end()`, and its energy counter
    at both ends, so that the counter and the integrated power cover the same window."""

    def __init__(
        self,
        nv: Any,
        indices: Sequence[int],
        *,
        period_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nv, self.period_s, self.clock = nv, period_s, clock
        self.handles = {i: nv.nvmlDeviceGetHandleByIndex(i) for i in indices}
        self.traces = {i: PowerTrace(i) for i in indices}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self, index: int, counter_attr: str | None) -> None:
        h = self.handles[index]
        if counter_attr:
            setattr(self.traces[index], counter_attr, int(self.nv.nvmlDeviceGetTotalEnergyConsumption(h)))
        self.traces[index].samples.append((self.clock(), read_power_w(self.nv, h)))

    def begin(self) -> None:
        for i in self.handles:
            self._read(i, "counter_start_mj")

    def sample(self) -> None:
        for i in self.handles:
            try:
                self._read(i, None)
            except self.nv.NVMLError:  # a transient error: one sample fewer (the trapezoid spans it)
                self.traces[i].missed += 1

    def end(self) -> dict[int, PowerTrace]:
        for i in self.handles:
            self._read(i, "counter_end_mj")
        return self.traces

    def start(self) -> None:
        self.begin()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def stop(self) -> dict[int, PowerTrace]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.end()
