"""The footprint report built from synthetic warehouses through the real loader and views."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assets.report.build import LATEST, build_report
from warehouse.batches import pending_batches
from warehouse.home import FootprintHome

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHART_FILES = {"cost_by_component.png", "energy_by_device.png", "labeling_burndown.png"}


def test_report_covers_exactly_the_lineage_it_was_handed(home: FootprintHome, two_runs: tuple) -> None:
    first, second = two_runs
    report = build_report(home, materialization_id=first.finetuned_id, label=first.run_id)

    assert set(report.data.lineage_ids) == set(first.ids.values())
    assert set(report.data.per_asset["materialization_id"]) == set(first.ids.values())
    assert not set(report.data.per_asset["materialization_id"]) & set(second.ids.values())
    assert list(report.data.per_asset["asset_key"]) == [
        "raw_corpus", "clean_corpus", "label_tasks", "annotations", "pretrained_model", "finetuned_model",
    ]  # fmt: skip
    # only the first run's 6 annotations (the second run recorded 4 more)
    assert int(report.data.labeling_spend["annotations"].sum()) == first.annotations
    assert len(report.data.labeling_burndown) == first.annotations


def test_an_intermediate_materialization_reports_only_its_upstreams(
    home: FootprintHome, two_runs: tuple
) -> None:
    first, _ = two_runs
    report = build_report(home, materialization_id=first.ids["pretrained_model"], label="pretrained")
    assert set(report.data.per_asset["asset_key"]) == {"raw_corpus", "clean_corpus", "pretrained_model"}
    assert report.data.labeling_spend.empty
    assert report.data.labeling_burndown.empty


def test_energy_by_device_counts_final_readings_once_and_states_unavailable(
    home: FootprintHome, two_runs: tuple
) -> None:
    first, _ = two_runs
    report = build_report(home, materialization_id=first.finetuned_id, label="energy")
    energy = report.data.energy_by_device.set_index(["device_kind", "method"])
    # cpu: 0.01 kWh x (1 + ... + 6) from final readings only (the seq-1 partials are superseded)
    assert energy.loc[("cpu", "estimated"), "energy_kwh"] == pytest.approx(0.21)
    assert energy.loc[("ram", "estimated"), "energy_kwh"] == pytest.approx(6 * 0.001)
    # the hosts had no GPU (index -1): no GPU is charged, nothing is unknown
    assert "gpu" not in energy.index.get_level_values("device_kind")
    assert int(energy["unavailable_readings"].sum()) == 0


def test_end_to_end_and_data_requirement(home: FootprintHome, two_runs: tuple) -> None:
    first, _ = two_runs
    report = build_report(home, materialization_id=first.finetuned_id, label="e2e")
    per_asset = report.data.per_asset
    assert len(report.data.end_to_end) == 1
    # each upstream counted once: the inclusive end-to-end totals equal the per-asset sums
    assert report.totals["cost_usd"] == pytest.approx(float(per_asset["cost_usd"].sum()))
    assert report.totals["energy_kwh"] == pytest.approx(float(per_asset["energy_kwh"].sum()))
    assert report.totals["cost_usd"] > 0

    d = report.data.data_requirement.set_index("asset_key")
    assert {"raw_corpus", "annotations"} <= set(d.index)
    for _, row in d.iterrows():
        assert row["d_usd"] == pytest.approx(row["s_usd"] + row["l_usd"])
    assert d.loc["annotations", "l_hours"] == pytest.approx(first.annotations * 30.0 / 3600)
    # the burn-down ends at the lineage's labelling spend
    final_usd = float(report.data.labeling_burndown["cumulative_usd"].iloc[-1])
    assert final_usd == pytest.approx(float(per_asset["cost_labeling_usd"].sum()))
    assert final_usd == pytest.approx(float(d.loc["annotations", "l_usd"]))


def test_files_html_pngs_and_latest_pointer(home: FootprintHome, two_runs: tuple) -> None:
    first, second = two_runs
    t = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    report = build_report(home, materialization_id=first.finetuned_id, label="run/1", now=t)

    assert report.directory == home.reports_dir / "20261121T120000Z-run-1"
    assert {p.name for p in report.directory.iterdir()} == CHART_FILES | {"index.html"}
    for name in CHART_FILES:
        assert (report.directory / name).read_bytes().startswith(PNG_MAGIC)
    page = report.html_path.read_text()
    assert page.count("data:image/png;base64,") == 3  # self-contained
    for title in ("Per asset", "End to end", "D = S + L", "Energy by device", "Labelling spend"):
        assert title in page
    assert first.finetuned_id in page and second.finetuned_id not in page
    latest = home.reports_dir / LATEST
    assert latest.is_symlink() and latest.resolve() == report.directory.resolve()

    later = build_report(home, materialization_id=second.finetuned_id, label="run-2", now=t.replace(hour=13))
    assert latest.resolve() == later.directory.resolve()
    assert report.html_path.exists()  # older reports stay
    assert not [p for p in home.reports_dir.iterdir() if p.name.startswith(".tmp-")]


def test_markdown_tables_for_metadata(home: FootprintHome, two_runs: tuple) -> None:
    from assets.report.render import markdown_section

    first, _ = two_runs
    report = build_report(home, materialization_id=first.finetuned_id, label="md")
    per_asset_md = markdown_section(report.sections[0])
    lines = per_asset_md.splitlines()
    assert lines[0] == "### Per asset (this lineage)"
    assert lines[2].startswith("| asset_key | status | started_at | duration_s | energy_kwh |")
    assert len([ln for ln in lines if ln.startswith("| ")]) == 1 + 6  # header + one row per asset


HOLD_SCRIPT = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("holding", flush=True)
time.sleep(120)
"""


@contextmanager
def held_by_other_process(path: Path, *, read_only: bool) -> Iterator[None]:
    """Another process holds the warehouse file (like an analyst's DuckDB session)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(path), "ro" if read_only else "rw"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_reader_holding_the_warehouse_reports_what_is_loaded_and_says_so(
    home: FootprintHome, two_runs: tuple, run_factory: Callable[..., object]
) -> None:
    first, _ = two_runs
    run_factory(started_at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC), annotation_ids_from=5000)
    waiting = len(pending_batches(home))
    assert waiting > 0
    with held_by_other_process(home.warehouse_path, read_only=True):
        t0 = time.monotonic()
        report = build_report(home, materialization_id=first.finetuned_id, label="locked", sync_wait_s=0.5)
        assert time.monotonic() - t0 < 20
    assert report.data.has_figures  # what is already loaded is reported...
    assert report.data.pending_batches == waiting
    notice = " ".join(report.data.notices)
    assert "locked" in notice and f"{waiting} fact batches" in notice  # ...and the gap is explained
    assert "locked" in report.html_path.read_text()


def test_writer_holding_the_warehouse_is_explained_not_fatal(home: FootprintHome, two_runs: tuple) -> None:
    first, _ = two_runs
    with held_by_other_process(home.warehouse_path, read_only=False):
        report = build_report(
            home, materialization_id=first.finetuned_id, label="busy", sync_wait_s=0.2, read_wait_s=0.5
        )
    assert not report.data.has_figures
    assert any("No figures" in n and "locked" in n for n in report.data.notices)
    assert report.html_path.exists()
    assert {p.name for p in report.directory.iterdir()} == CHART_FILES | {"index.html"}
