"""Printing results: rich tables with units in the headers, CSV and JSON."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

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
    """Wide when not a terminal, so piped tables are not cut to 80 columns."""
    console = Console()
    if not console.is_terminal:
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
        return f"{x:.3g}"
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


def write_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO = sys.stdout) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else jsonable(v) for v in row])


def write_json(obj: Any, out: TextIO = sys.stdout) -> None:
    json.dump(jsonable(obj), out, indent=2, allow_nan=False, default=str)
    out.write("\n")
