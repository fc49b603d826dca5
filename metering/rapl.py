"""CPU package energy from the Linux powercap RAPL counters (marked `measured`).

Zones: `<root>/intel-rapl:<N>` (one per CPU package; AMD Zen exposes the same interface). Sub-zones
(`intel-rapl:N:M`: core, uncore, dram) are inside the package figure or separate, so they are not
added. `energy_uj` wraps at `max_energy_range_uj`; the window polls every `poll_s` (default 5 s, far
below the ~40 min a 100 W package needs to wrap) so a wrap is never missed. RAPL measures the WHOLE
package: idle and busy both counted, other processes included. `energy_uj` is often readable by
root only (CVE-2020-8694): then `rapl_readable()` is False and `default_backends()` uses the model.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from metering.measurement import DeviceEnergy
from metering.meter import BackendWindow, MeterError
from metering.sampler import Sampler, check_interval

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
DEFAULT_RAPL_POLL_S = 5.0
_ZONE = re.compile(r"^intel-rapl:(\d+)$")


@dataclass(frozen=True)
class RaplZone:
    index: int
    name: str
    path: Path
    max_energy_range_uj: int

    def energy_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def find_zones(root: Path = DEFAULT_POWERCAP_ROOT) -> list[RaplZone]:
    """Readable package zones under `root` (empty when absent or not readable)."""
    zones = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for d in entries:
        m = _ZONE.match(d.name)
        if not m:
            continue
        try:
            name = (d / "name").read_text().strip() if (d / "name").exists() else d.name
            zone = RaplZone(int(m.group(1)), name, d, int((d / "max_energy_range_uj").read_text().strip()))
            zone.energy_uj()
        except (OSError, ValueError):
            continue
        zones.append(zone)
    return zones


def rapl_readable(root: Path = DEFAULT_POWERCAP_ROOT) -> bool:
    return bool(find_zones(root))


class _RaplWindow:
    def __init__(self, backend: RaplBackend) -> None:
        self._b = backend
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._last_uj: dict[int, int] = {}
        self._energy_j = {z.index: 0.0 for z in backend.zones}
        self._notes: dict[int, list[str]] = {z.index: [] for z in backend.zones}
        self._failed: set[int] = set()
        self._poll(self._t0)
        self._closed: list[DeviceEnergy] | None = None
        self._sampler = Sampler(self._poll, backend.poll_s, name="rapl-poller").start()

    def _poll(self, now_s: float) -> None:
        with self._lock:
            for z in self._b.zones:
                if z.index in self._failed:
                    continue
                try:
                    value = z.energy_uj()
                except (OSError, ValueError) as err:
                    self._failed.add(z.index)
                    self._notes[z.index].append(
                        f"gap: {z.path / 'energy_uj'} unreadable at t={now_s - self._t0:.2f}s ({err}); "
                        "energy counted up to the previous read"
                    )
                    continue
                last = self._last_uj.get(z.index)
                self._last_uj[z.index] = value
                if last is None:
                    continue
                delta = value - last if value >= last else value + z.max_energy_range_uj - last
                self._energy_j[z.index] += delta / 1e6

    def read(self) -> list[DeviceEnergy]:
        if self._closed is not None:
            return self._closed
        now_s = time.perf_counter()
        self._poll(now_s)
        with self._lock:
            return [
                DeviceEnergy(
                    kind="cpu",
                    index=z.index,
                    name=z.name,
                    energy_j=self._energy_j[z.index],
                    duration_s=now_s - self._t0,
                    method="measured",
                    source=f"rapl:{z.path.name}",
                    note="; ".join(
                        ["whole-package energy: idle and busy both counted", *self._notes[z.index]]
                    ),
                    rank=self._b.rank,
                    host=self._host,
                )
                for z in self._b.zones
            ]

    def close(self) -> list[DeviceEnergy]:
        if self._closed is None:
            self._sampler.stop()
            self._closed = self.read()
        return self._closed


class RaplBackend:
    """`root` is injectable (a fake sysfs tree in tests). Raises MeterError when no zone is readable."""

    def __init__(
        self,
        root: Path = DEFAULT_POWERCAP_ROOT,
        *,
        poll_s: float = DEFAULT_RAPL_POLL_S,
        rank: int | None = None,
    ) -> None:
        self.poll_s = check_interval(poll_s, "RAPL poll interval")
        self.root = Path(root)
        self.rank = rank
        self.zones = find_zones(self.root)
        if not self.zones:
            raise MeterError(
                f"no readable RAPL package zone under {self.root} (absent, or energy_uj readable by root "
                "only); use CpuModelBackend, or make energy_uj readable"
            )

    def open_window(self) -> BackendWindow:
        return _RaplWindow(self)
