"""Jobs: the main job materialises the whole chain, raw_corpus -> ... -> footprint_report."""

from __future__ import annotations

import dagster as dg

MAIN_JOB = "footprint_pipeline"


def main_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        MAIN_JOB,
        selection=dg.AssetSelection.all(),
        description=(
            "ingestion -> cleaning -> Label Studio annotation -> pretraining -> fine-tuning -> report; "
            "every materialization accounted in the footprint warehouse."
        ),
    )
