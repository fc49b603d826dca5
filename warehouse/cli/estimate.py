"""`footprint estimate`: the planning estimator (formula in warehouse/estimate.py)."""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.cli.errors import EXIT_BAD_INPUT, CliError

# Used only when warehouse.ratecard cannot be imported (a broken card is an error, not a fallback).
FALLBACK_GRID_GCO2_PER_KWH = 473.0  # world average 2024, lifecycle (Ember Yearly Electricity Data)
FALLBACK_USD_PER_DEVICE_HOUR = 0.0
FALLBACK_USD_PER_KWH = 0.0


@dataclass(frozen=True)
class EstimateDefaults:
    grid_gco2_per_kwh: float
    usd_per_device_hour: float
    usd_per_kwh: float
    source: str


def default_rates(device_kind: str = "gpu") -> EstimateDefaults:
    """Grid intensity and prices from the configured rate card file ($FOOTPRINT_RATE_CARD merged over
    the shipped default card, or the default card alone), else the fallback constants.

    A card file, not the warehouse: an estimate is a plan and needs no warehouse.
    """
    try:
        from warehouse.ratecard import RateCardError, configured_card_path, read_rate_card
    except ImportError as err:
        return _fallback(f"warehouse.ratecard unavailable: {err}")
    try:
        card = read_rate_card(configured_card_path())
        by_key = {(r.key, r.subject): r for r in card.rates}
        grid = by_key[("grid_gco2e_per_kwh", "")]
        device = by_key.get(("device_usd_per_hour", device_kind)) or by_key[("device_usd_per_hour", "")]
        kwh = by_key[("electricity_usd_per_kwh", "")]
    except (RateCardError, KeyError) as err:
        raise CliError(
            f"cannot take default rates from the rate card: {err}; fix the card or pass "
            "--grid-gco2-per-kwh, --usd-per-device-hour and --usd-per-kwh",
            EXIT_BAD_INPUT,
        ) from err
    return EstimateDefaults(
        grid.value,
        device.value,
        kwh.value,
        f"rate card {card.name!r} ({card.source_path}): "
        f"grid {grid.value:g} gCO2e/kWh ({_short(grid.source)}); "
        f"{device_kind} {device.value:g} USD/device-hour ({_short(device.source)}); "
        f"electricity {kwh.value:g} USD/kWh ({_short(kwh.source)})",
    )


def _short(source: str) -> str:
    return source.split(":")[0].strip()


def _fallback(why: str) -> EstimateDefaults:
    return EstimateDefaults(
        FALLBACK_GRID_GCO2_PER_KWH,
        FALLBACK_USD_PER_DEVICE_HOUR,
        FALLBACK_USD_PER_KWH,
        f"built-in fallback ({why}): grid 473 gCO2e/kWh (Ember 2024 world average, lifecycle); "
        "prices 0 (not priced)",
    )


def run_estimate(
    *,
    devices: int,
    device_watts: float,
    hours: float,
    pue: float,
    grid_gco2_per_kwh: float | None,
    usd_per_device_hour: float | None,
    usd_per_kwh: float | None,
    as_json: bool,
) -> None:
    from warehouse.cli import render
    from warehouse.estimate import EstimateInputError, estimate

    defaults = None
    if grid_gco2_per_kwh is None or usd_per_device_hour is None or usd_per_kwh is None:
        defaults = default_rates()
    grid = grid_gco2_per_kwh if grid_gco2_per_kwh is not None else _pick(defaults).grid_gco2_per_kwh
    per_device_hour = (
        usd_per_device_hour if usd_per_device_hour is not None else _pick(defaults).usd_per_device_hour
    )
    per_kwh = usd_per_kwh if usd_per_kwh is not None else _pick(defaults).usd_per_kwh
    try:
        result = estimate(
            devices=devices,
            device_watts=device_watts,
            hours=hours,
            pue=pue,
            grid_gco2_per_kwh=grid,
            usd_per_device_hour=per_device_hour,
            usd_per_kwh=per_kwh,
        )
    except EstimateInputError as err:
        raise CliError(f"{err} (option --{_flag(err)})", EXIT_BAD_INPUT) from err
    rates_source = "given on the command line" if defaults is None else defaults.source
    if as_json:
        render.write_json({**result.as_dict(), "rates_source": rates_source})
        return
    console = render.stdout_console()
    inputs = [
        ("devices", result.devices),
        ("device power (W)", result.device_watts),
        ("duration (h)", result.hours),
        ("PUE / k_compute", result.pue),
        ("grid intensity (gCO2e/kWh)", result.grid_gco2_per_kwh),
        ("device price (USD/device-hour)", result.usd_per_device_hour),
        ("electricity price (USD/kWh)", result.usd_per_kwh),
    ]
    outputs = [
        ("energy (kWh)", result.energy_kwh),
        ("carbon (kg CO2e)", result.co2e_kg),
        ("device cost (USD)", result.cost_device_usd),
        ("energy cost (USD)", result.cost_energy_usd),
        ("total cost (USD)", result.cost_usd),
    ]
    console.print(render.table("Inputs", ["input", "value"], [(k, f"{v:g}") for k, v in inputs]))
    console.print(render.table("Estimate", ["quantity", "value"], [(k, f"{v:,.6g}") for k, v in outputs]))
    console.print(f"rates: {rates_source}", highlight=False, markup=False)


def _flag(err: Exception) -> str:
    name = str(err).split(" ", 1)[0]
    return name.replace("_", "-")


def _pick(defaults: EstimateDefaults | None) -> EstimateDefaults:
    assert defaults is not None  # resolved whenever an option was left out
    return defaults
