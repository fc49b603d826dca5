"""The footprint report: the asset at the end of the graph, its tables, charts and HTML page."""

from __future__ import annotations

from typing import Any


def definitions() -> list[Any]:
    """Assets of this stage, for `pipelines.definitions.defs()` (imported here, not at import time)."""
    from assets.report.asset import footprint_report

    return [footprint_report]
