"""What every benchmark returns: rows of measured figures, printed together by `bench.run_all`."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class BenchRow:
    bench: str
    metric: str
    value: float
    unit: str
    target: str = ""  # e.g. '>= 1000000' or '<= 50'; empty when only informative
    baseline: float | None = None  # the side-by-side figure measured in the same run
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    @property
    def met(self) -> str:
        if not self.target:
            return ""
        op, _, bound = self.target.partition(" ")
        limit = float(bound)
        ok = self.value >= limit if op == ">=" else self.value <= limit
        return "yes" if ok else "NO"


def print_rows(rows: list[BenchRow], title: str = "Benchmarks") -> None:
    table = Table(title=title)
    for col in ("bench", "metric", "value", "unit", "baseline", "ratio", "target", "met", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r.bench,
            r.metric,
            f"{r.value:,.3f}" if abs(r.value) < 1000 else f"{r.value:,.0f}",
            r.unit,
            "" if r.baseline is None else f"{r.baseline:,.3f}",
            "" if r.ratio is None else f"{r.ratio:.2f}x",
            r.target,
            r.met,
            r.note,
        )
    Console(width=200).print(table)
