"""The planning estimator: energy, carbon and money of a run before it happens.

    energy_kwh = devices x device_watts x hours x pue / 1000
    co2e_kg    = energy_kwh x grid_gco2_per_kwh / 1000
    cost_usd   = devices x hours x usd_per_device_hour + energy_kwh x usd_per_kwh

`pue` is the cost model's k_compute (facility energy / IT energy; 1.0 = IT energy only).

Checks against published figures (see tests/warehouse/cli/test_estimate.py):
- the cost model's worked example: k_compute 0.5, 1000 h, 10 kW -> 5000 kWh
  (devices 1, device_watts 10000, hours 1000, pue 0.5);
- Strubell, Ganesh & McCallum 2019, "Energy and Policy Considerations for Deep Learning in NLP"
  (ACL 2019), Table 3, BERT-base on 64 V100 GPUs: total power p_c + p_r + g x p_g = 12,041.51 W for
  79.2 h with PUE 1.58 -> 1,507 kWh and 1,438 lbs CO2e at 0.954 lbs/kWh (= 432.7 gCO2e/kWh).
  Inputs used: devices 64, device_watts 12041.51 / 64 = 188.14859375, hours 79.2, pue 1.58,
  grid 0.954 x 453.59237 = 432.7291 gCO2e/kWh;
- Patterson et al. 2021, "Carbon Emissions and Large Neural Network Training" (arXiv:2104.10350),
  Table 4, GPT-3: 10,000 V100 at 330 W average for 14.8 days (355.2 h), PUE 1.10, 429 gCO2e/kWh
  -> 1,287 MWh and 552 tCO2e (the formula gives 1,289 MWh and 553 t: the paper rounds the days).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


class EstimateInputError(ValueError):
    """An input the formula cannot use (zero or negative devices, hours, watts, ...)."""


@dataclass(frozen=True)
class Estimate:
    """Inputs and results of one planning estimate; every field names its unit."""

    devices: int
    device_watts: float
    hours: float
    pue: float
    grid_gco2_per_kwh: float
    usd_per_device_hour: float
    usd_per_kwh: float
    energy_kwh: float
    co2e_kg: float
    cost_device_usd: float
    cost_energy_usd: float
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require(name: str, value: float, *, positive: bool) -> None:
    if not math.isfinite(value):
        raise EstimateInputError(f"{name} must be a finite number, got {value}")
    if positive and value <= 0:
        raise EstimateInputError(f"{name} must be greater than 0, got {value}")
    if not positive and value < 0:
        raise EstimateInputError(f"{name} must be 0 or more, got {value}")


def estimate(
    *,
    devices: int,
    device_watts: float,
    hours: float,
    pue: float = 1.0,
    grid_gco2_per_kwh: float = 0.0,
    usd_per_device_hour: float = 0.0,
    usd_per_kwh: float = 0.0,
) -> Estimate:
    """Apply the planning formula. Raises EstimateInputError naming the bad input."""
    _require("devices", devices, positive=True)
    _require("device_watts", device_watts, positive=True)
    _require("hours", hours, positive=True)
    _require("pue", pue, positive=True)
    _require("grid_gco2_per_kwh", grid_gco2_per_kwh, positive=False)
    _require("usd_per_device_hour", usd_per_device_hour, positive=False)
    _require("usd_per_kwh", usd_per_kwh, positive=False)
    energy_kwh = devices * device_watts * hours * pue / 1000.0
    cost_device_usd = devices * hours * usd_per_device_hour
    cost_energy_usd = energy_kwh * usd_per_kwh
    return Estimate(
        devices=devices,
        device_watts=device_watts,
        hours=hours,
        pue=pue,
        grid_gco2_per_kwh=grid_gco2_per_kwh,
        usd_per_device_hour=usd_per_device_hour,
        usd_per_kwh=usd_per_kwh,
        energy_kwh=energy_kwh,
        co2e_kg=energy_kwh * grid_gco2_per_kwh / 1000.0,
        cost_device_usd=cost_device_usd,
        cost_energy_usd=cost_energy_usd,
        cost_usd=cost_device_usd + cost_energy_usd,
    )
