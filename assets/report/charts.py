"""The report's charts as PNG bytes (matplotlib's Agg canvas; no pyplot global state, no display).

Each function takes plain columns and returns PNG bytes; an empty input gives a chart that says
there is nothing to show rather than an error, so a partial lineage still yields a report.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH_IN = 8.0
HEIGHT_IN = 4.0
DPI = 100
# Fixed colours per component/method, so charts of different reports compare at a glance.
COMPONENT_COLOURS: dict[str, str] = {
    "cost_hardware_usd": "#4e79a7",
    "cost_energy_usd": "#f28e2b",
    "cost_person_usd": "#59a14f",
    "cost_labeling_usd": "#e15759",
}
METHOD_COLOURS: dict[str, str] = {"measured": "#4e79a7", "estimated": "#f28e2b", "unavailable": "#bab0ac"}


def _new_figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _empty(ax: Any, fig: Figure, title: str, why: str) -> bytes:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_axis_off()
    return _png(fig)


def cost_by_component(assets: Sequence[str], components_usd: Mapping[str, Sequence[float]]) -> bytes:
    """Stacked bars: one bar per asset, one segment per cost component (USD)."""
    title = "Cost by component per asset"
    fig, ax = _new_figure()
    if not assets:
        return _empty(ax, fig, title, "no priced materializations in this lineage")
    bottoms = [0.0] * len(assets)
    positions = range(len(assets))
    for name, values in components_usd.items():
        heights = [float(v or 0.0) for v in values]
        label = name.removeprefix("cost_").removesuffix("_usd")
        ax.bar(positions, heights, bottom=bottoms, label=label, color=COMPONENT_COLOURS.get(name))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, total in zip(positions, bottoms, strict=True):
        ax.annotate(f"${total:,.4g}", (x, total), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(positions), list(assets), rotation=20, ha="right")
    ax.set_ylabel("USD")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def energy_by_device(
    devices: Sequence[str], methods: Sequence[str], energy_kwh: Sequence[float], unavailable: Sequence[int]
) -> bytes:
    """Stacked bars: one bar per device kind, one segment per method (measured/estimated).

    Devices whose energy could not be measured have no number to draw; their count is written on the
    bar instead (a missing measurement is stated, never drawn as zero).
    """
    title = "Energy by device and method"
    fig, ax = _new_figure()
    if not devices:
        return _empty(ax, fig, title, "no energy readings in this lineage")
    kinds = sorted(set(devices))
    totals: dict[tuple[str, str], float] = {}
    missing: dict[str, int] = dict.fromkeys(kinds, 0)
    for device, method, kwh, n_unavailable in zip(devices, methods, energy_kwh, unavailable, strict=True):
        if method == "unavailable":
            missing[device] += int(n_unavailable)
            continue
        totals[(device, method)] = totals.get((device, method), 0.0) + float(kwh or 0.0)
    bottoms = dict.fromkeys(kinds, 0.0)
    for method in ("measured", "estimated"):
        heights = [totals.get((k, method), 0.0) for k in kinds]
        if any(heights):
            ax.bar(
                kinds, heights, bottom=[bottoms[k] for k in kinds], label=method, color=METHOD_COLOURS[method]
            )
            for k, h in zip(kinds, heights, strict=True):
                bottoms[k] += h
    for k in kinds:
        note = f"{bottoms[k]:.3g} kWh" if bottoms[k] or not missing[k] else "not measured"
        if missing[k]:
            note += f"\n({missing[k]} windows unavailable)"
        ax.annotate(note, (k, bottoms[k]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("kWh")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    return _png(fig)


def labeling_burndown(
    times: Sequence[Any],
    cumulative_usd: Sequence[float],
    annotations_left: Sequence[int],
    budget_usd: float | None = None,
) -> bytes:
    """Labelling over time: annotations left (of those in this lineage) burn down on the left axis;
    cumulative USD spent (and the budget left, when a budget is given) on the right axis."""
    title = "Labelling burn-down"
    fig, ax = _new_figure()
    if not times:
        return _empty(ax, fig, title, "no annotation work in this lineage")
    xs = [times[0], *times]
    left = [annotations_left[0] + 1, *annotations_left] if annotations_left else []
    ax.step(xs, left, where="post", color="#4e79a7", label="annotations left")
    ax.set_ylabel("annotations left", color="#4e79a7")
    ax.set_ylim(bottom=0)
    money = ax.twinx()
    spent = [0.0, *cumulative_usd]
    money.step(xs, spent, where="post", color="#e15759", label="USD spent (cumulative)")
    if budget_usd is not None:
        money.step(
            xs, [budget_usd - v for v in spent], where="post", color="#59a14f", label="USD budget left"
        )
    money.set_ylabel("USD", color="#e15759")
    money.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + money.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center left", fontsize=8)
    ax.set_xlabel("time annotated (UTC)")
    ax.set_title(title)
    fig.autofmt_xdate()
    return _png(fig)
