"""A model against its baseline as every view of it shows it (the HTML report, `footprint report`,
the Dagster metadata of the compared model): the one sentence that says whether the model earned its
footprint, and the per-class columns, so all of them say the same thing about the same figures."""

from __future__ import annotations

# model_vs_baseline_per_class columns, in the order the per-class tables show them
PER_CLASS_COLUMNS = (
    "label",
    "model_precision",
    "model_recall",
    "model_f1",
    "baseline_precision",
    "baseline_recall",
    "baseline_f1",
    "f1_points_gained",
)


def gain_verdict(f1_points_gained: float | None, baseline: str) -> str:
    """`f1_points_gained`: 100 x (model macro-F1 - baseline macro-F1), None when a score is missing."""
    if f1_points_gained is None or f1_points_gained != f1_points_gained:  # None or NaN
        return f"Whether the model beats {baseline} is unknown: a macro-F1 score is missing."
    if f1_points_gained > 0:
        return f"The model beats {baseline} by {f1_points_gained:.2f} macro-F1 points."
    if f1_points_gained == 0:
        return f"The model ties {baseline}: its footprint bought no gain over the cheap baseline."
    return (
        f"The model is {-f1_points_gained:.2f} macro-F1 points BELOW {baseline}, trained on the same labels: "
        "its footprint bought no gain over the cheap baseline."
    )
