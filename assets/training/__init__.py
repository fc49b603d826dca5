"""Training assets: `pretrained_model` (MLM) and `finetuned_model` (classifier), each launched as a
torchrun job through Dagster Pipes and accounted (see docs in each module)."""

from __future__ import annotations

import dagster as dg


def definitions() -> dg.Definitions:
    """The training stage's contribution to the code location (merged in pipelines/definitions.py)."""
    from assets.training.finetuned import finetuned_model
    from assets.training.pretrained import pretrained_model

    return dg.Definitions(assets=[pretrained_model, finetuned_model])
