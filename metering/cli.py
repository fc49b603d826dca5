"""Subcommands of `footprint` (placeholder until this room's issue adds them)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
