"""Training assets: `pretrained_model` (MLM) and `finetuned_model` (classifier), each launched as a
torchrun job through Dagster Pipes, and `baseline_model` (TF-IDF + a linear classifier, in-process) that
the fine-tuned model is compared with; all accounted (see each module)."""

from __future__ import annotations

import dagster as dg


def definitions() -> list[dg.AssetsDefinition]:
    """The training stage's assets, spread into `pipelines/definitions.py`."""
    from assets.training.baseline import baseline_model
    from assets.training.finetuned import finetuned_model
    from assets.training.pretrained import pretrained_model

    return [pretrained_model, baseline_model, finetuned_model]
