"""The plan made before a run (planning estimator) and the Dagster metadata / facts made after it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import dagster as dg

from metering.recorder import MaterializationRecorder
from training.result import RunResult
from warehouse.estimate import Estimate, estimate
from warehouse.facts import QualityMetric


class PlanConfig(dg.Config):  # type: ignore[misc]
    """Inputs of the plan made before the run: energy_kwh = N x W x H x PUE / 1000 (warehouse.estimate).
    H = (plan_startup_s + max_steps / plan_steps_per_s) / 3600. Default W: a CPU's 85 W TDP per rank
    (CodeCarbon's fallback), an upper bound where a rank uses one core of several.

    Prices, PUE and grid intensity are the rate card's (the one in force: `FOOTPRINT_RATE_CARD` or the
    shipped default), the same figures that price the metered footprint, unless set here: a rank's
    device-hour is the card's `device_usd_per_hour` of `plan_device` (on CPU divided among the host's
    hardware threads, one per rank), electricity its `electricity_usd_per_kwh` (0 in the cloud profile,
    whose instance prices include power)."""

    plan_device_watts: float = 85.0
    plan_steps_per_s: float = 33.0  # tiny BERT on these CPUs (../shared/ENVIRONMENT.md)
    plan_startup_s: float = 15.0  # process start + torch/transformers imports + tokenizer, measured here
    plan_device: str = "cpu"  # what one rank runs on: 'cpu' (one hardware thread) or 'gpu'
    plan_pue: float | None = None  # None: the rate card's pue
    plan_grid_gco2_per_kwh: float | None = None  # None: the rate card's grid_gco2e_per_kwh
    plan_usd_per_device_hour: float | None = None  # None: from the rate card (see above)
    plan_usd_per_kwh: float | None = None  # None: the rate card's electricity_usd_per_kwh


def _card_figures(cfg: PlanConfig) -> dict[str, float]:
    """The rate card's figures for what the config leaves unset (the card is read only when needed)."""
    import os

    from warehouse.ratecard import configured_card_path, read_rate_card

    if cfg.plan_device not in ("cpu", "gpu"):
        raise ValueError(f"plan_device must be 'cpu' or 'gpu', got {cfg.plan_device!r}")
    given = {
        "pue": cfg.plan_pue,
        "grid": cfg.plan_grid_gco2_per_kwh,
        "device_hour": cfg.plan_usd_per_device_hour,
        "kwh": cfg.plan_usd_per_kwh,
    }
    if all(v is not None for v in given.values()):
        return {k: float(v) for k, v in given.items() if v is not None}
    card = read_rate_card(configured_card_path())
    per_device = card.value("device_usd_per_hour", cfg.plan_device)
    if cfg.plan_device == "cpu":  # the card prices the whole host; a rank uses one hardware thread
        per_device /= os.cpu_count() or 1
    from_card = {
        "pue": card.value("pue"),
        "grid": card.value("grid_gco2e_per_kwh"),
        "device_hour": per_device,
        "kwh": card.value("electricity_usd_per_kwh"),
    }
    return {k: float(v if v is not None else from_card[k]) for k, v in given.items()}


def make_plan(cfg: PlanConfig, *, devices: int, max_steps: int) -> Estimate:
    figures = _card_figures(cfg)
    return estimate(
        devices=devices,
        device_watts=cfg.plan_device_watts,
        hours=(cfg.plan_startup_s + max_steps / cfg.plan_steps_per_s) / 3600.0,
        pue=figures["pue"],
        grid_gco2_per_kwh=figures["grid"],
        usd_per_device_hour=figures["device_hour"],
        usd_per_kwh=figures["kwh"],
    )


def plan_metadata(plan: Estimate) -> dict[str, Any]:
    return {
        "plan/devices": plan.devices,
        "plan/device_watts": plan.device_watts,
        "plan/hours": round(plan.hours, 6),
        "plan/energy_kwh": plan.energy_kwh,
        "plan/co2e_kg": plan.co2e_kg,
        "plan/cost_usd": plan.cost_usd,
    }


def record_outputs(rec: MaterializationRecorder, result: RunResult) -> None:
    """Storage and local transfer facts of the checkpoint; quality facts for a fine-tuned model."""
    ckpt = Path(result.checkpoint_dir)
    rec.add_storage(ckpt, kind="checkpoint")
    rec.add_transfer(
        bytes_=result.bytes_read,
        duration_s=result.read_s,
        direction="read",
        endpoint_kind="file",
        scope="local",
        endpoint="upstream artifacts",
    )
    rec.add_transfer(
        bytes_=result.bytes_written,
        duration_s=result.write_s,
        direction="write",
        endpoint_kind="file",
        scope="local",
        endpoint=str(ckpt),
    )
    for name, value, label in quality_rows(result):  # the final figures (step None)
        rec.add(QualityMetric(rec.materialization_id, name, float(value), "eval", label))


def quality_rows(result: RunResult) -> list[tuple[str, float, str | None]]:
    return [(str(n), float(v), lbl) for n, v, lbl in result.metrics.get("rows", [])]


def run_metadata(result: RunResult, reported: dict[str, Any], plan: Estimate) -> dict[str, Any]:
    """The run's figures (rank 0's, via Pipes) beside the plan. The measured footprint (energy, cost)
    is the step's `footprint/*` metadata, priced from the ledger's facts of the step's window and the
    rank windows nested in it (pipelines.accounting)."""
    meta: dict[str, Any] = dict(reported)  # rank 0's figures (training/*), via Pipes
    meta.update(plan_metadata(plan))
    meta.update(
        {
            "measured/hours": round(result.wall_s / 3600.0, 6),
            "training/checkpoint": dg.MetadataValue.path(result.checkpoint_dir),
            "training/window_ids": ", ".join(result.window_ids),
        }
    )
    if result.init_checkpoint:
        meta["training/init_checkpoint"] = result.init_checkpoint
    if result.resumed_from_checkpoint:
        meta["training/resumed_from_checkpoint"] = dg.MetadataValue.path(result.resumed_from_checkpoint)
    png = Path(result.loss_curve_png)
    if png.is_file():
        b64 = base64.b64encode(png.read_bytes()).decode()
        meta["training/loss_curve"] = dg.MetadataValue.md(f"![loss curve](data:image/png;base64,{b64})")
        meta["training/loss_curve_png"] = dg.MetadataValue.path(str(png))
    rows = quality_rows(result)
    for name, value, label in rows:
        meta[f"quality/{name}" + (f"/{label}" if label else "")] = dg.MetadataValue.float(round(value, 4))
    if rows:
        meta["quality/n_eval"] = result.n_eval
    return meta
