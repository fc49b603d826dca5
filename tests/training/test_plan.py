"""The plan a training asset makes before it runs takes its prices, PUE and grid intensity from the
rate card in force (the figures that price the metered footprint), unless its config sets them."""

from __future__ import annotations

import os

import pytest

from assets.training.report import PlanConfig, make_plan
from warehouse.ratecard import ENV_RATE_CARD, profile_card_path, read_rate_card


def test_the_default_plan_is_priced_by_the_rate_card(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_RATE_CARD, raising=False)
    card = read_rate_card(profile_card_path("cloud"))
    cfg = PlanConfig()
    plan = make_plan(cfg, devices=2, max_steps=330)
    hours = (cfg.plan_startup_s + 330 / cfg.plan_steps_per_s) / 3600
    per_rank_hour = card.value("device_usd_per_hour", "cpu") / (os.cpu_count() or 1)
    assert plan.cost_usd == pytest.approx(2 * hours * per_rank_hour) and plan.cost_usd > 0
    assert plan.pue == pytest.approx(card.value("pue"))
    energy_kwh = 2 * cfg.plan_device_watts * hours * card.value("pue") / 1000
    assert plan.energy_kwh == pytest.approx(energy_kwh)
    assert plan.co2e_kg == pytest.approx(energy_kwh * card.value("grid_gco2e_per_kwh") / 1000)


def test_the_on_prem_card_adds_electricity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RATE_CARD, str(profile_card_path("on_prem")))
    card = read_rate_card(profile_card_path("on_prem"))
    plan = make_plan(PlanConfig(plan_device="gpu"), devices=1, max_steps=33)
    hours = plan.hours
    assert plan.cost_usd == pytest.approx(
        hours * card.value("device_usd_per_hour", "gpu")
        + plan.energy_kwh * card.value("electricity_usd_per_kwh")
    )


def test_figures_set_in_the_config_win() -> None:
    cfg = PlanConfig(
        plan_pue=1.5, plan_grid_gco2_per_kwh=100.0, plan_usd_per_device_hour=2.0, plan_usd_per_kwh=0.1
    )
    plan = make_plan(cfg, devices=1, max_steps=33)
    assert plan.pue == 1.5
    assert plan.cost_usd == pytest.approx(plan.hours * 2.0 + plan.energy_kwh * 0.1)


def test_an_unknown_plan_device_is_refused() -> None:
    with pytest.raises(ValueError, match="plan_device must be 'cpu' or 'gpu', got 'tpu'"):
        make_plan(PlanConfig(plan_device="tpu"), devices=1, max_steps=10)
