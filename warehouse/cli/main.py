"""Entry point of the `footprint` console script.

Each room registers its own subcommands through a `register(app)` function:
- warehouse.cli.commands: report, sql, sync, export, estimate, ratecard
- metering.cli: meter
- labeling.cli: labelstudio up|down|status, labeling-report
"""

from __future__ import annotations

import importlib
import os

import typer

from warehouse.cli.errors import DEBUG_ENV, run_app

REGISTRARS = ("warehouse.cli.commands", "metering.cli", "labeling.cli")


def build_app() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        help="What every dataset and model cost: money, energy, carbon, human hours, bytes.",
    )
    app.callback()(_root_options)
    for module_name in REGISTRARS:
        importlib.import_module(module_name).register(app)
    return app


def _root_options(
    debug: bool = typer.Option(False, "--debug", help="Print the full traceback of an unexpected error."),
) -> None:
    """What every dataset and model cost: money, energy, carbon, human hours, bytes."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def main() -> None:
    """Run the app; errors leave as one readable line and an exit code (warehouse.cli.errors)."""
    run_app(build_app())
