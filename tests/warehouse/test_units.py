"""Readable units (warehouse/units.py): hand-computed cells, and for any figure: no exponent, and the
shown value read back is the figure to its significant digits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warehouse.units import co2e_kg, data_bytes, duration_s, energy_kwh, for_column, hours, plain, usd

EXPONENT = re.compile(r"\d[eE][-+]?\d")
PREFIX = {"n": 1e-9, "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        (energy_kwh(1.127e-06), "1.13 mWh"),
        (energy_kwh(5.05e-05), "50.5 mWh"),
        (energy_kwh(3.06e-08), "30.6 µWh"),
        (energy_kwh(2.5), "2.50 kWh"),
        (energy_kwh(0.99996), "1.00 kWh"),  # rounds up to the next prefix, not "1000 Wh"
        (energy_kwh(1234.5), "1.23 MWh"),
        (energy_kwh(0), "0 Wh"),
        (co2e_kg(1.45e-08), "14.5 µg"),
        (co2e_kg(0.0239), "23.9 g"),
        (co2e_kg(2.39), "2.39 kg"),
        (co2e_kg(2390), "2.39 t"),
        (usd(92.98), "92.98"),
        (usd(0.0577), "0.06"),
        (usd(5.3312e-07), "0.0000005331"),
        (usd(0), "0"),
        (usd(1234.5), "1,234.50"),
        (data_bytes(0), "0 B"),
        (data_bytes(950), "950 B"),
        (data_bytes(61950), "62.0 kB"),
        (data_bytes(1875384), "1.88 MB"),
        (duration_s(0.0582), "58.2 ms"),
        (duration_s(43.09), "43.1 s"),
        (duration_s(600), "10.0 min"),
        (duration_s(11520), "3.20 h"),
        (hours(3.529), "3.53 h"),
        (plain(-106356.2), "-106,356"),
        (plain(0.000123456, 4), "0.0001235"),
        (plain(1.5, 4, trim=True), "1.5"),
    ],
)
def test_cells(shown: str, expected: str) -> None:
    assert shown == expected


def test_formatter_by_column_name() -> None:
    assert for_column("energy_kwh") is energy_kwh and for_column("alloc_energy_kwh") is energy_kwh
    assert for_column("co2e_kg") is co2e_kg and for_column("cost_hardware_usd") is usd
    assert for_column("bytes_moved") is data_bytes and for_column("duration_s") is duration_s
    assert for_column("human_hours") is hours and for_column("device_s") is duration_s
    for not_a_figure in ("f1_points_per_kwh", "unknown_parts", "asset_key", "status", "upstream_count"):
        assert for_column(not_a_figure) is None, not_a_figure


def _read_back(text: str, unit: str) -> float:
    number, prefixed = text.rsplit(" ", 1)
    return float(number.replace(",", "")) * PREFIX[prefixed.removesuffix(unit)]


@given(st.floats(min_value=1e-12, max_value=1e12))
def test_energy_reads_back_to_three_significant_digits(kwh: float) -> None:
    shown = energy_kwh(kwh)
    assert not EXPONENT.search(shown), shown
    assert _read_back(shown, "Wh") == pytest.approx(kwh * 1000, rel=5e-3)


@given(st.floats(min_value=-1e9, max_value=1e9).filter(lambda x: abs(x) > 1e-15))
def test_money_never_has_an_exponent_and_keeps_cents_or_four_digits(amount: float) -> None:
    shown = usd(amount)
    assert not EXPONENT.search(shown), shown
    back = float(shown.replace(",", ""))
    if abs(amount) >= 0.01:
        assert back == pytest.approx(amount, abs=0.005)
    else:
        assert back == pytest.approx(amount, rel=5e-4)
