"""The one sentence that says whether a model earned its footprint against its baseline: used by the
HTML report, `footprint report` and the Dagster metadata of the compared model, so all three say the
same thing about the same figures."""

from __future__ import annotations


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
