"""How a figure that may be unknown is shown to a person: one rule for the terminal report, the HTML
report and the Dagster metadata.

A figure whose parts are all known is shown as it is. One with unknown parts is NULL in the views,
and is shown as the sum of its known parts: "at least X (N parts unknown)". One with no known part is
"unknown". Never 0 for unknown.
"""

from __future__ import annotations

from collections.abc import Callable

Fmt = Callable[[float], str]


def shown(value: float | None, at_least: float | None, unknown_parts: int | None, fmt: Fmt) -> str:
    """`value` when known; else 'at least <at_least> (N parts unknown)'; else 'unknown (...)'."""
    if value is not None:
        return fmt(value)
    n = unknown_parts or 0
    parts = f"{n} part{'s' if n != 1 else ''} unknown" if n else "unknown parts"
    if at_least is None:
        return f"unknown ({parts})"
    return f"at least {fmt(at_least)} ({parts})"
