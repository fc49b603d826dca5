"""A user's own Dagster asset that runs their Hugging Face script (user_script.py) through Pipes,
inside accounted(), passing the materialization in the extras (docs/training.md)."""
# No `from __future__ import annotations` here: Dagster resolves the annotations at decoration.

import os
import sys
from pathlib import Path

import dagster as dg

from pipelines.accounting import accounted
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("user_script.py")


def user_env() -> dict[str, str]:
    """The step's environment for the user's process (the worktree importable), no materialization
    inherited from this test process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTPRINT_", "DAGSTER_PIPES_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


@dg.asset
def user_model(
    context: dg.AssetExecutionContext, footprint: FootprintHomeResource, user_data: ArtifactHandle
) -> dg.Output[ArtifactHandle]:
    """A user's own asset: their script through Pipes, inside accounted()."""
    with accounted(context, footprint, upstream=[user_data]) as rec:
        out = rec.home.artifacts_dir / "user_model" / rec.materialization_id
        dg.PipesSubprocessClient(env=user_env()).run(
            context=context,
            command=[sys.executable, str(SCRIPT), str(out)],
            extras={"materialization_id": rec.materialization_id, "footprint_home": str(rec.home.root)},
        )
        return dg.Output(rec.handle(out))
