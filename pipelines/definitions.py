"""The code location. Everything is assembled inside `defs()`: no env reads, network or DB at import."""

from __future__ import annotations

import dagster as dg

from pipelines.resources import FootprintHomeResource


@dg.definitions
def defs() -> dg.Definitions:
    # Each stage contributes its assets/checks/sensors/jobs through a function in its own module.
    return dg.Definitions(
        assets=[],
        resources={"footprint": FootprintHomeResource()},
    )
