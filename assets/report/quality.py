"""The report's quality sections: the model's scores beside its baseline's, and the F1 points gained
per kWh, USD and kg CO2e of the model's end-to-end footprint (views model_quality, model_vs_baseline,
model_vs_baseline_per_class in warehouse/sql/quality.sql)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from assets.report.render import MISSING, Section, fmt, pick
from warehouse.verdict import PER_CLASS_COLUMNS, gain_verdict

OVERALL = ("f1_macro", "accuracy", "precision_macro", "recall_macro")
FOOTPRINT_COLUMNS = ("energy_kwh", "cost_usd", "co2e_kg", "unknown_parts")
PER_UNIT = {
    "f1_points_per_kwh": "F1 points per kWh",
    "f1_points_per_usd": "F1 points per USD",
    "f1_points_per_kg_co2e": "F1 points per kg CO2e",
}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def scores_table(quality: pd.DataFrame, comparison: pd.DataFrame, model_id: str) -> pd.DataFrame:
    """One row per model (this one, then its baseline): the final overall eval scores."""
    if quality.empty:
        return pd.DataFrame()
    overall = quality[(quality["split"] == "eval") & quality["label"].isna()]
    rows = []
    ids = [model_id, *(comparison["baseline_materialization_id"] if not comparison.empty else [])]
    for role, mid in zip(["model", *(["baseline"] * (len(ids) - 1))], ids, strict=True):
        mine = overall[overall["materialization_id"] == mid]
        if mine.empty:
            continue
        values = dict(zip(mine["name"], mine["value"], strict=True))
        rows.append(
            {"role": role, "asset_key": mine["asset_key"].iloc[0]}
            | {name: values.get(name) for name in OVERALL}
        )
    return pd.DataFrame(rows)


def gain_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """F1 points gained and per unit of the model's end-to-end footprint; a NULL per-unit figure is
    'n/a' with the reason beside it (unknown part, zero footprint, missing score), never 0."""
    if comparison.empty:
        return pd.DataFrame()
    shown = pick(
        comparison, ("baseline_asset_key", "model_f1_macro", "baseline_f1_macro", "f1_points_gained")
    )
    footprint = pick(comparison, FOOTPRINT_COLUMNS)
    out = pd.concat([shown, footprint], axis=1)
    for column, title in PER_UNIT.items():
        out[title] = [MISSING if _missing(v) else fmt(v) for v in comparison[column]]
    out["note"] = [("" if _missing(v) else str(v)) for v in comparison["per_unit_note"]]
    return out


def per_class_table(per_class: pd.DataFrame, quality: pd.DataFrame, model_id: str) -> pd.DataFrame:
    """Per class: model and baseline side by side; without a baseline, the model's own scores."""
    if not per_class.empty:
        return pick(per_class.sort_values("label"), PER_CLASS_COLUMNS)
    if quality.empty:
        return pd.DataFrame()
    mine = quality[
        (quality["materialization_id"] == model_id) & (quality["split"] == "eval") & quality["label"].notna()
    ]
    if mine.empty:
        return pd.DataFrame()
    wide = mine.pivot_table(index="label", columns="name", values="value", aggfunc="first").reset_index()
    kept = ["label", *(c for c in ("precision", "recall", "f1") if c in wide.columns)]
    return wide[kept].rename(columns={c: f"model_{c}" for c in kept if c != "label"})


def comparison_lines(comparison: pd.DataFrame) -> list[str]:
    """One line per baseline for the report's header: both macro-F1s and the points gained."""
    lines = []
    for row in comparison.to_dict("records"):
        gained = row["f1_points_gained"]
        lines.append(
            f"macro-F1 {fmt(row['model_f1_macro'])} vs {fmt(row['baseline_f1_macro'])} "
            f"({row['baseline_asset_key'] or 'baseline'} {row['baseline_materialization_id']}): "
            + ("F1 points gained unknown" if _missing(gained) else f"{gained:+.2f} F1 points")
            + ". "
            + gain_verdict(
                None if _missing(gained) else float(gained), row["baseline_asset_key"] or "the baseline"
            )
        )
    return lines


def quality_sections(
    quality: pd.DataFrame,
    comparison: pd.DataFrame,
    per_class: pd.DataFrame,
    baseline_footprint: pd.DataFrame,
    model_id: str,
    asset_columns: tuple[str, ...],
) -> list[Section]:
    """The sections beside the footprint tables (none when the model recorded no quality)."""
    scores = scores_table(quality, comparison, model_id)
    if scores.empty and comparison.empty:
        return []
    sections = [
        Section(
            "Model quality (held-out eval split)",
            scores,
            "Final scores of this model and of the baseline it was compared with (lineage edge "
            "'compared_with': exactly that baseline materialization, trained on the same labels; its id "
            "is in the header).",
        ),
        Section("Per class (eval): model vs baseline", per_class_table(per_class, quality, model_id)),
    ]
    if not comparison.empty:
        sections.append(
            Section(
                "F1 points gained over the baseline, per unit of the end-to-end footprint",
                gain_table(comparison),
                "The footprint is this model's whole lineage (labelling included, each upstream once), "
                "the baseline's not in it. A per-unit figure is n/a when the footprint has an unknown "
                "part, is 0, misses an upstream, or a score is missing (note).",
            )
        )
    if not baseline_footprint.empty:
        sections.append(
            Section(
                "The baseline's own footprint (not part of the model's)",
                pick(baseline_footprint, asset_columns),
            )
        )
    return sections
