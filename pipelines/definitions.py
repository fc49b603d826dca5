"""The code location. Everything is assembled inside `defs()`: no env reads, network or DB at import."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from assets.annotation import definitions as annotation_definitions
from assets.corpus import definitions as corpus_definitions
from assets.report import definitions as report_definitions
from assets.training import definitions as training_definitions
from pipelines.io_manager import AtomicFilesystemIOManager
from pipelines.jobs import main_job
from pipelines.resources import FootprintHomeResource
from pipelines.sensors import warehouse_sync_sensor


@dg.definitions
def defs() -> dg.Definitions:
    # Each stage contributes its assets/checks/sensors/jobs through a function in its own module.
    annotation = annotation_definitions()
    footprint = footprint_resource()
    return dg.Definitions(
        assets=[
            *corpus_definitions(),
            *annotation["assets"],
            *training_definitions(),
            *report_definitions(),
        ],
        jobs=[main_job()],
        sensors=[warehouse_sync_sensor, *annotation["sensors"]],
        resources={
            "footprint": footprint,
            "io_manager": AtomicFilesystemIOManager(footprint=footprint),
            **annotation["resources"],
        },
    )


# resource field <- environment variable; an EnvVar of an unset variable fails the run, so only the
# variables set when the code location loads are bound (the others keep their run-time fallbacks)
STORE_ENV = {
    "store_url": "FOOTPRINT_STORE",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "aws_region": "AWS_REGION",
}


def footprint_resource() -> FootprintHomeResource:
    """The `footprint` resource, its store settings bound to the variables set now (as EnvVars: the UI
    shows their names, never their values)."""
    bound: dict[str, Any] = {f: dg.EnvVar(var) for f, var in STORE_ENV.items() if os.environ.get(var)}
    return FootprintHomeResource(**bound)
