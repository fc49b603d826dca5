"""`footprint meter [--asset NAME] [--json] [--heartbeat-s S] -- CMD [ARGS...]`: run any command
under a meter window.

The window (role `meter`) is rooted at this `footprint meter` process, so the command's whole process
tree is in it, except windows nested inside (another `footprint meter`, a Dagster step). Inside
another window it nests (the ledger sets its parent). A materialization is recorded through
MaterializationRecorder (status `failed` when the command exits non-zero); the summary (stderr table,
or `--json`: one JSON object on stdout) shows the window's use of each device (from the ledger's
facts) and the footprint priced in-process from the facts it wrote
(`warehouse.pricing.price_materialization`). It never opens the warehouse and never merges: the
batches stay pending until the loader merges them (`footprint sync`, the Dagster sensor), as the
summary says.
`footprint meter` exits with the command's own exit code (127: command not found, 126: not
executable, 128+N: killed by signal N).

The command's environment names the materialization it runs for (`command_env`): FOOTPRINT_HOME (the
resolved state directory), FOOTPRINT_MATERIALIZATION_ID, FOOTPRINT_WINDOW_ID (this meter's window) and
FOOTPRINT_HEARTBEAT_S, so that code inside can tie its own facts to it (a Hugging Face script with
`training.callback.FootprintCallback` opens its ranks' windows under it and records its progress).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from metering.window import DEFAULT_HEARTBEAT_S

ENV_MATERIALIZATION_ID = "FOOTPRINT_MATERIALIZATION_ID"
ENV_WINDOW_ID = "FOOTPRINT_WINDOW_ID"
ENV_HEARTBEAT_S = "FOOTPRINT_HEARTBEAT_S"
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
MAX_NAME_CHARS = 200


class CommandFailed(RuntimeError):
    """The metered command exited non-zero (recorded as a failed materialization)."""


def _run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    proc = subprocess.Popen(cmd, env=env)
    # SIGTERM/SIGHUP sent to us are passed on; Ctrl-C already reaches the child through the terminal's
    # process group, so SIGINT is only ignored here (we stay alive to record the outcome).
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda signum, _f: proc.send_signal(signum)),
        signal.SIGHUP: signal.signal(signal.SIGHUP, lambda signum, _f: proc.send_signal(signum)),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
    }
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def meter_command(
    cmd: list[str],
    *,
    asset: str | None = None,
    run_id: str | None = None,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
) -> dict[str, Any]:
    """Run `cmd` under a MaterializationRecorder (window role 'meter'); return the summary."""
    from metering.recorder import MaterializationRecorder
    from warehouse.facts import new_id
    from warehouse.home import FootprintHome
    from warehouse.redact import redact

    home = FootprintHome.resolve()
    asset_key = asset or f"adhoc/{Path(cmd[0]).name}"
    rec = MaterializationRecorder(
        home,
        asset_key=asset_key,
        run_id=run_id or f"meter-{new_id()[:12]}",
        role="meter",
        name=redact(shlex.join(cmd))[:MAX_NAME_CHARS],
        heartbeat_s=heartbeat_s,
    )
    exit_code = 0
    error: str | None = None
    try:
        with rec:
            try:
                exit_code = _run(cmd, env=command_env(rec))
            except FileNotFoundError as err:
                exit_code, error = EXIT_NOT_FOUND, f"command not found: {cmd[0]!r} ({err.strerror})"
            except PermissionError as err:
                exit_code, error = EXIT_NOT_EXECUTABLE, f"command not executable: {cmd[0]!r} ({err.strerror})"
            if exit_code != 0:
                raise CommandFailed(error or f"command exited with code {exit_code}")
    except CommandFailed:
        pass
    s = summary(rec)
    merge = "pending: the loader merges these facts into the warehouse (footprint sync)"
    return {**s, "asset_key": asset_key, "exit_code": exit_code, "error": error, "merge": merge}


def command_env(rec: Any) -> dict[str, str]:
    """This environment plus the materialization the command runs for (see the module docstring)."""
    from warehouse.home import ENV_HOME

    return {
        **os.environ,
        ENV_HOME: str(rec.home.root),
        ENV_MATERIALIZATION_ID: rec.materialization_id,
        ENV_WINDOW_ID: rec.window_id or "",
        ENV_HEARTBEAT_S: str(rec.heartbeat_s),
    }


def summary(rec: Any) -> dict[str, Any]:
    """The window's use per device (facts) and the priced footprint (None with `pricing_error` when
    the warehouse could not price it)."""
    from metering.usage import window_usage
    from warehouse.connection import WarehouseError
    from warehouse.pricing import step_batches

    batches, _ = step_batches(rec.home, rec.written, rec.tick_batch_ids, rec.tick_batch)
    devices = window_usage(rec.home, rec.window_id, batches=batches) if rec.window_id else []
    priced: dict[str, Any] | None = None
    pricing_error = None
    by_kind: dict[str, float] | None = None
    try:
        p = rec.price()
    except WarehouseError as err:
        pricing_error = str(err)
    else:
        priced = {
            "duration_s": p.duration_s,
            "energy_kwh": p.energy_kwh,
            "energy_method": p.energy_method,
            "co2e_kg": p.co2e_kg,
            "cost_usd": p.cost_usd,
            "rate_card": p.rate_card,
        }
        by_kind = getattr(p, "energy_kwh_by_kind", None)  # per device kind, where pricing gives it
    return {
        "materialization_id": rec.materialization_id,
        "window_id": rec.window_id,
        "status": rec.status,
        "priced": priced,
        "pricing_error": pricing_error,
        "devices": [
            {
                "kind": d.kind,
                "index": d.index,
                "name": d.name,
                "unit": d.unit,
                "use": d.use,
                "unknown_ticks": d.unknown_ticks,
                "host_share": d.use / d.capacity if d.capacity > 0 else None,
                "method": d.method,
                "energy_kwh": (by_kind or {}).get(d.kind),
            }
            for d in devices
        ],
    }


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    """A figure, or 'unknown' for None (pricing says None when a part of a figure is unknown)."""
    return "unknown" if value is None else f"{value:{spec}}{unit}"


def _print_table(s: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    p = s["priced"]
    duration = f", {_fmt(p['duration_s'], '.2f', ' s')}" if p else ""
    table = Table(title=f"footprint meter: {s['asset_key']} (exit {s['exit_code']}{duration})")
    for col in ("device", "use", "host share", "energy (kWh)", "method"):
        table.add_column(col)
    for d in s["devices"]:
        use = f"{d['use']:.3f} {d['unit']}" + (
            f" (+{d['unknown_ticks']} unknown)" if d["unknown_ticks"] else ""
        )
        share = "n/a" if d["host_share"] is None else f"{d['host_share']:.1%}"
        energy = "n/a" if d["energy_kwh"] is None else f"{d['energy_kwh']:.9f}"
        table.add_row(f"{d['kind']}:{d['index']} {d['name']}", use, share, energy, d["method"])
    if p:
        table.add_row("total", "", "", _fmt(p["energy_kwh"], ".9f"), p["energy_method"])
    console.print(table)
    if p:
        console.print(
            f"cost {_fmt(p['cost_usd'], '.6f', ' USD')}, {_fmt(p['co2e_kg'], '.9f', ' kg CO2e')} "
            f"(rate card {p['rate_card']})"
        )
    else:
        console.print(f"not priced: {s['pricing_error']}")
    console.print(
        f"materialization {s['materialization_id']} recorded ({s['status']}), window {s['window_id']}; "
        "its facts are pending: the loader merges them into the warehouse (`footprint sync`)"
    )


def register(app: typer.Typer) -> None:
    @app.command(
        "meter",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def meter(
        command: list[str] = typer.Argument(
            ..., help="the command to run, after --", metavar="-- CMD [ARGS...]"
        ),
        asset: str | None = typer.Option(None, "--asset", help="asset key (default adhoc/<command name>)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
        heartbeat_s: float = typer.Option(
            DEFAULT_HEARTBEAT_S, "--heartbeat-s", help="seconds between the window's heartbeat ticks"
        ),
    ) -> None:
        """Run a command under a meter window, record its footprint, exit with its exit code."""
        s = meter_command(list(command), asset=asset, heartbeat_s=heartbeat_s)
        if s["error"]:
            typer.echo(f"footprint meter: {s['error']}", err=True)
        if as_json:
            sys.stdout.write(json.dumps(s) + "\n")
            sys.stdout.flush()
        else:
            _print_table(s)
        raise typer.Exit(s["exit_code"])
