"""A code location for the separate-processes test: the product's assets and job, its resources as
a deployment sets them from the environment (`FOOTPRINT_STORE` and `AWS_*` through `defs()`, Label
Studio through `LABEL_STUDIO_URL` / `LABEL_STUDIO_API_KEY`), and the test's own Label Studio project
title with the demo's simulated annotators (`FOOTPRINT_TEST_PROJECT`). Loaded by
`dagster asset materialize -m tests.distributed.graph_defs` in every step's own process."""

from __future__ import annotations

import os

import dagster as dg

from labeling.resource import AnnotationPolicy
from pipelines import definitions as product_location  # a module: one @definitions in this scope

SIMULATED_TASKS = 40


@dg.definitions
def defs() -> dg.Definitions:
    product = product_location.defs()
    resources = dict(product.resources or {})
    resources["annotation_policy"] = AnnotationPolicy(
        project_title=os.environ["FOOTPRINT_TEST_PROJECT"],
        simulate_annotators=True,
        simulate_tasks=SIMULATED_TASKS,
    )
    return dg.Definitions(
        assets=list(product.assets or []),
        asset_checks=list(product.asset_checks or []),
        jobs=list(product.jobs or []),
        resources=resources,
    )
