"""`footprint meter [--asset NAME] [--json] -- CMD [ARGS...]`: run any command under the meter.

The command's whole process tree is metered (CPU seconds and resident memory of this process, the
command and every descendant; GPUs device-wide); a materialization with its energy readings is
recorded through MaterializationRecorder (status `failed` when the command exits non-zero), a summary
goes to stderr (`--json`: one JSON object on stdout) and `footprint meter` exits with the command's
own exit code (127: command not found, 126: not executable, 128+N: killed by signal N).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from metering.measurement import Measurement

EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


class CommandFailed(RuntimeError):
    """The metered command exited non-zero (recorded as a failed materialization)."""


def _run(cmd: list[str]) -> int:
    proc = subprocess.Popen(cmd)
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


def meter_command(cmd: list[str], *, asset: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Run `cmd` under a MaterializationRecorder; return the summary (see `summary()`)."""
    from metering.recorder import MaterializationRecorder
    from warehouse.facts import new_id
    from warehouse.home import FootprintHome

    home = FootprintHome.resolve()
    asset_key = asset or f"adhoc/{Path(cmd[0]).name}"
    rec = MaterializationRecorder(home, asset_key=asset_key, run_id=run_id or f"meter-{new_id()[:12]}")
    exit_code = 0
    error: str | None = None
    try:
        with rec:
            try:
                exit_code = _run(cmd)
            except FileNotFoundError as err:
                exit_code, error = EXIT_NOT_FOUND, f"command not found: {cmd[0]!r} ({err.strerror})"
            except PermissionError as err:
                exit_code, error = EXIT_NOT_EXECUTABLE, f"command not executable: {cmd[0]!r} ({err.strerror})"
            if exit_code != 0:
                raise CommandFailed(error or f"command exited with code {exit_code}")
    except CommandFailed:
        pass
    assert rec.measurement is not None
    return summary(
        rec.measurement,
        asset_key=asset_key,
        exit_code=exit_code,
        error=error,
        materialization_id=rec.materialization_id,
        status=rec.status,
    )


def summary(m: Measurement, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "duration_s": m.duration_s,
        "energy_j": m.energy_j,
        "energy_kwh": m.energy_kwh,
        "method": m.method,
        "devices": [
            {
                "kind": d.kind,
                "index": d.index,
                "name": d.name,
                "energy_j": d.energy_j,
                "method": d.method,
                "source": d.source,
                "note": d.note,
            }
            for d in m.devices
        ],
    }


def _print_table(s: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title=f"footprint meter: {s['asset_key']} (exit {s['exit_code']}, {s['duration_s']:.2f} s)")
    for col in ("device", "energy (J)", "method", "source"):
        table.add_column(col)
    for d in s["devices"]:
        energy = "n/a" if d["energy_j"] is None else f"{d['energy_j']:.3f}"
        table.add_row(f"{d['kind']}:{d['index']} {d['name']}", energy, d["method"], d["source"])
    table.add_row("total", f"{s['energy_j']:.3f}", s["method"], f"{s['energy_kwh']:.9f} kWh")
    console.print(table)
    console.print(f"materialization {s['materialization_id']} recorded ({s['status']})")


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
    ) -> None:
        """Run a command under the meter, record its footprint, exit with its exit code."""
        s = meter_command(list(command), asset=asset)
        if s["error"]:
            typer.echo(f"footprint meter: {s['error']}", err=True)
        if as_json:
            sys.stdout.write(json.dumps(s) + "\n")
            sys.stdout.flush()
        else:
            _print_table(s)
        raise typer.Exit(s["exit_code"])
