"""Building the footprint report of one materialization's lineage: tables, charts, files.

    report = build_report(home, materialization_id=handle.materialization_id, label=run_id)
    report.html_path   # $FOOTPRINT_HOME/reports/<UTC time>-<label>/index.html (+ PNGs beside it)

The report directory is written under a temporary name and renamed, then `reports/latest` is
repointed at it (a symlink swapped atomically), so a reader never sees half a report.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from assets.report import charts
from assets.report.data import DEFAULT_READ_WAIT_S, DEFAULT_SYNC_WAIT_S, ReportData, load_report_data
from assets.report.quality import comparison_lines, quality_sections
from assets.report.render import Chart, Section, html_page, pick
from warehouse.atomic import TMP_PREFIX, atomic_dir, fsync_path
from warehouse.home import FootprintHome, make_private_dir

LATEST = "latest"
HTML_NAME = "index.html"
ASSET_COLUMNS = (
    "asset_key",
    "status",
    "started_at",
    "duration_s",
    "energy_kwh",
    "energy_method",
    "co2e_kg",
    "bytes_moved",
    "human_hours",
    "cost_hardware_usd",
    "cost_energy_usd",
    "cost_person_usd",
    "cost_labeling_usd",
    "cost_usd",
    "unknown_parts",
    "unknown_detail",
)
COST_COMPONENTS = ("cost_hardware_usd", "cost_energy_usd", "cost_person_usd", "cost_labeling_usd")
TOTAL_COLUMNS = (
    "duration_s",
    "energy_kwh",
    "co2e_kg",
    "bytes_moved",
    "human_hours",
    *COST_COMPONENTS,
    "cost_usd",
    "alloc_energy_kwh",
    "alloc_co2e_kg",
    "alloc_cost_usd",
)
E2E_COLUMNS = (
    "asset_key",
    "status",
    "upstream_count",
    "upstream_unrecorded",
    "not_successful_count",
    "duration_s",
    "energy_kwh",
    "energy_method",
    "co2e_kg",
    "bytes_moved",
    "human_hours",
    *COST_COMPONENTS,
    "cost_usd",
    "alloc_energy_kwh",
    "alloc_co2e_kg",
    "alloc_cost_usd",
    "unknown_parts",
)
DATA_COLUMNS = (
    "asset_key",
    "status",
    "s_bytes",
    "s_usd",
    "s_kwh",
    "l_hours",
    "l_usd",
    "d_usd",
    "d_kwh",
    "d_co2e_kg",
    "unknown_parts",
)
SPEND_COLUMNS = (
    "day",
    "annotator",
    "project",
    "annotations",
    "skipped",
    "unknown_time",
    "hours_raw",
    "hours_active",
    "cost_usd",
)


@dataclass
class BuiltReport:
    data: ReportData
    directory: Path
    sections: list[Section] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)

    @property
    def html_path(self) -> Path:
        return self.directory / HTML_NAME


def end_to_end_totals(data: ReportData) -> dict[str, float]:
    """The end-to-end row of the view, else the sum over the lineage's per-asset rows. A figure with an
    unknown part is NaN (never the smaller sum); `<figure>_at_least` and `unknown_parts` beside it."""
    source = data.end_to_end if not data.end_to_end.empty else data.per_asset
    wanted = [*TOTAL_COLUMNS, *(f"{c}_at_least" for c in TOTAL_COLUMNS), "unknown_parts"]
    totals: dict[str, float] = {}
    for c in wanted:
        if c in source.columns:
            values = pd.to_numeric(source[c], errors="coerce")
            totals[c] = float(values.sum(min_count=len(values))) if len(values) else float("nan")
    return totals


def sections_of(data: ReportData) -> list[Section]:
    e2e = pick(data.end_to_end, E2E_COLUMNS)
    e2e_note = (
        "This materialization plus every upstream one it consumed, each counted once "
        "(end_to_end_footprint); alloc_* split a shared upstream evenly among its consumers."
    )
    if e2e.empty and not data.per_asset.empty:
        e2e = pd.DataFrame([end_to_end_totals(data)])
        e2e_note = "Sum of the per-asset rows above (end_to_end_footprint has no row for it yet)."
    return [
        Section("Per asset (this lineage)", pick(data.per_asset, ASSET_COLUMNS)),
        Section("End to end", e2e, e2e_note),
        *quality_sections(
            data.quality,
            data.comparison,
            data.comparison_per_class,
            data.baseline_footprint,
            data.materialization_id,
            ASSET_COLUMNS,
        ),
        Section(
            "Data requirement: D = S + L per dataset",
            pick(data.data_requirement, DATA_COLUMNS),
            "S: bytes held and moved by the dataset and what storing/transferring them costs; "
            "L: labelling hours and cost behind it (itself and its upstreams); D = S + L.",
        ),
        Section(
            "Energy by device and method",
            data.energy_by_device,
            "At the device, before PUE, as charged to this lineage by the host ledger (a window is "
            "charged its own processes' share of each device). Devices whose energy or share is unknown "
            "add nothing here and are counted (unavailable_readings).",
        ),
        Section("Labelling spend (per annotator and day)", pick(data.labeling_spend, SPEND_COLUMNS)),
    ]


def _burndown_series(points: pd.DataFrame) -> tuple[list[object], list[float], list[int]]:
    if points.empty:
        return [], [], []
    usd = pd.to_numeric(points["cumulative_usd"], errors="coerce").fillna(0.0)
    return (
        [pd.Timestamp(t).to_pydatetime() for t in points["at"]],
        [float(v) for v in usd],
        [int(v) for v in points["annotations_left"]],
    )


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return list(frame[name]) if name in frame.columns else []


def charts_of(data: ReportData, *, labeling_budget_usd: float | None = None) -> list[Chart]:
    per_asset = data.per_asset
    assets = [str(a) for a in per_asset["asset_key"]] if "asset_key" in per_asset.columns else []
    components = {
        c: [float(v) for v in pd.to_numeric(per_asset[c], errors="coerce").fillna(0.0)]
        for c in COST_COMPONENTS
        if c in per_asset.columns
    }
    energy = data.energy_by_device
    times, spent, left = _burndown_series(data.labeling_burndown)
    return [
        Chart(
            "cost_by_component",
            "Cost by component per asset (USD, stacked)",
            charts.cost_by_component(assets, components),
        ),
        Chart(
            "energy_by_device",
            "Energy by device and method (kWh)",
            charts.energy_by_device(
                [str(v) for v in _column(energy, "device_kind")],
                [str(v) for v in _column(energy, "method")],
                [float(v) if pd.notna(v) else 0.0 for v in _column(energy, "energy_kwh")],  # type: ignore[arg-type]
                [int(v) for v in _column(energy, "unavailable_readings")],  # type: ignore[call-overload]
            ),
        ),
        Chart(
            "labeling_burndown",
            "Labelling burn-down (annotations left; USD spent)",
            charts.labeling_burndown(times, spent, left, labeling_budget_usd),
        ),
    ]


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label)[:40].strip("-") or "report"


def build_report(
    home: FootprintHome,
    *,
    materialization_id: str,
    label: str,
    sync_wait_s: float = DEFAULT_SYNC_WAIT_S,
    read_wait_s: float = DEFAULT_READ_WAIT_S,
    labeling_budget_usd: float | None = None,
    now: dt.datetime | None = None,
) -> BuiltReport:
    """Read the lineage of `materialization_id`, render it, publish it under home.reports_dir."""
    data = load_report_data(home, materialization_id, sync_wait_s=sync_wait_s, read_wait_s=read_wait_s)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    name = f"{moment:%Y%m%dT%H%M%SZ}-{_safe(label)}"
    report = BuiltReport(data=data, directory=home.reports_dir / name)
    report.sections = sections_of(data)
    report.charts = charts_of(data, labeling_budget_usd=labeling_budget_usd)
    report.totals = end_to_end_totals(data)
    facts = [
        ("materialization", materialization_id),
        ("lineage", f"{len(data.lineage_ids)} materializations"),
        *(("model vs baseline", line) for line in comparison_lines(data.comparison)),
        ("generated", f"{moment:%Y-%m-%d %H:%M:%S} UTC"),
        ("warehouse", str(home.warehouse_path)),
    ]
    page = html_page(
        title="Footprint report",
        facts=facts,
        notices=data.notices,
        sections=report.sections,
        charts=report.charts,
    )
    _publish(home, report.directory, page, report.charts)
    return report


def _publish(home: FootprintHome, final: Path, page: str, charts_: list[Chart]) -> None:
    reports = make_private_dir(home.reports_dir)
    with atomic_dir(final) as tmp:
        for chart in charts_:
            (tmp / chart.filename).write_bytes(chart.png)
        (tmp / HTML_NAME).write_text(page, encoding="utf-8")
        if final.exists():  # rebuilt within the same second under the same label: replaced
            shutil.rmtree(final)
    # `latest` is a symlink, not a file or directory atomic_dir could write: swapped here
    link_tmp = reports / f"{TMP_PREFIX}{LATEST}-{final.name}"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(final.name, target_is_directory=True)
    os.replace(link_tmp, reports / LATEST)
    fsync_path(reports)
