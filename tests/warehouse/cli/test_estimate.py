"""`footprint estimate` through the console script, and the pure formula (warehouse/estimate.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warehouse.estimate import Estimate, EstimateInputError, estimate

LBS_PER_KG = 2.20462262


def _json(cli, *args: str) -> dict:  # type: ignore[no-untyped-def]
    proc = cli("estimate", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_worked_example_of_the_cost_model(cli) -> None:  # type: ignore[no-untyped-def]
    # k_compute 0.5, 1000 h, 10 kW -> 5000 kWh
    out = _json(cli, "--devices", "1", "--device-watts", "10000", "--hours", "1000", "--pue", "0.5")
    assert out["energy_kwh"] == pytest.approx(5000.0)


def test_hand_computed_carbon_and_cost(cli) -> None:  # type: ignore[no-untyped-def]
    out = _json(
        cli,
        *("--devices", "2", "--device-watts", "300", "--hours", "10", "--pue", "1.5"),
        *("--grid-gco2-per-kwh", "400", "--usd-per-device-hour", "2", "--usd-per-kwh", "0.1"),
    )
    assert out["energy_kwh"] == pytest.approx(9.0)  # 2 x 300 W x 10 h x 1.5 / 1000
    assert out["co2e_kg"] == pytest.approx(3.6)  # 9 kWh x 400 g / 1000
    assert out["cost_usd"] == pytest.approx(40.9)  # 2 x 10 x 2 + 9 x 0.1
    for key in (
        "devices",
        "device_watts",
        "hours",
        "pue",
        "grid_gco2_per_kwh",
        "usd_per_device_hour",
        "usd_per_kwh",
        "cost_device_usd",
        "cost_energy_usd",
        "rates_source",
    ):
        assert key in out
    assert out["rates_source"] == "given on the command line"


def test_strubell_2019_bert_base(cli) -> None:  # type: ignore[no-untyped-def]
    # Strubell, Ganesh & McCallum 2019, Table 3: BERT-base, 64 V100, total power 12,041.51 W,
    # 79.2 h, PUE 1.58 -> 1,507 kWh; 1,438 lbs CO2e at 0.954 lbs/kWh.
    grid_g = 0.954 * 453.59237
    out = _json(
        cli,
        *("--devices", "64", "--device-watts", str(12041.51 / 64), "--hours", "79.2", "--pue", "1.58"),
        *("--grid-gco2-per-kwh", str(grid_g)),
    )
    assert round(out["energy_kwh"]) == 1507
    assert round(out["co2e_kg"] * LBS_PER_KG) == 1438


def test_patterson_2021_gpt3(cli) -> None:  # type: ignore[no-untyped-def]
    # Patterson et al. 2021, Table 4: GPT-3, 10,000 V100 at 330 W, 14.8 days, PUE 1.10,
    # 429 gCO2e/kWh -> 1,287 MWh, 552 tCO2e (the paper rounds the days: 0.2% off).
    out = _json(
        cli,
        *("--devices", "10000", "--device-watts", "330", "--hours", str(14.8 * 24), "--pue", "1.10"),
        *("--grid-gco2-per-kwh", "429"),
    )
    assert out["energy_kwh"] / 1000 == pytest.approx(1287, rel=0.005)
    assert out["co2e_kg"] / 1000 == pytest.approx(552, rel=0.005)


def test_defaults_come_from_the_default_rate_card(cli) -> None:  # type: ignore[no-untyped-def]
    out = _json(cli, "--devices", "1", "--device-watts", "1000", "--hours", "1")
    assert out["pue"] == 1.0
    assert out["rates_source"].startswith("rate card 'default'")
    assert out["co2e_kg"] == pytest.approx(out["energy_kwh"] * out["grid_gco2_per_kwh"] / 1000)
    help_text = " ".join(cli("estimate", "--help").stdout.replace("│", " ").split())
    assert "shipped default card: 473" in help_text


def test_table_output(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("estimate", "--devices", "1", "--device-watts", "10000", "--hours", "1000", "--pue", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "energy (kWh)" in proc.stdout and "5,000" in proc.stdout


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--devices", "0"), ("--devices", "-3"), ("--hours", "0"), ("--hours", "-1"), ("--device-watts", "0")],
)
def test_bad_inputs_are_one_line_errors(cli, one_line_error, flag: str, value: str) -> None:  # type: ignore[no-untyped-def]
    args = {"--devices": "1", "--device-watts": "100", "--hours": "1"}
    args[flag] = value
    proc = cli("estimate", *[x for kv in args.items() for x in kv])
    one_line_error(proc, flag)
    assert proc.returncode == 2


def test_pure_formula_rejects_negative_rates() -> None:
    with pytest.raises(EstimateInputError, match="usd_per_kwh"):
        estimate(devices=1, device_watts=1, hours=1, usd_per_kwh=-0.1)


@given(
    devices=st.integers(1, 10_000),
    watts=st.floats(1, 2000),
    hours=st.floats(0.01, 10_000),
    pue=st.floats(0.1, 3),
    factor=st.integers(2, 8),
)
def test_energy_scales_linearly_with_devices(
    devices: int, watts: float, hours: float, pue: float, factor: int
) -> None:
    one = estimate(devices=devices, device_watts=watts, hours=hours, pue=pue, grid_gco2_per_kwh=400)
    many = estimate(devices=devices * factor, device_watts=watts, hours=hours, pue=pue, grid_gco2_per_kwh=400)
    assert isinstance(one, Estimate)
    assert many.energy_kwh == pytest.approx(one.energy_kwh * factor)
    assert many.co2e_kg == pytest.approx(one.co2e_kg * factor)
