"""Typed measurements. Units are in the field names; every device reading says how it was obtained."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from warehouse.facts import Method

J_PER_KWH = 3_600_000.0


@dataclass(frozen=True)
class DeviceEnergy:
    """Energy of one device over a window (cumulative from the window's start)."""

    kind: str  # 'gpu' | 'cpu' | 'ram'
    index: int
    name: str
    energy_j: float | None  # None when method == 'unavailable' (never a pretend zero)
    duration_s: float
    method: Method
    source: str
    note: str | None = None
    rank: int | None = None
    host: str = ""

    @property
    def energy_kwh(self) -> float | None:
        return None if self.energy_j is None else self.energy_j / J_PER_KWH


@dataclass(frozen=True)
class Measurement:
    """What a meter window saw: wall time and one entry per device."""

    name: str
    started_at: dt.datetime
    duration_s: float
    devices: tuple[DeviceEnergy, ...] = field(default_factory=tuple)

    @property
    def energy_j(self) -> float:
        """Sum over devices that have a figure (measured or estimated)."""
        return sum(d.energy_j for d in self.devices if d.energy_j is not None)

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / J_PER_KWH

    @property
    def method(self) -> str:
        """'measured', 'estimated', 'mixed' or 'unavailable' over the devices that have a figure."""
        methods = {d.method for d in self.devices if d.method != "unavailable"}
        if not methods:
            return "unavailable"
        return methods.pop() if len(methods) == 1 else "mixed"
