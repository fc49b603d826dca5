"""`footprint report` shows the run's model quality beside its footprint: scores, the model against the
baseline it was compared with (F1 points gained per kWh / USD / kg CO2e of its end-to-end footprint)
and per class; an unknown figure is "at least ..." or n/a with the reason, never 0."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from warehouse.batches import write_batch
from warehouse.facts import (
    EnergyReading,
    FactBatch,
    LineageEdge,
    QualityMetric,
)
from warehouse.home import FootprintHome
from warehouse.loader import sync

T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
SCORES = {  # materialization -> (f1_macro, {class: (precision, recall, f1)})
    "m-model": (0.82, {"neg": (0.9, 0.75, 0.818), "pos": (0.78, 0.9, 0.836)}),
    "m-base": (0.71, {"neg": (0.7, 0.72, 0.71), "pos": (0.72, 0.7, 0.71)}),
}


def scores(b: FactBatch, mid: str) -> None:
    f1_macro, per_class = SCORES[mid]
    b.add(QualityMetric(mid, "f1_macro", f1_macro), QualityMetric(mid, "accuracy", f1_macro))
    for label, (p, r, f) in per_class.items():
        b.add(
            QualityMetric(mid, "precision", p, "eval", label),
            QualityMetric(mid, "recall", r, "eval", label),
            QualityMetric(mid, "f1", f, "eval", label),
        )


def write_run(home: FootprintHome, facts: Any, run: str, *, unknown_energy: bool = False) -> None:
    """raw_corpus -> finetuned_model (compared with baseline_model, which also consumed raw_corpus)."""
    b = FactBatch()
    add = facts.add_materialization
    add(b, f"{run}-raw", run, "raw_corpus", T0, seconds=60, joules=3.6e6)
    add(b, "m-base", run, "baseline_model", T0 + dt.timedelta(minutes=2), seconds=5, joules=3.6e4,
        upstream=[(f"{run}-raw", "raw_corpus")])  # fmt: skip
    add(b, "m-model", run, "finetuned_model", T0 + dt.timedelta(minutes=3), seconds=600, joules=7.2e6,
        upstream=[(f"{run}-raw", "raw_corpus")])  # fmt: skip
    b.add(LineageEdge("m-model", "m-base", "baseline_model", relation="compared_with"))
    scores(b, "m-model")
    scores(b, "m-base")
    b.add(QualityMetric("m-model", "f1_macro", 0.3, "eval", None, 50))  # during training: not final
    if unknown_energy:  # the raw corpus also used a GPU whose energy could not be read
        b.add(
            EnergyReading(
                f"{run}-raw",
                f"w-{run}-raw",
                1,
                True,
                "gpu",
                0,
                "gpu",
                "h1",
                None,
                60.0,
                "unavailable",
                "nvml",
                T0,
            )
        )
    write_batch(home, b)
    assert not sync(home, wait_s=10).quarantined


def test_report_shows_the_model_against_its_baseline(cli, facts, home: FootprintHome) -> None:  # type: ignore[no-untyped-def]
    write_run(home, facts, "run-q")
    out = json.loads(cli("report", "--format", "json").stdout)
    quality = {r["asset_key"]: r for r in out["model_quality"]}
    assert quality["finetuned_model"]["f1_macro"] == 0.82 and quality["baseline_model"]["f1_macro"] == 0.71
    [vs] = out["model_vs_baseline"]
    assert (vs["model_materialization_id"], vs["baseline_materialization_id"]) == ("m-model", "m-base")
    gained = 100 * (0.82 - 0.71)
    assert vs["f1_points_gained"] == pytest.approx(gained)
    e2e = {r["materialization_id"]: r for r in out["end_to_end_footprint"]}["m-model"]
    base = {r["materialization_id"]: r for r in out["asset_footprint"]}["m-base"]
    assert vs["energy_kwh"] == pytest.approx(e2e["energy_kwh"]) and e2e["upstream_count"] == 1
    assert e2e["energy_kwh"] < e2e["energy_kwh"] + base["energy_kwh"]  # the baseline is not in it
    for unit, figure in (("kwh", "energy_kwh"), ("usd", "cost_usd"), ("kg_co2e", "co2e_kg")):
        assert vs[f"f1_points_per_{unit}"] == pytest.approx(gained / e2e[figure])
    per_class = {r["label"]: r for r in out["model_vs_baseline_per_class"]}
    assert set(per_class) == {"neg", "pos"}
    assert per_class["neg"]["model_recall"] == 0.75 and per_class["neg"]["baseline_recall"] == 0.72

    text = cli("report").stdout
    for fragment in (
        "Model quality",
        "Model vs baseline",
        "F1 points gained over the baseline",
        "F1 points per kWh",
        "F1 points per USD",
        "F1 points per kg CO2e",
        "finetuned_model m-model",
        "baseline_model m-base",
        "Per class (eval)",
        "baseline_model",
        f"{gained:.2f}",
        f"The model beats baseline_model by {gained:.2f} macro-F1 points.",
    ):
        assert fragment in text, fragment


def test_unknown_energy_is_at_least_and_its_gain_per_kwh_n_a(cli, facts, home: FootprintHome) -> None:  # type: ignore[no-untyped-def]
    write_run(home, facts, "run-u", unknown_energy=True)
    out = json.loads(cli("report", "--format", "json").stdout)
    [vs] = out["model_vs_baseline"]
    assert vs["energy_kwh"] is None and vs["co2e_kg"] is None and vs["energy_kwh_at_least"] > 0
    assert vs["f1_points_per_kwh"] is None and vs["f1_points_per_kg_co2e"] is None
    assert vs["unknown_parts"] == 1 and "energy has unknown parts" in vs["per_unit_note"]
    assert vs["f1_points_gained"] == pytest.approx(11.0)
    text = cli("report").stdout
    assert "at least" in text and "1 part unknown" in text
    assert "n/a" in text and "energy has unknown parts" in text and "+11.00" in text


def test_a_run_without_models_prints_no_quality_tables(cli, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    proc = cli("report")
    assert proc.returncode == 0, proc.stderr
    assert "Model quality" not in proc.stdout and "F1 points gained" not in proc.stdout
    out = json.loads(cli("report", "--format", "json").stdout)
    assert out["model_quality"] == [] and out["model_vs_baseline"] == []
