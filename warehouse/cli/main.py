"""Entry point of the `footprint` console script (subcommands are registered in `build_app`)."""

from __future__ import annotations

import typer


def build_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False, help="What every dataset and model cost.")
    return app


def main() -> None:
    build_app()()
