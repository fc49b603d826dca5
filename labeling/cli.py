"""Subcommands: `footprint labelstudio install|up|down|status`, `labeling-report`, `labeling-replay`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from warehouse.redact import redact

if TYPE_CHECKING:
    from labeling.server import ServerPaths


def _paths(venv: Path | None = None) -> ServerPaths:
    from labeling.server import ServerPaths
    from warehouse.home import FootprintHome

    return ServerPaths.under(FootprintHome.resolve().labelstudio_dir, venv)


def _fail(err: Exception) -> NoReturn:
    typer.echo(f"error: {redact(str(err))}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    ls = typer.Typer(no_args_is_help=True, help="The local Label Studio server (own venv, 127.0.0.1).")
    app.add_typer(ls, name="labelstudio")

    @ls.command("install")
    def install(
        venv: Path = typer.Option(None, help="venv to create (default $FOOTPRINT_HOME/labelstudio/venv)"),
    ) -> None:
        """Install Label Studio into its own virtualenv (idempotent; about 85 s the first time)."""
        from labeling.install import ServerError, ensure_venv

        paths = _paths(venv)
        try:
            exe = ensure_venv(paths.venv)
        except ServerError as err:
            _fail(err)
        typer.echo(f"Label Studio installed: {exe}")

    @ls.command("up")
    def up(
        port: int = typer.Option(8080, help="loopback port to listen on"),
        wait_s: float = typer.Option(240.0, help="seconds to wait for /health"),
    ) -> None:
        """Start the server (installing it first if needed) and wait until it is healthy."""
        from labeling import server

        try:
            info = server.up(_paths(), port=port, wait_s=wait_s)
        except server.ServerError as err:
            _fail(err)
        typer.echo(
            f"Label Studio is up at {info.url} (pid {info.pid}); API token in {_paths().credentials} "
            "(owner-only)"
        )

    @ls.command("down")
    def down() -> None:
        """Stop the server (its whole process group)."""
        from labeling import server

        stopped = server.down(_paths())
        typer.echo("Label Studio stopped" if stopped else "Label Studio was not running")

    @ls.command("status")
    def status() -> None:
        """Say whether the managed server runs and answers."""
        from labeling import server

        info = server.status(_paths())
        state = "healthy" if info.healthy else "running, not answering" if info.running else "stopped"
        typer.echo(f"Label Studio {state}: {info.url} (pid {info.pid or '-'}, log {info.log})")
        if not info.healthy:
            raise typer.Exit(3)

    @app.command("labeling-report")
    def labeling_report(
        default_usd_per_hour: float = typer.Option(
            None, help="override the rate card's default annotator rate"
        ),
    ) -> None:
        """Per-annotator annotations, hours, cost, labels/hour and agreement (from the last sync).

        Fits the terminal: annotators' names in full, the columns split over stacked tables (each
        repeating the annotator) when they do not fit side by side."""
        from labeling.labels import task_labels
        from labeling.spend import TABLE_HEADER, per_annotator, rate_card_rates, table_rows
        from labeling.store import all_states, load_state
        from warehouse.cli.render import fitted_tables, stdout_console
        from warehouse.home import FootprintHome

        console = stdout_console()
        states = all_states(FootprintHome.resolve().labelstudio_dir)
        if not states:
            console.print("no annotations synced yet: materialize `annotations` first")
            return
        rate_of = rate_card_rates(default_usd_per_hour)
        justify = ["left", *("right" for _ in TABLE_HEADER[1:])]
        for key, path in states.items():
            state = load_state(path)
            versions = list(state.annotations.values())
            rows = per_annotator(versions, task_labels(versions), rate_of)
            cells = [tuple(c.replace("**", "") for c in row) for row in table_rows(rows)]
            synced = "never" if state.cursor is None else state.cursor.isoformat(sep=" ", timespec="seconds")
            title = f"Annotation spend: {key} (synced up to {synced})"
            for table in fitted_tables(title, TABLE_HEADER, cells, width=console.width, justify=justify):
                console.print(table)

    @app.command("labeling-replay")
    def labeling_replay(
        annotators: int = typer.Option(4, help="simulated annotators"),
        tasks: int = typer.Option(
            50, help="the project's first N tasks, brought to their target overlap (0 = all)"
        ),
        error_rate: float = typer.Option(0.1, help="share of labels that differ from the gold label"),
        seed: int = typer.Option(7),
        corpus: Path = typer.Option(..., help="clean_corpus Parquet (gold labels for the simulation)"),
    ) -> None:
        """SIMULATION: demo annotators submit annotations through the real API (for `make demo`)."""
        from labeling.client import LabelStudioError
        from labeling.replay import ReplayConfig, replay
        from labeling.resource import AnnotationPolicy, LabelStudioResource

        cfg = ReplayConfig(n_annotators=annotators, n_tasks=tasks, error_rate=error_rate, seed=seed)
        try:
            with LabelStudioResource.from_env_now().client() as client:
                result = replay(client, AnnotationPolicy().project_title, corpus, cfg)
        except LabelStudioError as err:
            _fail(err)
        typer.echo(f"SIMULATED annotations submitted: {result.summary()}")
