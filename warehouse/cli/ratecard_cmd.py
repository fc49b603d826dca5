"""`footprint ratecard load FILE [--effective-from ISO]` and `footprint ratecard show`.

Thin shell over warehouse/ratecard.py (parsing, validation) and warehouse/ratecard_store.py
(versioned inserts). Loading never edits a version: it adds one, and the views re-price history.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from warehouse.cli.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, CliError
from warehouse.cli.reader import DEFAULT_READ_WAIT_S


class ShowFormat(StrEnum):
    table = "table"
    json = "json"


def _parse_when(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as err:
        raise CliError(f"--effective-from: not an ISO time such as 2026-01-01T00:00:00Z: {text!r}") from err
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def load(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Rate card, YAML or TOML (see warehouse/ratecards/default.yaml)."
        ),
    ],
    effective_from: Annotated[
        str | None,
        typer.Option(
            "--effective-from",
            metavar="ISO",
            help="When the card takes effect (default: the card's own effective_from, else now).",
        ),
    ] = None,
    wait_s: Annotated[
        float, typer.Option("--wait", metavar="SECONDS", help="How long to wait for the write lock.")
    ] = 30.0,
) -> None:
    """Load a rate card as a new version (identical content is not loaded twice)."""
    from warehouse.cli.render import stdout_console
    from warehouse.connection import WarehouseLockedError, connect, ensure_schema
    from warehouse.home import FootprintHome
    from warehouse.ratecard import RateCardError, read_rate_card
    from warehouse.ratecard_store import install_rate_card
    from warehouse.views import ensure_views

    when = _parse_when(effective_from)
    try:
        card = read_rate_card(file)
    except RateCardError as err:
        raise CliError(
            f"{err}. Nothing was loaded: fix {'every problem' if len(err.problems) > 1 else 'it'} "
            "and load the card again",
            EXIT_BAD_INPUT,
        ) from err
    home = FootprintHome.resolve()
    try:
        con = connect(home, read_only=False, wait_s=wait_s)
    except WarehouseLockedError as err:
        raise CliError(f"{err}. Nothing was loaded; retry with --wait SECONDS", EXIT_ENVIRONMENT) from err
    try:
        ensure_schema(con)
        ensure_views(con)  # the shipped default card becomes version 1 before any user card
        try:
            installed = install_rate_card(con, card, effective_from=when)
        except RateCardError as err:
            raise CliError(str(err), EXIT_ENVIRONMENT) from err
    finally:
        con.close()
    console = stdout_console()
    if installed.inserted:
        console.print(
            f"rate card {card.name!r} loaded as version {installed.version}, effective from "
            f"{installed.effective_from.isoformat()} ({len(card.rates)} rates)",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            f"rate card {card.name!r}: identical content is already version {installed.version} "
            f"(effective from {installed.effective_from.isoformat()}); nothing written",
            highlight=False,
            markup=False,
        )


def _version_in_force(con: Any) -> int | None:
    row = (
        con.execute(
            "SELECT version FROM rate_card_version WHERE effective_from <= now() "
            "ORDER BY effective_from DESC, version DESC LIMIT 1"
        ).fetchall()
        or con.execute("SELECT min(version) FROM rate_card_version").fetchall()
    )
    return None if not row or row[0][0] is None else int(row[0][0])


def show(
    version: Annotated[
        int | None,
        typer.Option("--version", metavar="N", help="Version to list (default: the one in force now)."),
    ] = None,
    fmt: Annotated[ShowFormat, typer.Option("--format", help="table or json.")] = ShowFormat.table,
    wait_s: Annotated[
        float, typer.Option("--wait", metavar="SECONDS", help="How long to wait for a locked warehouse.")
    ] = DEFAULT_READ_WAIT_S,
) -> None:
    """List the loaded rate card versions and the rates of one of them."""
    from warehouse.cli import render
    from warehouse.cli.reader import open_for_reading
    from warehouse.home import FootprintHome

    with open_for_reading(FootprintHome.resolve(), wait_s=wait_s) as session:
        con = session.con
        cur = con.execute(
            "SELECT version, effective_from, name, profile, source_path, loaded_at "
            "FROM rate_card_version ORDER BY version"
        )
        v_cols = [d[0] for d in cur.description or []]
        v_rows = cur.fetchall()
        if not v_rows:
            raise CliError(
                "no rate card loaded yet: run `footprint sync` (loads the default card)", EXIT_ENVIRONMENT
            )
        chosen = version if version is not None else _version_in_force(con)
        if chosen not in {r[0] for r in v_rows}:
            known = ", ".join(str(r[0]) for r in v_rows)
            raise CliError(f"unknown rate card version {chosen}; loaded versions: {known}", EXIT_BAD_INPUT)
        cur = con.execute(
            "SELECT key, subject, value, unit, source, year, basis FROM rate "
            "WHERE version = ? ORDER BY key, subject",
            [chosen],
        )
        r_cols = [d[0] for d in cur.description or []]
        r_rows = cur.fetchall()
    if fmt is ShowFormat.json:
        render.write_json(
            {
                "versions": render.records(v_cols, v_rows),
                "version": chosen,
                "rates": render.records(r_cols, r_rows),
            }
        )
        return
    console = render.stdout_console()
    console.print(render.table("Rate card versions", v_cols, v_rows))
    console.print(
        render.table(
            f"Rates of version {chosen}",
            r_cols,
            [
                (
                    r[0],
                    r[1] or "(default)",
                    f"{r[2]:g}",
                    r[3],
                    r[4],
                    "-" if r[5] is None else str(r[5]),
                    r[6] or "",
                )
                for r in r_rows
            ],
        )
    )


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Versioned rate cards: load a new version, show them.")
    group.command("load")(load)
    group.command("show")(show)
    app.add_typer(group, name="ratecard")
