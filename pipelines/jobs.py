"""Jobs: the main job materialises the whole chain, raw_corpus -> ... -> footprint_report (baseline_model
included: every asset of the definitions)."""

from __future__ import annotations

import dagster as dg

MAIN_JOB = "footprint_pipeline"


def main_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        MAIN_JOB,
        selection=dg.AssetSelection.all(),
        description=(
            "ingestion -> cleaning -> Label Studio annotation -> pretraining and a baseline -> fine-tuning "
            "(compared with the baseline) -> report; every materialization accounted in the footprint "
            "warehouse."
        ),
    )
