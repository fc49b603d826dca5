"""model_quality, model_vs_baseline and model_vs_baseline_per_class (sql/quality.sql), worked by hand
against the test card (conftest.TEST_CARD): pue 1.5, grid 400 g/kWh, electricity $0.2/kWh, cpu $1/h,
annotators $20/h.

Every materialization below is metered by one 10 s host tick of a 2-thread CPU whose counter
measured `joules`, its window using the whole capacity (share 1): E = 1.5 x joules / 3.6e6 kWh,
10 device-seconds at $1/h, CO2e = E x 0.4 kg, energy bill E x $0.2."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.warehouse.ledger_facts import Device, tick, window
from warehouse.facts import (
    AnnotationWork,
    FactBatch,
    LineageEdge,
    Materialization,
    MaterializationOutcome,
    QualityMetric,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CPU = Device(method="measured")  # 2 threads, the counter's joules split by share
HW_USD = 10 / 3600  # 10 device-seconds of a $1/h host


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


def metered(b: FactBatch, mid: str, asset: str, *, kwh: float, at_s: int, run: str = "run") -> None:
    """A successful materialization whose energy (after PUE 1.5) is `kwh`, alone on the host for 10 s."""
    start = T0 + dt.timedelta(seconds=at_s)
    b.add(
        Materialization(mid, run, asset, start),
        MaterializationOutcome(mid, "success", start + dt.timedelta(seconds=10)),
    )
    window(b, f"w-{mid}", mid, at=start)
    tick(
        b,
        start=start,
        duration_s=10.0,
        devices=[CPU],
        use={f"w-{mid}": {("cpu", 0): 20.0}},
        energy_j={("cpu", 0): kwh * 3.6e6 / 1.5},
        ended={f"w-{mid}": "closed"},
    )


def labelled(b: FactBatch, mid: str, aid: int, *, active_s: float | None) -> None:
    """One annotation by the default-rate annotator ($20/h); None: its lead time is unknown."""
    b.add(AnnotationWork(mid, aid, aid, "ann", "p", active_s, active_s, 300.0, False, "x", "", T0, T0))


def f1(b: FactBatch, mid: str, value: float, *, step: int | None = None) -> None:
    b.add(QualityMetric(mid, "f1_macro", value, "eval", None, step))


def compared(b: FactBatch, model: str, baseline: str) -> None:
    b.add(LineageEdge(model, baseline, "baseline_model", relation="compared_with"))


@pytest.fixture
def chain() -> FactBatch:
    """raw R (1 kWh) -> annotations A (0.5 kWh, 30 min of labelling = $10) -> model M (2 kWh), which
    also consumed R; baseline B (0.1 kWh) trained on A, compared with by M. F1: M 0.80, B 0.75."""
    b = FactBatch()
    metered(b, "R", "raw_corpus", kwh=1.0, at_s=0)
    metered(b, "A", "annotations", kwh=0.5, at_s=20)
    labelled(b, "A", 1, active_s=1800.0)
    metered(b, "B", "baseline_model", kwh=0.1, at_s=40)
    metered(b, "M", "finetuned_model", kwh=2.0, at_s=60)
    b.add(LineageEdge("A", "R", "raw_corpus"), LineageEdge("B", "A", "annotations"))
    b.add(LineageEdge("M", "A", "annotations"), LineageEdge("M", "R", "raw_corpus"))
    compared(b, "M", "B")
    f1(b, "M", 0.80)
    f1(b, "B", 0.75)
    return b


def test_model_quality_keeps_the_final_figure(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    b.add(Materialization("M", "run", "finetuned_model", T0), MaterializationOutcome("M", "success", T0))
    b.add(Materialization("K", "run", "finetuned_model", T0))  # killed: no outcome
    # M: evaluated at steps 10 and 20 during training, then the final model (step None) scored 0.8
    f1(b, "M", 0.5, step=10)
    f1(b, "M", 0.8)
    f1(b, "M", 0.7, step=20)
    b.add(QualityMetric("M", "f1", 0.9, "eval", "pos", 20), QualityMetric("M", "f1", 0.6, "eval", "pos", 5))
    b.add(QualityMetric("M", "f1_macro", 0.4, "train", None, None))  # another split: its own row
    # K died after two evaluations: its last one (the highest step, whatever the order) is its final figure
    f1(b, "K", 0.6, step=30)
    f1(b, "K", 0.55, step=10)
    later = FactBatch()
    f1(later, "K", 0.65, step=30)  # recorded again at the same step by a later batch: that one
    con = mem_warehouse(b, later)
    got = {
        (r["materialization_id"], r["split"], r["name"], r["label"]): r
        for r in query(con, "SELECT * FROM model_quality")
    }
    assert set(got) == {
        ("M", "eval", "f1_macro", None),
        ("M", "eval", "f1", "pos"),
        ("M", "train", "f1_macro", None),
        ("K", "eval", "f1_macro", None),
    }
    m = got[("M", "eval", "f1_macro", None)]
    assert (m["value"], m["step"], m["final_model"]) == (0.8, None, True)
    assert (m["asset_key"], m["run_id"], m["status"]) == ("finetuned_model", "run", "success")
    assert (got[("M", "eval", "f1", "pos")]["value"], got[("M", "eval", "f1", "pos")]["step"]) == (0.9, 20)
    assert got[("M", "train", "f1_macro", None)]["value"] == 0.4
    k = got[("K", "eval", "f1_macro", None)]
    assert (k["value"], k["step"], k["final_model"], k["status"]) == (0.65, 30, False, "incomplete")


def test_model_vs_baseline_by_hand(mem_warehouse, query, chain) -> None:  # type: ignore[no-untyped-def]
    con = mem_warehouse(chain)
    [row] = query(con, "SELECT * FROM model_vs_baseline")
    assert (row["model_materialization_id"], row["baseline_materialization_id"]) == ("M", "B")
    assert (row["model_asset_key"], row["baseline_asset_key"], row["status"]) == (
        "finetuned_model",
        "baseline_model",
        "success",
    )
    assert row["model_f1_macro"] == 0.80 and row["baseline_f1_macro"] == 0.75
    assert row["f1_points_gained"] == approx(5.0)
    # M's end-to-end footprint is M + A + R (each once); B's 0.1 kWh is not in it
    kwh = 2.0 + 0.5 + 1.0
    usd = 3 * HW_USD + kwh * 0.2 + 0.5 * 20  # hardware + energy bill + labelling
    kg = kwh * 0.4
    assert (row["energy_kwh"], row["cost_usd"], row["co2e_kg"]) == (approx(kwh), approx(usd), approx(kg))
    assert row["f1_points_per_kwh"] == approx(5.0 / kwh)
    assert row["f1_points_per_usd"] == approx(5.0 / usd)
    assert row["f1_points_per_kg_co2e"] == approx(5.0 / kg)
    assert row["unknown_parts"] == 0 and row["upstream_count"] == 2 and row["upstream_unrecorded"] == 0
    assert row["per_unit_note"] is None
    # the same totals as the roll-up of the model, which walks no 'compared_with' edge
    [e2e] = query(con, "SELECT * FROM end_to_end_footprint_of('M')")
    assert row["cost_usd"] == approx(e2e["cost_usd"]) and e2e["upstream_count"] == 2
    # the macro for one model gives the same row
    assert query(con, "SELECT * FROM model_vs_baseline_of('M')") == [row]


def test_the_macro_walks_only_its_model(mem_warehouse, query, chain) -> None:  # type: ignore[no-untyped-def]
    """Two compared models: model_vs_baseline_of(id) returns that one's row, priced as in the view."""
    metered(chain, "M2", "finetuned_model", kwh=4.0, at_s=80, run="run2")
    chain.add(LineageEdge("M2", "R", "raw_corpus"))
    compared(chain, "M2", "B")
    f1(chain, "M2", 0.70)
    con = mem_warehouse(chain)
    view = {r["model_materialization_id"]: r for r in query(con, "SELECT * FROM model_vs_baseline")}
    assert set(view) == {"M", "M2"}
    [m2] = query(con, "SELECT * FROM model_vs_baseline_of('M2')")
    assert m2 == view["M2"]
    assert m2["energy_kwh"] == approx(5.0) and m2["f1_points_gained"] == approx(-5.0)
    assert m2["f1_points_per_kwh"] == approx(-1.0)
    assert query(con, "SELECT * FROM model_vs_baseline_of('R')") == []  # compared with nothing
    # the walk from a list of roots is the walk from each (rollup.sql's lineage_walk)
    both = query(
        con, "SELECT materialization_id, upstream_count FROM end_to_end_cached(NULL, roots := ['M', 'M2'])"
    )
    assert sorted((r["materialization_id"], r["upstream_count"]) for r in both) == [("M", 2), ("M2", 1)]
    assert query(con, "SELECT * FROM end_to_end_cached(NULL, roots := []::VARCHAR[])") == []


def test_a_loss_is_shown_as_a_negative_gain(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    metered(b, "B", "baseline_model", kwh=0.1, at_s=0)
    metered(b, "M", "finetuned_model", kwh=2.0, at_s=20)
    compared(b, "M", "B")
    f1(b, "M", 0.54)
    f1(b, "B", 0.73)
    [row] = query(mem_warehouse(b), "SELECT * FROM model_vs_baseline")
    assert row["f1_points_gained"] == approx(-19.0)
    assert row["f1_points_per_kwh"] == approx(-19.0 / 2.0)
    assert row["f1_points_per_usd"] == approx(-19.0 / (HW_USD + 2.0 * 0.2))


def test_unknown_parts_stay_null(mem_warehouse, query, chain) -> None:  # type: ignore[no-untyped-def]
    """An annotation without a valid lead time makes the labelling cost (so the cost) unknown: the
    per-USD figure is NULL, never computed from the smaller known sum; energy and carbon stay known."""
    labelled(chain, "A", 2, active_s=None)
    [row] = query(mem_warehouse(chain), "SELECT * FROM model_vs_baseline")
    kwh = 3.5
    assert row["cost_usd"] is None and row["f1_points_per_usd"] is None
    assert row["cost_usd_at_least"] == approx(3 * HW_USD + kwh * 0.2 + 0.5 * 20)
    assert row["unknown_parts"] == 1
    assert row["f1_points_per_kwh"] == approx(5.0 / kwh) and row["f1_points_per_kg_co2e"] == approx(5.0 / 1.4)
    assert row["per_unit_note"] == "cost has unknown parts"


def test_an_unmetered_upstream_makes_energy_unknown(mem_warehouse, query, chain) -> None:  # type: ignore[no-untyped-def]
    chain.add(Materialization("P", "run", "pretrained_model", T0), MaterializationOutcome("P", "success", T0))
    chain.add(LineageEdge("M", "P", "pretrained_model"))  # never metered: no window, no reading
    [row] = query(mem_warehouse(chain), "SELECT * FROM model_vs_baseline")
    assert row["energy_kwh"] is None and row["co2e_kg"] is None and row["cost_usd"] is None
    assert row["f1_points_per_kwh"] is None and row["f1_points_per_usd"] is None
    assert row["f1_points_per_kg_co2e"] is None
    assert row["energy_kwh_at_least"] == approx(3.5) and row["unknown_parts"] == 1
    assert row["f1_points_gained"] == approx(5.0)
    assert "energy has unknown parts" in row["per_unit_note"]


def test_zero_footprint_and_missing_scores_give_null_with_a_reason(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    metered(b, "B", "baseline_model", kwh=0.1, at_s=0)
    metered(b, "M", "finetuned_model", kwh=0.0, at_s=20)  # the counter did not move
    compared(b, "M", "B")
    f1(b, "M", 0.9)
    f1(b, "B", 0.8)
    metered(b, "N", "finetuned_model", kwh=1.0, at_s=40)  # compared, but its eval never ran
    compared(b, "N", "B")
    compared(b, "X", "B")  # an edge whose model's facts are not loaded (yet)
    f1(b, "X", 0.95)
    rows = {
        r["model_materialization_id"]: r for r in query(mem_warehouse(b), "SELECT * FROM model_vs_baseline")
    }
    m = rows["M"]
    assert m["energy_kwh"] == 0 and m["co2e_kg"] == 0
    assert m["f1_points_per_kwh"] is None and m["f1_points_per_kg_co2e"] is None
    assert m["f1_points_per_usd"] == approx(10.0 / HW_USD)  # the host's time was still billed
    assert m["per_unit_note"] == "energy is 0 kWh; CO2e is 0 kg"
    n = rows["N"]
    assert n["model_f1_macro"] is None and n["f1_points_gained"] is None and n["f1_points_per_kwh"] is None
    assert n["energy_kwh"] == approx(1.0) and n["per_unit_note"] == "the model has no eval f1_macro"
    x = rows["X"]
    assert (
        x["f1_points_gained"] == approx(15.0) and x["energy_kwh"] is None and x["f1_points_per_kwh"] is None
    )
    assert x["per_unit_note"] == "the model has no materialization fact to price"


def test_per_class_side_by_side(mem_warehouse, query, chain) -> None:  # type: ignore[no-untyped-def]
    for mid, scores in {
        "M": {"neg": (0.9, 0.8, 0.85), "pos": (0.7, 0.75, 0.72)},
        "B": {"neg": (0.6, 0.7, 0.65), "pos": (0.8, 0.6, 0.7), "mixed": (0.1, 0.2, 0.15)},
    }.items():
        for label, (p, r, f) in scores.items():
            chain.add(
                QualityMetric(mid, "precision", p, "eval", label),
                QualityMetric(mid, "recall", r, "eval", label),
                QualityMetric(mid, "f1", f, "eval", label),
            )
    chain.add(QualityMetric("M", "f1", 0.1, "eval", "neg", 3))  # an evaluation during training: not final
    rows = {r["label"]: r for r in query(mem_warehouse(chain), "SELECT * FROM model_vs_baseline_per_class")}
    assert set(rows) == {"neg", "pos", "mixed"}
    neg = rows["neg"]
    assert (neg["model_precision"], neg["model_recall"], neg["model_f1"]) == (0.9, 0.8, 0.85)
    assert (neg["baseline_precision"], neg["baseline_recall"], neg["baseline_f1"]) == (0.6, 0.7, 0.65)
    assert neg["f1_points_gained"] == approx(20.0)
    assert rows["pos"]["f1_points_gained"] == approx(2.0)
    mixed = rows["mixed"]  # only the baseline reported it
    assert mixed["model_f1"] is None and mixed["baseline_f1"] == 0.15 and mixed["f1_points_gained"] is None


def test_an_unrecorded_upstream_leaves_per_unit_figures_null(mem_warehouse, query, chain) -> None:  # type: ignore[no-untyped-def]
    """The roll-up sums what is recorded; a gain per unit of a footprint known to miss an upstream
    would be too high, so it is NULL with the reason."""
    chain.add(LineageEdge("M", "GONE", "pretrained_model"))  # its facts never arrived
    [row] = query(mem_warehouse(chain), "SELECT * FROM model_vs_baseline")
    assert row["upstream_unrecorded"] == 1 and row["energy_kwh"] == approx(3.5)
    assert row["f1_points_per_kwh"] is None and row["f1_points_per_usd"] is None
    assert row["f1_points_per_kg_co2e"] is None
    assert row["per_unit_note"] == "1 upstream materialization(s) not recorded"
