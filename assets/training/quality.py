"""Model quality as facts and Dagster metadata, and a model's comparison with its baseline.

    record_quality(rec, scores)                    # QualityMetric facts (split 'eval', final: step None)
    context.add_output_metadata(quality_metadata(scores))
    rec.add(compared_with(rec, baseline_model))    # the exact baseline this model is scored against
    ... after the recorder closed (its facts written):
    context.add_output_metadata(comparison_metadata(rec, baseline_model))

The comparison's figures are read from the `model_vs_baseline` view (warehouse/sql/quality.sql),
priced lock-free from the model's whole lineage (warehouse/pricing_lineage.py): the same SQL as the
warehouse, no second formula here.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from metering.recorder import MaterializationRecorder
from training.metrics import ClassificationScores
from warehouse.artifacts import ArtifactHandle
from warehouse.facts import LineageEdge, QualityMetric
from warehouse.figures import shown
from warehouse.verdict import gain_verdict

SPLIT = "eval"


def quality_rows(scores: ClassificationScores) -> list[tuple[str, float, str | None]]:
    return [(str(n), float(v), lbl) for n, v, lbl in scores.named()]


def record_quality(rec: MaterializationRecorder, scores: ClassificationScores) -> None:
    """The final scores of the materialization's model on the held-out split (step None)."""
    for name, value, label in quality_rows(scores):
        rec.add(QualityMetric(rec.materialization_id, name, value, SPLIT, label))


def quality_metadata(scores: ClassificationScores) -> dict[str, Any]:
    """`quality/<name>` and `quality/<name>/<class>` (numeric: plotted across materializations)."""
    meta: dict[str, Any] = {
        f"quality/{name}" + (f"/{label}" if label else ""): dg.MetadataValue.float(round(value, 4))
        for name, value, label in quality_rows(scores)
    }
    meta["quality/n_eval"] = dg.MetadataValue.int(scores.n_eval)
    return meta


def compared_with(rec: MaterializationRecorder, baseline: ArtifactHandle) -> LineageEdge:
    """The edge pairing this model with exactly that baseline materialization. Not an input: the
    baseline's footprint is not part of the model's (sql/lineage_graph.sql leaves it out of the walk)."""
    return LineageEdge(
        materialization_id=rec.materialization_id,
        upstream_materialization_id=baseline.materialization_id,
        upstream_asset_key=baseline.asset_key,
        relation="compared_with",
    )


def _number(x: float | None, digits: int = 6) -> dg.FloatMetadataValue | dg.NullMetadataValue:
    return dg.MetadataValue.null() if x is None else dg.MetadataValue.float(round(float(x), digits))


def comparison_metadata(rec: MaterializationRecorder, baseline: ArtifactHandle) -> dict[str, Any]:
    """`quality/baseline_f1_macro`, `quality/f1_points_gained` and, when the model's end-to-end footprint
    can be priced now, `quality/f1_points_per_kwh|usd|kg_co2e`; a markdown summary. Call it after the
    recorder has closed, so that the model's own footprint is complete."""
    import duckdb

    from warehouse.connection import WarehouseError
    from warehouse.pricing_lineage import PricedComparison, price_comparison

    meta: dict[str, Any] = {"quality/baseline_materialization_id": baseline.materialization_id}
    try:
        rows = price_comparison(rec.home, rec.materialization_id, written=rec.written)
    except (WarehouseError, duckdb.Error) as err:  # the facts are written; only this summary waits
        meta["quality/vs_baseline"] = dg.MetadataValue.md(f"Comparison not priced yet: {err}")
        return meta
    row: PricedComparison | None = next(
        (r for r in rows if r.baseline_materialization_id == baseline.materialization_id), None
    )
    if row is None:
        meta["quality/vs_baseline"] = dg.MetadataValue.md(
            f"Comparison not priced yet: no 'compared_with' edge to {baseline.materialization_id} found "
            "in the facts written so far; see model_vs_baseline once they are merged."
        )
        return meta
    meta["quality/baseline_f1_macro"] = _number(row.baseline_f1_macro, 4)
    meta["quality/f1_points_gained"] = _number(row.f1_points_gained, 4)
    if row.footprint_complete:
        meta["quality/f1_points_per_kwh"] = _number(row.f1_points_per_kwh)
        meta["quality/f1_points_per_usd"] = _number(row.f1_points_per_usd)
        meta["quality/f1_points_per_kg_co2e"] = _number(row.f1_points_per_kg_co2e)
    meta["quality/vs_baseline"] = dg.MetadataValue.md(comparison_markdown(row))
    return meta


def _points(x: float | None) -> str:
    return "unknown" if x is None else f"{x:+.2f}"


def comparison_markdown(row: Any) -> str:
    """A model_vs_baseline row (PricedComparison) as a small table, unknowns said as such."""
    n = row.unknown_parts

    def f1(x: float | None) -> str:
        return "unknown" if x is None else f"{x:.4f}"

    rows = [
        ("model macro-F1 (eval)", f1(row.model_f1_macro)),
        (f"baseline macro-F1 ({row.baseline_asset_key or 'baseline'})", f1(row.baseline_f1_macro)),
        ("F1 points gained", _points(row.f1_points_gained)),
    ]
    if row.footprint_complete:
        rows += [
            (
                "end-to-end energy",
                shown(row.energy_kwh, row.energy_kwh_at_least, n, lambda x: f"{x:.6f} kWh"),
            ),
            ("end-to-end cost", shown(row.cost_usd, row.cost_usd_at_least, n, lambda x: f"${x:,.4f}")),
            ("end-to-end carbon", shown(row.co2e_kg, row.co2e_kg_at_least, n, lambda x: f"{x:.6f} kg CO2e")),
            ("F1 points per kWh", _per_unit(row.f1_points_per_kwh)),
            ("F1 points per USD", _per_unit(row.f1_points_per_usd)),
            ("F1 points per kg CO2e", _per_unit(row.f1_points_per_kg_co2e)),
        ]
        why = row.per_unit_note
    elif not row.warehouse_read:
        why = f"end-to-end footprint not priced yet: {row.warehouse_note}"
    else:
        why = (
            f"end-to-end footprint not priced yet: {row.upstream_unrecorded} upstream materialization(s) "
            "not recorded in the facts found"
        )
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    note = f"\n\n{why[0].upper()}{why[1:]}." if why else ""
    verdict = gain_verdict(row.f1_points_gained, row.baseline_asset_key or "the baseline")
    return (
        f"**{verdict}**\n\n| model vs baseline | value |\n|---|---|\n{body}{note}\n\n"
        f"Baseline materialization {row.baseline_materialization_id}; rate card {row.rate_card}. "
        "The footprint is the model's whole lineage (labelling included); the baseline's is not in it.\n"
    )


def _per_unit(x: float | None) -> str:
    return "unknown" if x is None else f"{x:,.4g}"
