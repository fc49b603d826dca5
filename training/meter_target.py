"""Which materialization a training process belongs to, and where its facts go.

In order:
1. Dagster Pipes: the process was launched through Pipes (the pipeline's own `training.entry`, or a
   user's Dagster asset with `accounted()` + `PipesSubprocessClient`) with the extras
   `materialization_id` and `footprint_home` (optional `heartbeat_s`). The extras are read from the
   Pipes context params without opening the message channel (only one process may own it: rank 0 of
   `training.entry`, or the user's script); an opened PipesContext is read directly.
2. `footprint meter -- CMD`: the environment it exports (metering/cli.py: FOOTPRINT_HOME,
   FOOTPRINT_MATERIALIZATION_ID, FOOTPRINT_WINDOW_ID, FOOTPRINT_HEARTBEAT_S).
3. Neither: None (the run is not metered).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from metering.cli import ENV_HEARTBEAT_S, ENV_MATERIALIZATION_ID, ENV_WINDOW_ID
from metering.window import DEFAULT_HEARTBEAT_S
from warehouse.home import ENV_HOME, FootprintHome


@dataclass(frozen=True)
class MeterTarget:
    home: FootprintHome
    materialization_id: str
    source: str  # 'pipes', 'footprint meter' or 'given'
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    parent_window_id: str | None = None  # the meter window the command runs in (footprint meter)


def pipes_extras() -> dict[str, Any] | None:
    """The Pipes extras of this process, or None when it was not launched through Dagster Pipes."""
    try:
        from dagster_pipes import PipesContext, PipesDefaultContextLoader, PipesEnvVarParamsLoader
    except ImportError:  # a user's environment without Dagster
        return None
    if PipesContext.is_initialized():
        return dict(PipesContext.get().extras)
    loader = PipesEnvVarParamsLoader()
    if not loader.is_dagster_pipes_process():
        return None
    with PipesDefaultContextLoader().load_context(loader.load_context_params()) as data:
        return dict(data.get("extras") or {})


def find_target() -> MeterTarget | None:
    """The materialization this process runs for (see the module docstring), or None."""
    extras = pipes_extras() or {}
    if extras.get("materialization_id") and extras.get("footprint_home"):
        return MeterTarget(
            FootprintHome.resolve(str(extras["footprint_home"])),
            str(extras["materialization_id"]),
            "pipes",
            float(extras.get("heartbeat_s") or DEFAULT_HEARTBEAT_S),
        )
    mid = os.environ.get(ENV_MATERIALIZATION_ID)
    if mid and os.environ.get(ENV_HOME):
        return MeterTarget(
            FootprintHome.resolve(),
            mid,
            "footprint meter",
            float(os.environ.get(ENV_HEARTBEAT_S) or DEFAULT_HEARTBEAT_S),
            os.environ.get(ENV_WINDOW_ID) or None,
        )
    return None
