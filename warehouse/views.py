"""Analyst views and the default rate card (filled in by the foundation issue's views work)."""

from __future__ import annotations

import duckdb


def ensure_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the analyst views; load the default rate card if none is loaded yet."""
    return None
