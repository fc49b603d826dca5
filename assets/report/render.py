"""Rendering the report: markdown tables (Dagster metadata) and one self-contained HTML page."""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from warehouse.figures import shown
from warehouse.units import plain

MISSING = "n/a"


@dataclass(frozen=True)
class Section:
    """A titled table of the report (columns chosen and ordered for readers)."""

    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass(frozen=True)
class Chart:
    name: str  # file stem, e.g. "cost_by_component"
    title: str
    png: bytes

    @property
    def filename(self) -> str:
        return f"{self.name}.png"

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def fmt(value: Any) -> str:
    """One cell: small numbers to 4 significant digits, never an exponent (warehouse/units.plain, as the
    terminal report), >= 1000 as whole thousands-separated numbers, times to the second (UTC), missing
    as n/a. The column name carries the unit (energy_kwh), so figures stay in it."""
    if value is None or value is pd.NaT or value is pd.NA:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return MISSING
        return plain(number, 4, trim=True) if abs(number) < 1000 else f"{number:,.0f}"
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


FIGURE_SUFFIXES = ("_usd", "_kwh", "_kg", "_hours")  # a NULL there is unknown, never 0


def pick(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The listed columns that exist, in that order (views may add or lack columns). A figure that is
    NULL (a part of it unknown) is shown as "at least X (N parts unknown)" from its `_at_least`
    sibling, or "unknown (...)" (warehouse/figures.py)."""
    kept = [c for c in columns if c in frame.columns]
    out = frame[kept].astype(object)
    for c in kept:
        if not c.endswith(FIGURE_SUFFIXES):
            continue
        for i in range(len(frame)):
            value = frame[c].iloc[i]
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                at_least = frame[f"{c}_at_least"].iloc[i] if f"{c}_at_least" in frame.columns else None
                parts = frame["unknown_parts"].iloc[i] if "unknown_parts" in frame.columns else None
                out.iloc[i, kept.index(c)] = shown(None, _number(at_least), _count(parts), fmt)
    return out


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _rows(frame: pd.DataFrame) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in frame.astype(object).itertuples(index=False, name=None)]


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_"
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in _rows(frame)]
    return "\n".join([head, rule, *body])


def markdown_section(section: Section) -> str:
    parts = [f"### {section.title}", "", markdown_table(section.frame)]
    if section.note:
        parts += ["", section.note]
    return "\n".join(parts)


def html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p class='empty'>no rows</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in _rows(frame)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.notice { background: #fff4d6; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.meta { color: #555; font-size: 0.9em; } .empty { color: #777; font-style: italic; }
img { max-width: 100%; border: 1px solid #eee; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
"""


def html_page(
    *,
    title: str,
    facts: Sequence[tuple[str, str]],
    notices: Sequence[str],
    sections: Sequence[Section],
    charts: Sequence[Chart],
) -> str:
    """A page that needs nothing beside it: charts are embedded as data URIs (PNGs also saved)."""
    parts = [
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='meta'>"
        + "<br>".join(f"{html.escape(k)}: <code>{html.escape(v)}</code>" for k, v in facts)
        + "</p>",
    ]
    parts += [f"<p class='notice'>{html.escape(n)}</p>" for n in notices]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.append(html_table(section.frame))
        if section.note:
            parts.append(f"<p class='meta'>{html.escape(section.note)}</p>")
    parts.append("<h2>Charts</h2>")
    for chart in charts:
        parts.append(
            f"<figure><img alt='{html.escape(chart.title)}' src='{chart.data_uri()}'>"
            f"<figcaption class='meta'>{html.escape(chart.title)} ({html.escape(chart.filename)})"
            "</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
