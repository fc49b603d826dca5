"""CPU package energy counters from Linux powercap RAPL (`/sys/class/powercap`, injectable root).

Zones: `<root>/intel-rapl:<N>` (one per CPU package; AMD Zen exposes the same interface). Sub-zones
(`intel-rapl:N:M`: core, uncore, dram) are inside the package figure or separate, so they are not
added. `energy_uj` wraps at `max_energy_range_uj` (`counter_delta`); the ledger ticks at least every
heartbeat (10 s by default), far below the ~40 min a 100 W package needs to wrap. RAPL measures the
WHOLE package: idle and busy, every process. `energy_uj` is often readable by root only
(CVE-2020-8694): an unreadable zone is simply not a counter, and the CPU energy is then estimated.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
ENV_POWERCAP_ROOT = "FOOTPRINT_POWERCAP_ROOT"  # tests and odd hosts: another powercap tree
_ZONE = re.compile(r"^intel-rapl:(\d+)$")


def powercap_root() -> Path:
    """`$FOOTPRINT_POWERCAP_ROOT` (read now), else /sys/class/powercap."""
    return Path(os.environ.get(ENV_POWERCAP_ROOT) or DEFAULT_POWERCAP_ROOT)


@dataclass(frozen=True)
class RaplZone:
    index: int
    key: str  # directory name, e.g. 'intel-rapl:0'
    name: str  # its `name` file, e.g. 'package-0'
    path: Path
    max_energy_range_uj: int

    def energy_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def find_zones(root: Path = DEFAULT_POWERCAP_ROOT) -> list[RaplZone]:
    """Package zones under `root` whose range is readable (their counter is read at each tick)."""
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
            max_uj = int((d / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            continue
        zones.append(RaplZone(int(m.group(1)), d.name, name, d, max_uj))
    return zones


def rapl_readable(root: Path = DEFAULT_POWERCAP_ROOT) -> bool:
    """At least one package zone whose `energy_uj` can be read now."""
    for z in find_zones(root):
        try:
            z.energy_uj()
        except (OSError, ValueError):
            continue
        return True
    return False


def counter_delta(last: int, now: int, modulus: int) -> int:
    """Increase of a counter that wraps at `modulus` (read at most once per wrap period)."""
    return now - last if now >= last else now + modulus - last


@dataclass(frozen=True)
class RaplSample:
    """Every package zone's counter at one tick: value (uJ) or the error that prevented reading it."""

    values_uj: dict[str, int] = field(default_factory=dict)
    max_uj: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def zones(self) -> list[str]:
        return sorted({*self.values_uj, *self.errors})


def read_rapl(root: Path) -> RaplSample:
    values: dict[str, int] = {}
    ranges: dict[str, int] = {}
    errors: dict[str, str] = {}
    for z in find_zones(root):
        ranges[z.key] = z.max_energy_range_uj
        try:
            values[z.key] = z.energy_uj()
        except (OSError, ValueError) as err:
            errors[z.key] = f"{z.path / 'energy_uj'} unreadable ({type(err).__name__}: {err})"
    return RaplSample(values, ranges, errors)


def interval_energy_j(last_uj: dict[str, int], now: RaplSample) -> tuple[float | None, str | None]:
    """(energy in J over the interval, note). None when any zone lacks a value at either end: then the
    whole package energy of the interval is unknown (estimated by the card), and the note says why."""
    if not now.zones:
        return None, None
    if now.errors:
        return None, "gap: " + "; ".join(now.errors.values()) + "; energy estimated for this interval"
    missing = [k for k in now.values_uj if k not in last_uj]
    if missing:
        return None, f"no previous RAPL read of {', '.join(missing)}; energy estimated for this interval"
    total_uj = sum(counter_delta(last_uj[k], v, now.max_uj[k]) for k, v in now.values_uj.items())
    wrapped = [k for k, v in now.values_uj.items() if v < last_uj[k]]
    note = f"RAPL counter wrapped ({', '.join(wrapped)}; handled)" if wrapped else None
    return total_uj / 1e6, note
