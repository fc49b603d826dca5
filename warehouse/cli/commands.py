"""Subcommands of `footprint` owned by the warehouse room: report, sql, sync, export, estimate,
ratecard. Each command is a thin shell; the work lives in a module imported when it runs, so
`footprint --help` and every other command stay fast (no dagster, torch or pyarrow at start-up).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from warehouse.cli.reader import DEFAULT_READ_WAIT_S

WaitOption = Annotated[
    float,
    typer.Option(
        "--wait",
        metavar="SECONDS",
        help="How long to wait for a warehouse locked by another process.",
    ),
]


class TableFormat(StrEnum):
    table = "table"
    json = "json"


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _home():  # type: ignore[no-untyped-def]
    from warehouse.home import FootprintHome

    return FootprintHome.resolve()


def _print_notices(notices: list[str]) -> None:
    from warehouse.cli.render import stderr_console

    console = stderr_console()
    for notice in notices:
        console.print(f"note: {notice}", markup=False)


def report(
    run: Annotated[
        str | None, typer.Option("--run", metavar="RUN_ID", help="Run to report (default: the latest run).")
    ] = None,
    asset: Annotated[
        str | None,
        typer.Option("--asset", metavar="KEY", help="Only this asset (its latest run unless --run)."),
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
    wait_s: WaitOption = DEFAULT_READ_WAIT_S,
) -> None:
    """Per-asset and end-to-end footprint (money, energy, carbon, hours, bytes) of a run."""
    from warehouse.cli.report import build_report, print_report

    result = build_report(_home(), run_id=run, asset=asset, wait_s=wait_s)
    _print_notices(result.notices)
    print_report(result, as_json=fmt is TableFormat.json)


def sql(
    query: Annotated[
        str,
        typer.Argument(metavar="QUERY", help='SQL that only reads, e.g. "SELECT * FROM asset_footprint".'),
    ],
    fmt: Annotated[SqlFormat, typer.Option("--format", help="table, csv or json.")] = SqlFormat.table,
    wait_s: WaitOption = DEFAULT_READ_WAIT_S,
) -> None:
    """Run a read-only query against the warehouse (writing statements are refused, exit code 2)."""
    from warehouse.cli import render
    from warehouse.cli.sql import run_query

    columns, rows, notices = run_query(_home(), query, wait_s=wait_s)
    _print_notices(notices)
    if fmt is SqlFormat.csv:
        render.write_csv(columns, rows)
    elif fmt is SqlFormat.json:
        render.write_json(render.records(columns, rows))
    else:
        render.stdout_console().print(render.table(None, columns, rows))


def sync(
    wait_s: Annotated[
        float, typer.Option("--wait", metavar="SECONDS", help="How long to wait for the write lock.")
    ] = 30.0,
    keep_loaded: Annotated[
        bool,
        typer.Option(
            "--keep-loaded/--delete-loaded",
            help="Keep merged batches in facts/loaded/ (the fact log; default) or delete them (local store).",
        ),
    ] = True,
    upload: Annotated[
        bool,
        typer.Option(
            "--upload",
            help="Only upload this host's spooled batches to $FOOTPRINT_STORE (no warehouse needed here).",
        ),
    ] = False,
) -> None:
    """Merge published fact batches into the warehouse (exit 1 if locked or the store is unreachable,
    3 if a batch was quarantined). With `--upload`: upload the local spool to the store and stop."""
    from warehouse.cli.sync import run_sync, run_upload

    code = run_upload(_home()) if upload else run_sync(_home(), wait_s=wait_s, keep_loaded=keep_loaded)
    if code:
        raise typer.Exit(code)


def export(
    parquet: Annotated[
        Path, typer.Option("--parquet", metavar="DIR", help="Directory to write <table>.parquet files into.")
    ],
    wait_s: WaitOption = DEFAULT_READ_WAIT_S,
) -> None:
    """Export every fact table, rate card table and analyst view as Parquet."""
    from warehouse.cli import render
    from warehouse.cli.export import run_export

    written = run_export(_home(), parquet, wait_s=wait_s)
    render.stdout_console().print(
        render.table(f"Exported to {parquet}", ["name", "kind", "rows", "path"], written)
    )


def estimate(
    devices: Annotated[
        int, typer.Option("--devices", metavar="N", help="Number of devices (GPUs, nodes...).")
    ],
    device_watts: Annotated[
        float, typer.Option("--device-watts", metavar="W", help="Average power per device, watts.")
    ],
    hours: Annotated[float, typer.Option("--hours", metavar="H", help="Wall-clock hours.")],
    pue: Annotated[
        float, typer.Option("--pue", metavar="P", help="PUE / k_compute multiplier on device energy.")
    ] = 1.0,
    grid_gco2_per_kwh: Annotated[
        float | None,
        typer.Option(
            "--grid-gco2-per-kwh",
            metavar="G",
            help="Grid intensity, gCO2e/kWh. Default: the rate card's grid intensity "
            "($FOOTPRINT_RATE_CARD over the shipped default card: 473, Ember 2024 world average, lifecycle).",
        ),
    ] = None,
    usd_per_device_hour: Annotated[
        float | None,
        typer.Option(
            "--usd-per-device-hour",
            metavar="R",
            help="Device price, USD per device-hour. Default: the rate card's gpu rate "
            "(shipped default card: 1.006, AWS g5.xlarge).",
        ),
    ] = None,
    usd_per_kwh: Annotated[
        float | None,
        typer.Option(
            "--usd-per-kwh",
            metavar="R",
            help="Electricity price, USD/kWh. Default: the rate card's electricity price "
            "(shipped default card: 0.127, U.S. EIA commercial).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (inputs and results).")
    ] = False,
) -> None:
    """Plan a run: energy_kwh = N x W x H x P / 1000; co2e_kg = energy_kwh x G / 1000;
    cost_usd = N x H x R_device + energy_kwh x R_kwh. Needs no warehouse."""
    from warehouse.cli.estimate import run_estimate

    run_estimate(
        devices=devices,
        device_watts=device_watts,
        hours=hours,
        pue=pue,
        grid_gco2_per_kwh=grid_gco2_per_kwh,
        usd_per_device_hour=usd_per_device_hour,
        usd_per_kwh=usd_per_kwh,
        as_json=as_json,
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("sql")(sql)
    app.command("sync")(sync)
    app.command("export")(export)
    app.command("estimate")(estimate)
    from warehouse.cli.ratecard_cmd import register as register_ratecard

    register_ratecard(app)
