"""Annotation spend for leads: per-annotator table, forecast to finish, budget level, burn-down chart.

Cost follows the warehouse's `labeling_spend` view: active hours x the annotator's
`annotator_usd_per_hour` (own rate, else the card's default), read from the configured rate card
(`$FOOTPRINT_RATE_CARD`, else the shipped default) without opening the DuckDB file. The view stays
the official figure (it prices by the card version in force at each materialization).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeling.labels import TaskLabel, annotator_agreement
from labeling.sync import AnnotationVersion

RateFn = Callable[[str], float]


def rate_card_rates(default_usd_per_hour: float | None = None) -> RateFn:
    """annotator -> USD/h from the configured rate card; `default_usd_per_hour` replaces the card's
    default (annotators with their own rate keep it)."""
    from warehouse.ratecard import configured_card_path, read_rate_card

    card = read_rate_card(configured_card_path())
    own = {r.subject: r.value for r in card.rates if r.key == "annotator_usd_per_hour"}
    fallback = default_usd_per_hour if default_usd_per_hour is not None else own[""]
    return lambda annotator: own.get(annotator, fallback) if annotator else fallback


@dataclass(frozen=True)
class AnnotatorSpend:
    annotator: str
    annotations: int  # every annotation (skipped and rejected included)
    skipped: int
    rejected: int
    labels: int  # valid labels given
    raw_h: float  # lead time as logged, of the annotations whose time is known
    active_h: float  # idle-capped, likewise: a lower bound when unknown_time > 0
    usd_per_hour: float
    cost_usd: float  # at least: annotations whose time is unknown add nothing and are counted
    unknown_time: int  # annotations without a valid lead time (their time and cost are unknown)
    labels_per_h: float | None
    agreement: float | None


def per_annotator(
    versions: Sequence[AnnotationVersion], labels: dict[int, TaskLabel], rate_of: RateFn
) -> list[AnnotatorSpend]:
    agreement = annotator_agreement(versions, labels)
    out: list[AnnotatorSpend] = []
    for who in sorted({v.annotator for v in versions}):
        mine = [v for v in versions if v.annotator == who]
        active_h = sum(v.active_s for v in mine if v.active_s is not None) / 3600.0
        n_labels = sum(1 for v in mine if v.label is not None and v.reject_reason is None)
        rate = rate_of(who)
        out.append(
            AnnotatorSpend(
                annotator=who,
                annotations=len(mine),
                skipped=sum(v.was_cancelled for v in mine),
                rejected=sum(v.reject_reason is not None for v in mine),
                labels=n_labels,
                raw_h=sum(v.lead_time_s for v in mine if v.lead_time_s is not None) / 3600.0,
                active_h=active_h,
                usd_per_hour=rate,
                cost_usd=active_h * rate,
                unknown_time=sum(v.active_s is None for v in mine),
                labels_per_h=(n_labels / active_h) if active_h > 0 else None,
                agreement=agreement.get(who),
            )
        )
    return out


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


TABLE_HEADER = (
    "annotator",
    "annotations",
    "skipped",
    "rejected",
    "raw h",
    "active h",
    "USD/h",
    "cost USD",
    "unknown time",
    "labels/h",
    "agreement",
)


def table_rows(rows: Iterable[AnnotatorSpend]) -> list[tuple[str, ...]]:
    """The table's cells as text (shared by the markdown metadata and the terminal report)."""
    rows = list(rows)
    cells: list[tuple[str, ...]] = [
        (
            r.annotator,
            str(r.annotations),
            str(r.skipped),
            str(r.rejected),
            _fmt(r.raw_h, 3),
            _fmt(r.active_h, 3),
            _fmt(r.usd_per_hour),
            _fmt(r.cost_usd) if not r.unknown_time else f"at least {_fmt(r.cost_usd)}",
            str(r.unknown_time),
            _fmt(r.labels_per_h, 1),
            "-" if r.agreement is None else f"{r.agreement:.0%}",
        )
        for r in rows
    ]
    if rows:
        cells.append(
            (
                "**total**",
                str(sum(r.annotations for r in rows)),
                str(sum(r.skipped for r in rows)),
                str(sum(r.rejected for r in rows)),
                _fmt(sum(r.raw_h for r in rows), 3),
                _fmt(sum(r.active_h for r in rows), 3),
                "",
                _fmt(sum(r.cost_usd for r in rows)),
                str(sum(r.unknown_time for r in rows)),
                "",
                "",
            )
        )
    return cells


def markdown_table(rows: Iterable[AnnotatorSpend]) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in table_rows(rows)]
    return "\n".join(lines)


@dataclass(frozen=True)
class Forecast:
    remaining_tasks: int
    median_active_s: float | None
    usd_per_hour: float
    cost_to_finish_usd: float | None  # None: no completed annotation to learn the pace from


def forecast(
    total_tasks: int, labelled_tasks: int, versions: Iterable[AnnotationVersion], usd_per_hour: float
) -> Forecast:
    """Remaining tasks x median active seconds per valid annotation x rate."""
    remaining = max(0, total_tasks - labelled_tasks)
    actives = [
        v.active_s
        for v in versions
        if v.reject_reason is None and not v.was_cancelled and v.active_s is not None and v.active_s > 0
    ]
    if not actives:
        return Forecast(remaining, None, usd_per_hour, None if remaining else 0.0)
    median_s = float(statistics.median(actives))
    return Forecast(remaining, median_s, usd_per_hour, remaining * median_s / 3600.0 * usd_per_hour)


@dataclass(frozen=True)
class BudgetStatus:
    level: str  # 'ok' | 'warn' | 'error'
    spent_usd: float
    budget_usd: float
    fraction: float


def budget_status(spent_usd: float, budget_usd: float, warn_fraction: float = 0.8) -> BudgetStatus:
    """'warn' from `warn_fraction` of the budget, 'error' from 100 %. A budget <= 0 is always spent."""
    fraction = spent_usd / budget_usd if budget_usd > 0 else float("inf")
    level = "error" if fraction >= 1.0 else "warn" if fraction >= warn_fraction else "ok"
    return BudgetStatus(level, spent_usd, budget_usd, fraction)


def burn_down_png(
    versions: Sequence[AnnotationVersion],
    rate_of: RateFn,
    budget_usd: float,
    path: Path,
    *,
    warn_fraction: float = 0.8,
    forecast_usd: float | None = None,
) -> Path:
    """Budget remaining over time (by annotation creation), with the warn line and, when known, the
    forecast cost to finish drawn as the budget it will leave. Written with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    points = sorted(
        (v.created_at, v.active_s / 3600.0 * rate_of(v.annotator)) for v in versions if v.active_s is not None
    )
    fig = Figure(figsize=(7, 3.6), dpi=100)
    ax = fig.add_subplot()
    if points:
        times: list[Any] = []
        spent: list[float] = []
        total = 0.0
        for when, cost in points:
            total += cost
            times.append(when)
            spent.append(budget_usd - total)
        ax.step(times, spent, where="post", label="budget left (USD)", color="tab:blue")
        if forecast_usd is not None:
            ax.plot(
                [times[-1], times[-1]],
                [spent[-1], spent[-1] - forecast_usd],
                "--",
                color="tab:orange",
                label=f"forecast to finish: {forecast_usd:,.2f} USD",
            )
    ax.axhline(
        budget_usd * (1 - warn_fraction),
        color="tab:olive",
        lw=0.8,
        ls=":",
        label=f"{warn_fraction:.0%} spent",
    )
    ax.axhline(0.0, color="tab:red", lw=1.0, label="budget exhausted")
    ax.set_title(f"Annotation spend burn-down (budget {budget_usd:,.2f} USD)")
    ax.set_ylabel("USD")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
