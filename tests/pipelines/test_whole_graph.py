"""The whole graph in-process on a tiny configuration, against the real Label Studio (fixture
`whole_graph` in tests/pipelines/conftest.py), then the warehouse views for EVERY asset:
asset_footprint, end-to-end lineage roll-up, D = S + L, labelling spend, quality, report files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.pipelines.conftest import ASSETS, WholeGraph

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]
DATASET_ASSETS = ("raw_corpus", "clean_corpus", "label_tasks", "annotations")
UPSTREAM_OF_FINETUNED = ("raw_corpus", "clean_corpus", "label_tasks", "annotations", "pretrained_model")
REL = 1e-9


def _expected_cpu_methods() -> set[str]:
    """How the ledger's CPU intervals get their energy here: no readable RAPL on this CPU-only machine
    means 'estimated' (the rate card's power model prices them); with RAPL, 'measured'."""
    from metering.rapl import rapl_readable

    return {"measured", "estimated"} if rapl_readable() else {"estimated"}


CPU_METHODS = _expected_cpu_methods()


@pytest.fixture(scope="module")
def graph(whole_graph: WholeGraph) -> Iterator[WholeGraph]:
    """The run, which must have succeeded for any view check to mean something."""
    details = "\n".join(f"--- {step}:\n{msg[-2000:]}" for step, msg in whole_graph.failures.items())
    assert whole_graph.success, f"run {whole_graph.run_id} failed:\n{details}"
    yield whole_graph


def _one(graph: WholeGraph, asset: str) -> dict[str, Any]:
    rows = graph.rows(
        "SELECT * FROM asset_footprint WHERE asset_key = ? AND run_id = ?", [asset, graph.run_id]
    )
    assert len(rows) == 1, f"asset_footprint has {len(rows)} rows for {asset} in run {graph.run_id}: {rows}"
    return rows[0]


def test_every_asset_materialized_and_facts_merged(graph: WholeGraph) -> None:
    assert set(ASSETS) <= set(graph.materialized), (
        f"materialized only {graph.materialized}; skipped steps {graph.skipped}; step s {graph.step_s}"
    )
    assert graph.pending_after_sync == 0, f"{graph.pending_after_sync} fact batches left pending after sync"
    quarantined = graph.rows("SELECT batch_id, reason FROM quarantined_batch")
    assert quarantined == [], f"batches quarantined by the loader: {quarantined}"


@pytest.mark.parametrize("asset", ASSETS)
def test_asset_footprint_row_per_asset(graph: WholeGraph, asset: str) -> None:
    row = _one(graph, asset)
    assert row["status"] == "success", f"{asset}: status {row['status']}"
    assert isinstance(row["duration_s"], float) and row["duration_s"] > 0, (
        f"{asset}: duration_s {row['duration_s']}"
    )
    assert row["cost_usd"] is not None, f"{asset}: cost_usd is NULL (a device without a rate?)"
    parts = sum(
        float(row[k])
        for k in ("cost_person_usd", "cost_hardware_usd", "cost_energy_usd", "cost_labeling_usd")
    )
    assert row["cost_usd"] == pytest.approx(parts, rel=REL), f"{asset}: cost_usd != sum of components"
    assert row["co2e_kg"] is not None, f"{asset}: co2e_kg is NULL"
    # what is metered (the priced energy is the warehouse pricing suite's business): the step's window,
    # closed, with CPU and RAM use on every tick it was open
    [m] = graph.rows(
        "SELECT count(DISTINCT w.window_id) FILTER (WHERE w.role = 'step') AS windows, "
        "count(DISTINCT u.window_id) FILTER (WHERE u.ended = 'closed' AND w.role = 'step') AS closed, "
        "sum(u.use) FILTER (WHERE u.device_kind = 'cpu') AS cpu_s, "
        "sum(u.use) FILTER (WHERE u.device_kind = 'ram') AS ram_gb_s, "
        "list(DISTINCT d.method) FILTER (WHERE d.device_kind = 'cpu') AS methods "
        "FROM meter_window w JOIN window_usage u USING (window_id) "
        "JOIN device_interval d USING (tick_id, device_kind, device_index) WHERE w.materialization_id = ?",
        [row["materialization_id"]],
    )
    assert m["windows"] == m["closed"] == 1, f"{asset}: {m}"
    assert m["cpu_s"] is not None and m["cpu_s"] >= 0 and m["ram_gb_s"] > 0, f"{asset}: {m}"
    # /proc counts CPU time in clock ticks (10 ms): a step of a few tens of milliseconds (raw_corpus
    # here) may accrue none in its window, one that runs a second or more always does
    if float(row["duration_s"]) >= 1.0:
        assert m["cpu_s"] > 0, f"{asset}: ran {row['duration_s']:.2f} s with no CPU time: {m}"
    assert set(m["methods"]) <= CPU_METHODS, f"{asset}: CPU energy methods {m['methods']}"


def test_only_annotations_carry_labeling_cost(graph: WholeGraph) -> None:
    rows = {
        r["asset_key"]: r
        for r in graph.rows("SELECT * FROM asset_footprint WHERE run_id = ?", [graph.run_id])
    }
    assert rows["annotations"]["cost_labeling_usd"] > 0, rows["annotations"]
    assert rows["annotations"]["human_hours"] > 0, rows["annotations"]
    others = {k: r["cost_labeling_usd"] for k, r in rows.items() if k != "annotations"}
    assert all(v == 0 for v in others.values()), f"labelling cost outside annotations: {others}"


def test_end_to_end_footprint_of_the_finetuned_model(graph: WholeGraph) -> None:
    ft = _one(graph, "finetuned_model")
    own = {
        r["asset_key"]: r
        for r in graph.rows("SELECT * FROM asset_footprint WHERE run_id = ?", [graph.run_id])
    }
    [e2e] = graph.rows("SELECT * FROM end_to_end_footprint_of(?)", [ft["materialization_id"]])
    assert e2e["asset_key"] == "finetuned_model" and e2e["status"] == "success", e2e
    assert e2e["upstream_count"] == len(UPSTREAM_OF_FINETUNED), (
        f"upstream_count {e2e['upstream_count']}, expected {UPSTREAM_OF_FINETUNED}"
    )
    assert e2e["upstream_unrecorded"] == 0 and e2e["not_successful_count"] == 0, e2e
    parts = ("finetuned_model", *UPSTREAM_OF_FINETUNED)
    for col in ("cost_usd", "energy_kwh", "co2e_kg", "cost_labeling_usd", "duration_s", "bytes_moved"):
        expected = sum(float(own[a][col]) for a in parts)
        assert float(e2e[col]) == pytest.approx(expected, rel=1e-6), f"end-to-end {col} != sum over lineage"
        assert float(e2e[col]) >= float(ft[col]) * (1 - 1e-9), f"end-to-end {col} below the model's own"
    # annotations and clean_corpus also feed baseline_model (trained on the same labels), so the model's
    # allocated total is below its inclusive one; the two final consumers' allocations (the report's,
    # which holds the model's, and the baseline's: 'compared_with' is not consumption) add up to the run.
    assert float(e2e["alloc_cost_usd"]) < float(e2e["cost_usd"]), e2e
    assert e2e["alloc_cost_labeling_usd"] > 0, e2e
    finals = [_one(graph, a)["materialization_id"] for a in ("footprint_report", "baseline_model")]
    alloc = [graph.rows("SELECT * FROM end_to_end_footprint_of(?)", [m])[0] for m in finals]
    for col in ("cost_usd", "energy_kwh"):
        total = sum(float(r[col]) for r in own.values())
        assert sum(float(r[f"alloc_{col}"]) for r in alloc) == pytest.approx(total, rel=1e-6), col
    # The report consumes the fine-tuned model: its walk covers the whole graph but the baseline, which
    # the model was compared with ('compared_with'), not built from.
    rep = _one(graph, "footprint_report")
    [e2e_rep] = graph.rows("SELECT * FROM end_to_end_footprint_of(?)", [rep["materialization_id"]])
    assert e2e_rep["upstream_count"] == len(ASSETS) - 1, e2e_rep
    assert float(e2e_rep["cost_usd"]) == pytest.approx(
        sum(float(r["cost_usd"]) for k, r in own.items() if k != "baseline_model"),
        rel=1e-6,
    )
    # The view without the macro gives the same row (the recursive walk over everything).
    [via_view] = graph.rows(
        "SELECT cost_usd, upstream_count FROM end_to_end_footprint WHERE materialization_id = ?",
        [ft["materialization_id"]],
    )
    assert via_view["upstream_count"] == e2e["upstream_count"]
    assert float(via_view["cost_usd"]) == pytest.approx(float(e2e["cost_usd"]), rel=1e-9)


def test_data_requirement_d_equals_s_plus_l(graph: WholeGraph) -> None:
    rows = graph.rows("SELECT * FROM data_requirement WHERE run_id = ?", [graph.run_id])
    by_asset = {str(r["asset_key"]): r for r in rows}
    missing = [a for a in DATASET_ASSETS if a not in by_asset]
    assert not missing, f"data_requirement has no row for {missing} (has {sorted(by_asset)})"
    for asset, r in by_asset.items():
        assert float(r["d_usd"]) == pytest.approx(
            float(r["s_usd"]) + float(r["l_usd"]), rel=REL, abs=1e-12
        ), f"{asset}: d_usd {r['d_usd']} != s_usd {r['s_usd']} + l_usd {r['l_usd']}"
        assert r["s_bytes"] > 0 and r["s_usd"] > 0, f"{asset}: S is empty: {r}"
    # L is the annotations' labelling (and nothing upstream of it has any).
    ann = _one(graph, "annotations")
    assert float(by_asset["annotations"]["l_usd"]) == pytest.approx(float(ann["cost_labeling_usd"]), rel=1e-9)
    assert by_asset["annotations"]["l_hours"] > 0
    for asset in ("raw_corpus", "clean_corpus", "label_tasks"):
        assert by_asset[asset]["l_usd"] == 0, f"{asset}: l_usd {by_asset[asset]['l_usd']} without annotations"


def test_labeling_spend(graph: WholeGraph) -> None:
    rows = graph.rows("SELECT * FROM labeling_spend")
    assert rows, "labeling_spend is empty after simulated annotators labelled tasks"
    assert len({r["annotator"] for r in rows}) >= 2, f"expected several simulated annotators: {rows}"
    for r in rows:
        assert r["annotations"] > 0, r
        assert 0 < float(r["hours_active"]) <= float(r["hours_raw"]) + 1e-12, (
            f"{r['annotator']}: hours_active {r['hours_active']} > hours_raw {r['hours_raw']}"
        )
        assert r["cost_usd"] is not None and r["cost_usd"] > 0, r
    [total] = graph.rows("SELECT sum(cost_labeling_usd) AS usd FROM asset_footprint")
    assert sum(float(r["cost_usd"]) for r in rows) == pytest.approx(float(total["usd"]), rel=1e-9)


def test_quality_metric_for_the_finetuned_model(graph: WholeGraph) -> None:
    ft = _one(graph, "finetuned_model")
    rows = graph.rows(
        "SELECT name, value, split FROM quality_metric WHERE materialization_id = ? AND label IS NULL",
        [ft["materialization_id"]],
    )
    metrics = {str(r["name"]): float(r["value"]) for r in rows}
    assert "f1_macro" in metrics, f"no macro F1 for finetuned_model: {metrics}"
    assert 0.0 <= metrics["f1_macro"] <= 1.0, metrics
    assert {str(r["split"]) for r in rows} == {"eval"}, rows


def test_the_finetuned_model_is_compared_with_the_runs_baseline(graph: WholeGraph) -> None:
    ft, base = _one(graph, "finetuned_model"), _one(graph, "baseline_model")
    [row] = graph.rows("SELECT * FROM model_vs_baseline_of(?)", [ft["materialization_id"]])
    assert row["baseline_materialization_id"] == base["materialization_id"], row
    assert 0.0 <= row["baseline_f1_macro"] <= 1.0 and 0.0 <= row["model_f1_macro"] <= 1.0, row
    assert row["f1_points_gained"] == pytest.approx(100 * (row["model_f1_macro"] - row["baseline_f1_macro"]))
    [e2e] = graph.rows("SELECT * FROM end_to_end_footprint_of(?)", [ft["materialization_id"]])
    assert row["cost_usd"] == pytest.approx(e2e["cost_usd"]) and row["upstream_unrecorded"] == 0
    if row["energy_kwh"]:
        assert row["f1_points_per_kwh"] == pytest.approx(row["f1_points_gained"] / row["energy_kwh"])
    per_class = graph.rows(
        "SELECT label FROM model_vs_baseline_per_class WHERE model_materialization_id = ?",
        [ft["materialization_id"]],
    )
    labels = {r["label"] for r in per_class}
    assert labels == {"negative", "positive"}, labels


def test_report_files_exist(graph: WholeGraph) -> None:
    latest = graph.home.reports_dir / "latest"
    assert latest.exists(), f"no {latest}"
    html = latest / "index.html"
    assert html.is_file() and html.stat().st_size > 0, f"no report page {html}"
    pngs = sorted(p.name for p in latest.glob("*.png"))
    assert pngs, f"no chart PNGs in {latest}: {sorted(p.name for p in latest.iterdir())}"
    text = html.read_text(errors="replace")
    assert "finetuned_model" in text, "the report page does not name finetuned_model"
