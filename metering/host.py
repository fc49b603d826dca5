"""Host-wide counters the ledger reads at every tick: CPU time from `/proc/stat`, memory from
`/proc/meminfo`, the boot id and the clocks. `proc_root` is injectable (a fake /proc in tests).

CPU busy = user + nice + system + irq + softirq, minus guest and guest_nice (the kernel already counts
them inside user and nice); idle, iowait and steal are not busy. Units: clock ticks (USER_HZ), the same
unit as the per-process times in `/proc/<pid>/stat`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
BYTES_PER_GB = 1e9


def clock_ticks_per_s() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True)
class CpuStat:
    busy_ticks: int
    logical_cpus: int


def parse_cpu_stat(text: str) -> CpuStat:
    """The aggregate `cpu` line of /proc/stat and the number of `cpuN` lines."""
    busy: int | None = None
    n = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]] + [0] * 10
            user, nice, system, _idle, _iowait, irq, softirq, _steal, guest, guest_nice = v[:10]
            busy = (user - guest) + (nice - guest_nice) + system + irq + softirq
        elif line.startswith("cpu") and line[3:4].isdigit():
            n += 1
    if busy is None:
        raise ValueError("/proc/stat has no aggregate 'cpu' line")
    return CpuStat(busy, max(n, 1))


def read_cpu_stat(proc_root: Path = PROC) -> CpuStat:
    return parse_cpu_stat((proc_root / "stat").read_text())


@dataclass(frozen=True)
class MemInfo:
    total_bytes: int
    available_bytes: int

    @property
    def used_bytes(self) -> int:
        return max(self.total_bytes - self.available_bytes, 0)


def parse_meminfo(text: str) -> MemInfo:
    kb: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kb[key.strip()] = int(parts[0])
    if "MemTotal" not in kb:
        raise ValueError("/proc/meminfo has no MemTotal")
    available = kb.get("MemAvailable", kb.get("MemFree", 0) + kb.get("Cached", 0))
    return MemInfo(kb["MemTotal"] * 1024, available * 1024)


def read_meminfo(proc_root: Path = PROC) -> MemInfo:
    return parse_meminfo((proc_root / "meminfo").read_text())


def boot_id(proc_root: Path = PROC) -> str:
    """Changes at every boot: counters, pids and monotonic clocks of another boot mean nothing."""
    try:
        return (proc_root / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Clock:
    """One instant, read once per tick: wall time (timestamps), monotonic seconds (durations; the same
    clock in every process of the host) and boot-time clock ticks (compared with process start times)."""

    wall_s: float
    mono_s: float
    boot_ticks: int

    @classmethod
    def now(cls) -> Clock:
        boot_s = time.clock_gettime(time.CLOCK_BOOTTIME)
        return cls(time.time(), time.monotonic(), int(boot_s * clock_ticks_per_s()))
