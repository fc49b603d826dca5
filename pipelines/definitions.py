"""The code location. Everything is assembled inside `defs()`: no env reads, network or DB at import."""

from __future__ import annotations

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
            "footprint": FootprintHomeResource(),
            "io_manager": AtomicFilesystemIOManager(),
            **annotation["resources"],
        },
    )
