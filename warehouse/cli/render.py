"""Printing results: rich tables with units in the headers, CSV and JSON."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from warehouse import units

# column-name suffix -> unit shown in the table header
_UNITS: tuple[tuple[str, str], ...] = (
    ("_gco2_per_kwh", "gCO2e/kWh"),
    ("_usd_per_device_hour", "USD/device-hour"),
    ("_usd_per_kwh", "USD/kWh"),
    ("_usd", "USD"),
    ("_kwh", "kWh"),
    ("_kg", "kg"),
    ("_hours", "h"),
    ("_watts", "W"),
    ("_bytes", "bytes"),
    ("_s", "s"),
)
_BARE_UNITS = {"usd_per_device_hour": "USD/device-hour", "usd_per_kwh": "USD/kWh", "hours": "h"}


def stdout_console() -> Console:
    """The terminal's width; `$COLUMNS` when set; 200 when piped without it (not cut to 80 columns)."""
    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(width=200)
    return console


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def header(name: str) -> str:
    """`cost_energy_usd` -> `cost energy (USD)`; `bytes_moved` -> `bytes moved (bytes)`."""
    if name in _BARE_UNITS:
        return f"{name.replace('_', ' ')} ({_BARE_UNITS[name]})"
    for suffix, unit in _UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    if name.startswith("bytes"):
        return f"{name.replace('_', ' ')} (bytes)"
    return name.replace("_", " ")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | decimal.Decimal):
        x = float(value)
        if x == 0:
            return "0"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 1:
            return f"{x:,.2f}"
        return units.plain(x)  # 3 significant digits, never an exponent
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):  # fact_id
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def records(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{c: jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        out.add_column(header(name), overflow="fold")
    for row in rows:
        out.add_row(*(cell(v) for v in row))
    return out


# a figure column's header once its unit is in every cell ("30.6 mWh")
_FIGURE_LABELS = {"device_s": "device time", "human_hours": "human hours"}
WRAP_AT = 24  # a cell longer than this may wrap (at spaces) in a fitted table; a key cell never does
HEADER_WRAP_AT = 12  # a header longer than this may wrap (at spaces)


def figure_header(name: str) -> str:
    """The header of a column whose cells carry their unit: `energy_kwh` -> `energy`,
    `alloc_co2e_kg` -> `alloc CO2e`; other columns as `header`."""
    if units.for_column(name) in (None, units.usd):  # money: the currency in the header, not each cell
        return header(name)
    if name in _FIGURE_LABELS:
        return _FIGURE_LABELS[name]
    stem = name if name.startswith("bytes") else name.rsplit("_", 1)[0]
    return stem.replace("co2e", "CO2e").replace("_", " ")


def figure_cell(column: str, value: Any) -> str:
    """A cell in readable units (warehouse/units.py) when the column is a figure; text as it is."""
    formatter = units.for_column(column)
    if (
        formatter is not None
        and isinstance(value, int | float | decimal.Decimal)
        and not isinstance(value, bool)
    ):
        return formatter(float(value))
    return cell(value)


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def fitted_tables(
    title: str | None,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    width: int,
    keys: int = 1,
    justify: Sequence[str] | None = None,
) -> list[Table]:
    """The rows as one table, or as several stacked tables when the columns do not fit `width`: each
    repeats the first `keys` columns (an asset key, an annotator), which are never wrapped or cut;
    the other columns are packed in order, as wide as their longest word at least (headers wrap at
    spaces, a cell longer than WRAP_AT too), as wide as their text when there is room."""
    texts = [[cell(r[i]) for r in rows] for i in range(len(headers))]
    least, most = [], []
    for i, head in enumerate(headers):
        cells = texts[i]
        # a short header ("active h") stays whole; a longer one wraps at spaces
        head_least = len(head) if len(head) <= HEADER_WRAP_AT else _longest_word(head)
        if i < keys:
            least.append(max([head_least, *map(len, cells)]))
        else:
            # a figure ("14.5 µg") stays on one line; only a cell longer than WRAP_AT wraps
            least.append(
                max([head_least, *(min(len(c), WRAP_AT) for c in cells), *map(_longest_word, cells)])
            )
        most.append(max([least[i], len(head), *map(len, cells)]))
    fixed = 1 + sum(least[i] + 3 for i in range(keys))  # left edge; each column: padding 2, border 1
    groups: list[list[int]] = [[]]
    used = fixed
    for i in range(keys, len(headers)):
        if groups[-1] and used + least[i] + 3 > width:
            groups.append([])
            used = fixed
        groups[-1].append(i)
        used += least[i] + 3
    out = []
    for n, group in enumerate(groups, start=1):
        shown = [*range(keys), *group]
        widths = {i: least[i] for i in shown}
        spare = width - 1 - sum(widths[i] + 3 for i in shown)
        for i in sorted(shown, key=lambda k: most[k] - least[k]):  # room left: unwrap the cheapest first
            grow = max(0, min(spare, most[i] - widths[i]))
            widths[i] += grow
            spare -= grow
        part = f"{title} ({n}/{len(groups)})" if title and len(groups) > 1 else title
        table = Table(title=part, title_justify="left", header_style="bold")
        for i in shown:
            how: Any = justify[i] if justify else "left"
            table.add_column(headers[i], width=widths[i], no_wrap=i < keys, overflow="fold", justify=how)
        for r in range(len(rows)):
            table.add_row(*(texts[i][r] for i in shown))
        out.append(table)
    return out


def write_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO = sys.stdout) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else jsonable(v) for v in row])


def write_json(obj: Any, out: TextIO = sys.stdout) -> None:
    json.dump(jsonable(obj), out, indent=2, allow_nan=False, default=str)
    out.write("\n")
