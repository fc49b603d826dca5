"""Which energy backends this machine offers.

`default_backends()` (called when a meter is built, never at import):
- CPU: RAPL package counters (`metering.rapl`, measured) when readable, else the CPU model
  (`metering.cpu_model`, estimated: process-tree CPU seconds x TDP / logical cores);
- RAM: the resident-memory model (`metering.ram`, estimated, 0.375 W/GB);
- GPU: NVML (`metering.nvml`): every visible GPU, measured; `unavailable` when there is none.

Environment (read at call time): FOOTPRINT_CPU_TDP_W (model TDP, default 85 W),
FOOTPRINT_RAM_W_PER_GB (default 0.375).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from metering.cpu_model import DEFAULT_CPU_TDP_W, CpuModelBackend
from metering.meter import EnergyBackend, MeterError
from metering.nvml import NvmlGpuBackend
from metering.ram import DEFAULT_RAM_W_PER_GB, RamModelBackend
from metering.rapl import DEFAULT_POWERCAP_ROOT, RaplBackend, rapl_readable

__all__ = ["DEFAULT_CPU_TDP_W", "CpuModelBackend", "cpu_backend", "default_backends"]


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as err:
        raise MeterError(f"{name}={raw!r} is not a number; unset it or give watts, e.g. {default}") from err


def cpu_backend(
    *, pid: int | None = None, rank: int | None = None, powercap_root: Path = DEFAULT_POWERCAP_ROOT
) -> EnergyBackend:
    """RAPL when readable (whole package), else the process-tree CPU model rooted at `pid`."""
    if rapl_readable(powercap_root):
        return RaplBackend(powercap_root, rank=rank)
    return CpuModelBackend(_env_float("FOOTPRINT_CPU_TDP_W", DEFAULT_CPU_TDP_W), pid=pid, rank=rank)


def ram_backend(*, pid: int | None = None, rank: int | None = None) -> EnergyBackend:
    return RamModelBackend(_env_float("FOOTPRINT_RAM_W_PER_GB", DEFAULT_RAM_W_PER_GB), pid=pid, rank=rank)


def default_backends(
    *, pid: int | None = None, nvml: Any = None, powercap_root: Path = DEFAULT_POWERCAP_ROOT
) -> list[EnergyBackend]:
    """CPU + RAM for the process tree rooted at `pid` (default: this process) + every visible GPU."""
    return [
        cpu_backend(pid=pid, powercap_root=powercap_root),
        ram_backend(pid=pid),
        NvmlGpuBackend(nvml=nvml),
    ]
