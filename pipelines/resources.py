"""Dagster resources shared by every stage."""

from __future__ import annotations

import dagster as dg

from warehouse.home import FootprintHome


class FootprintHomeResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Where state lives. Empty `root` means `$FOOTPRINT_HOME` (read at run time), else `./var`."""

    root: str = ""
    heartbeat_s: float = 10.0

    def home(self) -> FootprintHome:
        return FootprintHome.resolve(self.root or None).ensure()
