"""The code location's I/O manager: Dagster's filesystem pickling layout (`<base_dir>/<asset key>`,
default `$DAGSTER_HOME/storage`), but every write is atomic: the value is pickled to a temporary file
beside its destination and renamed over it (`warehouse.atomic.atomic_file`).

Dagster's own `FilesystemIOManager` writes in place, so two runs materializing the same asset at once
(a backfill beside a manual run, several runs of one job) can let a downstream step read a
half-written pickle and fail with "EOFError: Ran out of input". Here a reader always gets one whole
value: the newest complete one. Values are small (artifact handles, not datasets: those live under
$FOOTPRINT_HOME/artifacts and are referenced by path)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field
from upath import UPath

from warehouse.artifacts import ArtifactHandle
from warehouse.atomic import atomic_file


class AtomicPickleIOManager(dg.UPathIOManager):
    """Pickles each output to `<base_path>/<asset key path>`; writes go to a temp file then rename."""

    extension: str = ""  # the same file names as Dagster's fs_io_manager

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        if not isinstance(path, Path):  # a remote UPath: it cannot be renamed atomically (nor at all)
            raise dg.DagsterInvariantViolationError(
                f"{type(self).__name__} writes to a local directory only, not {path}; set base_dir to one"
            )
        try:
            # readers see the old or the new value
            with atomic_file(path) as tmp, tmp.open("wb") as file:
                pickle.dump(obj, file, pickle.HIGHEST_PROTOCOL)
        except (AttributeError, TypeError, RecursionError, ImportError, pickle.PicklingError) as err:
            raise dg.DagsterInvariantViolationError(
                f"the output of {context.step_key!r} cannot be pickled ({type(err).__name__}: {err}); "
                "return a small picklable value (e.g. an ArtifactHandle) and keep data on disk"
            ) from err

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, dg.MetadataValue]:
        """An ArtifactHandle's `path` metadata is its artifact (the Parquet file, the model directory
        under $FOOTPRINT_HOME/artifacts), not this pickle: Dagster puts the pickle's path there
        otherwise, over the asset's own (output metadata of the I/O manager wins)."""
        if isinstance(obj, ArtifactHandle):
            return {"path": dg.MetadataValue.path(obj.path)}
        return {}

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        with path.open("rb") as file:
            return pickle.load(file)


class AtomicFilesystemIOManager(dg.ConfigurableIOManagerFactory[AtomicPickleIOManager]):
    """`io_manager` resource of the code location. `base_dir` unset: the Dagster instance's storage
    directory (`$DAGSTER_HOME/storage`), as with Dagster's default."""

    base_dir: str | None = Field(default=None, description="Directory for the pickled outputs.")

    def create_io_manager(self, context: dg.InitResourceContext) -> AtomicPickleIOManager:
        if self.base_dir:
            base_dir = self.base_dir
        elif context.instance is not None:
            base_dir = context.instance.storage_directory()
        else:
            raise dg.DagsterInvariantViolationError(
                "AtomicFilesystemIOManager needs base_dir when no Dagster instance is available"
            )
        return AtomicPickleIOManager(base_path=UPath(base_dir))
