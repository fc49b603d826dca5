"""Figures in units a person reads at a glance: `50.5 mWh`, `14.5 mg`, `0.0005331` USD, `62.0 kB`.

One formatter per unit, shared by the terminal report (warehouse/cli/render.py) and the HTML report
(assets/report/render.py); JSON and CSV keep the raw numbers. Three significant digits with an SI
prefix for energy, CO2e, bytes and durations; money with cents, or four significant digits below a
cent. Never an exponent (`1.127e-06`). A figure that is unknown is not formatted here: see
warehouse/figures.shown ("at least X (N parts unknown)").
"""

from __future__ import annotations

import math
from collections.abc import Callable

Formatter = Callable[[float], str]

_SI_PREFIXES = ((-9, "n"), (-6, "µ"), (-3, "m"), (0, ""), (3, "k"), (6, "M"), (9, "G"), (12, "T"))


def plain(x: float, digits: int = 3, *, trim: bool = False) -> str:
    """`x` to `digits` significant digits, positional (never an exponent), thousands separated;
    numbers of `digits` or more integer digits are shown whole. `trim` drops trailing zeros as `%g`
    does (`1.5`, not `1.500`)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude >= digits - 1:
        return f"{round(x):,}"
    rounded = round(x, digits - 1 - magnitude)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > magnitude:  # 9.996 -> 10.0
        magnitude += 1
    decimals = max(0, digits - 1 - magnitude)
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if trim and "." in text else text


def si(x: float, unit: str, *, base_exponent: int = 0) -> str:
    """`x` (in 10**base_exponent `unit`) with the SI prefix that leaves 1 <= mantissa < 1000."""
    if x == 0 or not math.isfinite(x):
        return f"{plain(x)} {unit}"
    rounded = float(f"{x:.3g}")  # the prefix of the shown value: 999.96 mWh is 1.00 Wh, not 1000 mWh
    exponent = base_exponent + math.floor(math.log10(abs(rounded)))
    prefix_exp, prefix = _SI_PREFIXES[0]
    for e, p in _SI_PREFIXES:
        if e <= exponent:
            prefix_exp, prefix = e, p
    return f"{plain(rounded * 10.0 ** (base_exponent - prefix_exp))} {prefix}{unit}"


def energy_kwh(kwh: float) -> str:
    """Energy given in kWh: `30.6 mWh`, `1.36 Wh`, `2.50 kWh`, `1.20 MWh`."""
    return si(kwh, "Wh", base_exponent=3)


def co2e_kg(kg: float) -> str:
    """CO2-equivalent mass given in kg: `14.5 mg`, `2.39 g`, `1.20 kg`; from 1000 kg in tonnes."""
    if abs(kg) >= 1000:
        return f"{plain(kg / 1000)} t"
    return si(kg, "g", base_exponent=3)


def usd(amount: float) -> str:
    """Money in USD (the currency goes in the header or label): `92.98` (cents), `0.0005331` (4
    significant digits below a cent), `0`."""
    if amount == 0:
        return "0"
    if abs(amount) >= 0.01:
        return f"{amount:,.2f}"
    return plain(amount, 4)


def data_bytes(n: float) -> str:
    """Bytes, decimal prefixes: `950 B`, `62.0 kB`, `1.88 MB`, `3.20 GB`."""
    if abs(n) < 1000:
        return f"{n:,.0f} B"
    return si(n, "B")


def duration_s(seconds: float) -> str:
    """A duration given in seconds: `58.2 ms`, `43.1 s`, `12.5 min`, `3.20 h`."""
    if abs(seconds) >= 3600:
        return f"{plain(seconds / 3600)} h"
    if abs(seconds) >= 60:
        return f"{plain(seconds / 60)} min"
    if seconds == 0 or abs(seconds) >= 1:
        return f"{plain(seconds)} s"
    return si(seconds, "s")


def hours(h: float) -> str:
    """Person or annotation hours: `3.53 h`, `0.250 h`."""
    return f"{plain(h)} h"


# column-name suffix -> formatter (the views name every figure with its unit)
_BY_SUFFIX: tuple[tuple[str, Formatter], ...] = (
    ("_kwh", energy_kwh),
    ("_kg", co2e_kg),
    ("_usd", usd),
    ("_bytes", data_bytes),
    ("_hours", hours),
    ("_s", duration_s),
)


def for_column(name: str) -> Formatter | None:
    """The formatter of a figure column (`energy_kwh`, `alloc_cost_usd`, `bytes_moved`, `device_s`),
    None for a column that is not a figure with a unit (ratios, counts, names)."""
    if name.startswith("bytes") or name.endswith("_bytes"):
        return data_bytes
    if "_per_" in name:  # a rate (f1_points_per_kwh): a plain number
        return None
    for suffix, formatter in _BY_SUFFIX:
        if name.endswith(suffix) and len(name) > len(suffix):
            return formatter
    return None
