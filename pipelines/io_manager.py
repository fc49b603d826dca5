"""The code location's I/O manager: Dagster's filesystem pickling layout (`<base_dir>/<asset key>`,
default `$DAGSTER_HOME/storage`), but every write is atomic: the value is pickled to a temporary file
beside its destination and renamed over it (`warehouse.atomic.atomic_file`).

Dagster's own `FilesystemIOManager` writes in place, so two runs materializing the same asset at once
(a backfill beside a manual run, several runs of one job) can let a downstream step read a
half-written pickle and fail with "EOFError: Ran out of input". Here a reader always gets one whole
value: the newest complete one. Values are small (artifact handles, not datasets: those live under
$FOOTPRINT_HOME/artifacts, or in the store, and are referenced by path or URL).

With a remote store (`FOOTPRINT_STORE`, `footprint` resource) the pickles live in the store instead,
at `<store>/dagster/storage/<asset key path>`, so that a step on another machine loads its inputs:
written by one object PUT (a reader sees the old or the new whole object) or, for a store on a
filesystem (`file:///shared/dir`), by a temporary object renamed over the destination."""

from __future__ import annotations

import os
import pickle
import posixpath
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.fs as pafs
from pydantic import Field
from upath import UPath

from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle
from warehouse.atomic import atomic_file
from warehouse.store import Store, StoreError

STORE_PREFIX = "dagster/storage"


class AtomicPickleIOManager(dg.UPathIOManager):
    """Pickles each output to `<base_path>/<asset key path>`; writes go to a temp file then rename."""

    extension: str = ""  # the same file names as Dagster's fs_io_manager

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        if not isinstance(path, Path):  # a remote UPath: it cannot be renamed atomically (nor at all)
            raise dg.DagsterInvariantViolationError(
                f"{type(self).__name__} writes to a local directory only, not {path}; set base_dir to one"
            )
        data = pickled(context, obj)
        with atomic_file(path) as tmp:  # readers see the old or the new value
            tmp.write_bytes(data)

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, dg.MetadataValue]:
        return handle_metadata(obj)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        with path.open("rb") as file:
            return pickle.load(file)


def pickled(context: dg.OutputContext | None, obj: Any) -> bytes:
    try:
        return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except (AttributeError, TypeError, RecursionError, ImportError, pickle.PicklingError) as err:
        step = context.step_key if context is not None else "the step"
        raise dg.DagsterInvariantViolationError(
            f"the output of {step!r} cannot be pickled ({type(err).__name__}: {err}); "
            "return a small picklable value (e.g. an ArtifactHandle) and keep data on disk"
        ) from err


def handle_metadata(obj: Any) -> dict[str, dg.MetadataValue]:
    """An ArtifactHandle's `path` metadata is its artifact (the Parquet file, the model directory: a
    path under $FOOTPRINT_HOME/artifacts or a store URL), not this pickle: Dagster puts the pickle's
    path there otherwise, over the asset's own (output metadata of the I/O manager wins)."""
    if isinstance(obj, ArtifactHandle):
        return {"path": dg.MetadataValue.path(obj.path)}
    return {}


class StorePickleIOManager(dg.IOManager):  # type: ignore[misc]
    """Pickles each output to `<store>/dagster/storage/<asset key path>[/<partition>]`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def key(self, context: dg.OutputContext | dg.InputContext) -> str:
        parts = list(context.asset_key.path) if context.has_asset_key else list(context.get_identifier())
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            if len(keys) != 1:
                raise dg.DagsterInvariantViolationError(
                    f"{type(self).__name__} loads one partition at a time, not {len(keys)}"
                )
            parts.append(keys[0])
        return posixpath.join(STORE_PREFIX, *parts)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        key = self.key(context)
        data = pickled(context, obj)
        if isinstance(self.store.fs, pafs.S3FileSystem):  # one PUT: the old or the new whole object
            self.store.put_bytes(key, data)
        else:  # a filesystem: written beside, then renamed over the destination
            tmp = f"{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.store.put_bytes(tmp, data)
            try:
                self.store.fs.move(self.store.path(tmp), self.store.path(key))
            except OSError as err:
                self.store.fs.delete_file(self.store.path(tmp))
                raise StoreError(f"store {self.store.url}: could not write {key}: {err}") from err
        context.add_output_metadata({**handle_metadata(obj), "pickle": self.store.uri(key)})

    def load_input(self, context: dg.InputContext) -> Any:
        key = self.key(context)
        try:
            data = self.store.get_bytes(key)
        except (FileNotFoundError, StoreError) as err:
            if self.store.exists(key):
                raise
            raise StoreError(
                f"{self.store.uri(key)} does not exist: the upstream output was not stored in "
                f"{self.store.url} (materialize it with FOOTPRINT_STORE set to this store)"
            ) from err
        return pickle.loads(data)


class AtomicFilesystemIOManager(dg.ConfigurableIOManagerFactory[dg.IOManager]):
    """`io_manager` resource of the code location. With `footprint` and a remote store: the store
    (`StorePickleIOManager`). Else local pickles under `base_dir`; unset: the Dagster instance's
    storage directory (`$DAGSTER_HOME/storage`), as with Dagster's default."""

    base_dir: str | None = Field(default=None, description="Directory for the pickled outputs.")
    footprint: FootprintHomeResource | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        if self.footprint is not None:
            store = self.footprint.store()
            if not store.local:
                return StorePickleIOManager(store)
        if self.base_dir:
            base_dir = self.base_dir
        elif context.instance is not None:
            base_dir = context.instance.storage_directory()
        else:
            raise dg.DagsterInvariantViolationError(
                "AtomicFilesystemIOManager needs base_dir when no Dagster instance is available"
            )
        return AtomicPickleIOManager(base_path=UPath(base_dir))
