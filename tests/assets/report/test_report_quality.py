"""The report's quality sections: the model and its baseline side by side, and the F1 points gained per
kWh, USD and kg CO2e of the model's end-to-end footprint, unknowns said as such (synthetic runs of
conftest.py through the real loader and views)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from assets.report.build import build_report
from tests.assets.report.conftest import BASELINE_SCORES, MODEL_SCORES, T0, write_run
from warehouse.batches import write_batch
from warehouse.facts import AnnotationWork, FactBatch
from warehouse.home import FootprintHome
from warehouse.loader import sync


def test_model_and_baseline_side_by_side_with_the_gain_per_unit(home: FootprintHome, two_runs: tuple) -> None:
    first, _ = two_runs
    report = build_report(home, materialization_id=first.finetuned_id, label="quality")
    data = report.data
    # the baseline is compared with, not consumed: not in the lineage, its footprint shown apart
    assert first.baseline_id not in data.lineage_ids
    assert list(data.baseline_footprint["materialization_id"]) == [first.baseline_id]
    [row] = data.comparison.to_dict("records")
    assert row["baseline_materialization_id"] == first.baseline_id
    # the final figures (the step-10 evaluation during training is not the model's)
    assert (row["model_f1_macro"], row["baseline_f1_macro"]) == (MODEL_SCORES[0], BASELINE_SCORES[0])
    gained = 100 * (MODEL_SCORES[0] - BASELINE_SCORES[0])
    assert row["f1_points_gained"] == pytest.approx(gained)
    # per unit of the same end-to-end footprint the report's totals show
    assert row["f1_points_per_kwh"] == pytest.approx(gained / report.totals["energy_kwh"])
    assert row["f1_points_per_usd"] == pytest.approx(gained / report.totals["cost_usd"])
    assert row["f1_points_per_kg_co2e"] == pytest.approx(gained / report.totals["co2e_kg"])

    sections = {s.title: s for s in report.sections}
    scores = sections["Model quality (held-out eval split)"].frame.set_index("role")
    assert scores.loc["model", "f1_macro"] == MODEL_SCORES[0]
    assert scores.loc["baseline", "asset_key"] == "baseline_model"
    per_class = sections["Per class (eval): model vs baseline"].frame.set_index("label")
    for label, (p, r, f) in MODEL_SCORES[1].items():
        assert tuple(per_class.loc[label, ["model_precision", "model_recall", "model_f1"]]) == (p, r, f)
        bp, br, bf = BASELINE_SCORES[1][label]
        assert tuple(per_class.loc[label, ["baseline_precision", "baseline_recall", "baseline_f1"]]) == (
            bp,
            br,
            bf,
        )
        assert per_class.loc[label, "f1_points_gained"] == pytest.approx(100 * (f - bf))

    page = report.html_path.read_text()
    for text in (
        "Model quality (held-out eval split)",
        "Per class (eval): model vs baseline",
        "F1 points gained over the baseline, per unit of the end-to-end footprint",
        "F1 points per kWh",
        "F1 points per USD",
        "F1 points per kg CO2e",
        "The baseline&#x27;s own footprint",
        f"+{gained:.2f} F1 points",
        f"The model beats baseline_model by {gained:.2f} macro-F1 points.",
        first.baseline_id,
    ):
        assert text in page, text
    # the metadata tables carry the same sections
    from assets.report.render import markdown_section

    md = "\n".join(markdown_section(s) for s in report.sections)
    assert "| baseline_model |" in md and "F1 points per kWh" in md


def test_an_unknown_cost_gives_no_gain_per_usd(home: FootprintHome) -> None:
    run = write_run(home, started_at=T0)
    at = T0 + dt.timedelta(minutes=31)
    write_batch(  # an annotation whose lead time was not valid: its time, so the labelling cost, unknown
        home,
        FactBatch().add(
            AnnotationWork(
                run.ids["annotations"], 999, 999, "ann", "demo", None, None, 300.0, False, "x", "", at, at
            )
        ),
    )
    sync(home, wait_s=5.0)
    report = build_report(home, materialization_id=run.finetuned_id, label="unknown")
    [row] = report.data.comparison.to_dict("records")
    assert row["cost_usd"] is None or pd.isna(row["cost_usd"])
    assert pd.isna(row["f1_points_per_usd"]) and not pd.isna(row["f1_points_per_kwh"])
    assert row["unknown_parts"] == 1 and row["per_unit_note"] == "cost has unknown parts"
    gain = {s.title: s for s in report.sections}[
        "F1 points gained over the baseline, per unit of the end-to-end footprint"
    ].frame.iloc[0]
    assert gain["F1 points per USD"] == "n/a" and gain["note"] == "cost has unknown parts"
    assert str(gain["cost_usd"]).startswith("at least ") and "1 part unknown" in str(gain["cost_usd"])
    assert gain["F1 points per kWh"] != "n/a"


def test_a_model_without_quality_or_baseline_has_no_quality_sections(home: FootprintHome) -> None:
    run = write_run(home, started_at=T0, baseline=False)
    sync(home, wait_s=5.0)
    report = build_report(home, materialization_id=run.finetuned_id, label="plain")
    assert report.data.comparison.empty and report.data.quality.empty
    assert not [s for s in report.sections if "quality" in s.title.lower() or "baseline" in s.title.lower()]
