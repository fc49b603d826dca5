"""Entry point of the `footprint` console script.

Each room registers its own subcommands through a `register(app)` function:
- warehouse.cli.commands: report, sql, sync, export, estimate, ratecard
- metering.cli: meter
- labeling.cli: labelstudio up|down|status, labeling-report
"""

from __future__ import annotations

import importlib

import typer

REGISTRARS = ("warehouse.cli.commands", "metering.cli", "labeling.cli")


def build_app() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="What every dataset and model cost: money, energy, carbon, human hours, bytes.",
    )
    for module_name in REGISTRARS:
        importlib.import_module(module_name).register(app)
    return app


def main() -> None:
    build_app()()
