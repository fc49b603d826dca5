"""Pure rendering: cells, markdown tables, charts from empty and tiny inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from assets.report import charts
from assets.report.render import Chart, Section, fmt, html_page, markdown_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_cells_keep_four_significant_digits_and_say_when_missing() -> None:
    assert fmt(0.000123456) == "0.0001235"
    assert fmt(1.127e-06) == "0.000001127" and fmt(-3.3e-9) == "-0.0000000033"  # never an exponent
    assert fmt(np.float64(26.0712)) == "26.07"
    assert fmt(np.int64(599554)) == "599,554"
    assert fmt(61950.0) == "61,950"  # a BIGINT sum arrives as a float
    assert fmt(42) == "42"
    assert fmt(None) == fmt(float("nan")) == fmt(pd.NA) == "n/a"
    assert fmt(pd.Timestamp("2026-11-20 09:30:00.5", tz="UTC")) == "2026-11-20 09:30:00"
    assert fmt(True) == "true"


def test_markdown_table_escapes_pipes_and_shows_empty_tables() -> None:
    frame = pd.DataFrame({"asset_key": ["a|b"], "cost_usd": [1.5]})
    assert markdown_table(frame) == "| asset_key | cost_usd |\n|---|---|\n| a\\|b | 1.5 |"
    assert markdown_table(pd.DataFrame()) == "_no rows_"


def test_charts_are_pngs_even_without_data() -> None:
    pngs = [
        charts.cost_by_component([], {}),
        charts.cost_by_component(["a", "b"], {"cost_energy_usd": [1.0, 2.0], "cost_person_usd": [0.5, 0.0]}),
        charts.energy_by_device([], [], [], []),
        charts.energy_by_device(["cpu", "gpu"], ["estimated", "unavailable"], [0.2, 0.0], [0, 3]),
        charts.labeling_burndown([], [], []),
        charts.labeling_burndown(
            [dt.datetime(2026, 11, 20, 9, m, tzinfo=dt.UTC) for m in range(3)],
            [0.1, 0.2, 0.3],
            [2, 1, 0],
            1.0,
        ),
    ]
    assert all(p.startswith(PNG_MAGIC) for p in pngs)


def test_html_page_is_self_contained_and_escaped() -> None:
    chart = Chart("c", "A <chart>", charts.cost_by_component([], {}))
    page = html_page(
        title="T",
        facts=[("materialization", "m1")],
        notices=["locked <now>"],
        sections=[Section("S", pd.DataFrame({"x": ["<b>"]}))],
        charts=[chart],
    )
    assert "data:image/png;base64," in page
    assert "&lt;b&gt;" in page and "locked &lt;now&gt;" in page and "<b>" not in page


def test_unknown_figures_are_at_least_or_unknown_never_zero() -> None:
    import math

    from assets.report.render import markdown_table, pick

    frame = pd.DataFrame(
        {
            "asset_key": ["a", "b", "c"],
            "energy_kwh": [0.5, math.nan, math.nan],
            "energy_kwh_at_least": [0.5, 0.25, math.nan],
            "cost_usd": [1.0, math.nan, math.nan],
            "unknown_parts": [0, 2, 1],
        }
    )
    shown = pick(frame, ["asset_key", "energy_kwh", "cost_usd"])
    assert list(shown["energy_kwh"]) == [0.5, "at least 0.25 (2 parts unknown)", "unknown (1 part unknown)"]
    assert list(shown["cost_usd"]) == [1.0, "unknown (2 parts unknown)", "unknown (1 part unknown)"]
    assert "at least 0.25 (2 parts unknown)" in markdown_table(shown) and "| 0 |" not in markdown_table(shown)
