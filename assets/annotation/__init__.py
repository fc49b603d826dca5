"""Annotation stage: `label_tasks` (corpus -> Label Studio), `annotations` (Label Studio -> labelled
training set, human hours, spend), the budget check and the polling sensor."""

from __future__ import annotations

from typing import Any


def definitions() -> dict[str, Any]:
    """Assets (and the budget check), sensors and resources of this stage, for `pipelines.definitions.defs()`:
    `assets=[..., *d["assets"]]`, `sensors=[..., *d["sensors"]]`, `resources={..., **d["resources"]}`."""
    from assets.annotation.annotations import annotation_budget, annotations
    from assets.annotation.label_tasks import label_tasks
    from assets.annotation.sensor import annotations_poll_sensor
    from labeling.resource import AnnotationPolicy, LabelStudioResource

    return {
        "assets": [label_tasks, annotations, annotation_budget],
        "sensors": [annotations_poll_sensor],
        "resources": {
            "labelstudio": LabelStudioResource.from_env(),
            "annotation_policy": AnnotationPolicy.from_env(),
        },
    }
