"""Training assets: `pretrained_model` (MLM) and `finetuned_model` (classifier), each launched as a
torchrun job through Dagster Pipes and accounted (see each module)."""

from __future__ import annotations

import dagster as dg


def definitions() -> list[dg.AssetsDefinition]:
    """The training stage's assets, spread into `pipelines/definitions.py`."""
    from assets.training.finetuned import finetuned_model
    from assets.training.pretrained import pretrained_model

    return [pretrained_model, finetuned_model]
