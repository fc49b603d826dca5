"""An asset's artifacts and the store (`warehouse.store`, the `footprint` resource's `store()`).

    inputs = fetch_inputs(footprint, clean_corpus)        # before the recorder: checks read them
    corpus = inputs.local(clean_corpus)                    # a local path
    with accounted(context, footprint, upstream=[clean_corpus]) as rec:
        inputs.record(rec)                                 # Transfer facts of the downloads
        ... write out_path under rec.home ...
        return publish_handle(rec, footprint, out_path, rows=n)  # uploaded, Transfer recorded

With the local store nothing is copied: `local` is the handle's path and `publish_output` returns the
path itself (one machine, as before).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metering.recorder import MaterializationRecorder
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle, Moved, TransferSink, fetch, publish, record_moved
from warehouse.home import FootprintHome
from warehouse.store import Store


@dataclass
class Fetched:
    """Local copies of a step's input artifacts."""

    store: Store
    moved: dict[str, Moved] = field(default_factory=dict)  # by URL

    def local(self, handle: ArtifactHandle | str) -> Path:
        url = handle.path if isinstance(handle, ArtifactHandle) else handle
        return self.moved[url].local

    def record(self, rec: TransferSink) -> int:
        """Transfer facts of what was downloaded; returns the bytes."""
        return record_moved(rec, self.store, self.moved.values())

    def add(self, url: str, home: FootprintHome) -> Path:
        if url not in self.moved:
            self.moved[url] = fetch(self.store, url, home.cache_dir, home.root)
        return self.moved[url].local


def fetch_inputs(footprint: FootprintHomeResource, *handles: ArtifactHandle | str) -> Fetched:
    """Local copies of `handles` (ArtifactHandles or artifact URLs) in the step's cache."""
    got = Fetched(footprint.store())
    home = footprint.home()
    for h in handles:
        got.add(h.path if isinstance(h, ArtifactHandle) else h, home)
    return got


def publish_output(rec: TransferSink, footprint: FootprintHomeResource, local: Path) -> str:
    """Publish `local` (under the step's home) to the store, record the upload; returns its URL."""
    store = footprint.store()
    moved = publish(store, footprint.home().root, local)
    record_moved(rec, store, [moved])
    return moved.url


def publish_handle(
    rec: MaterializationRecorder,
    footprint: FootprintHomeResource,
    local: Path,
    *,
    rows: int | None = None,
    **extra: Any,
) -> ArtifactHandle:
    """`rec.handle(local, ...)` with `local` published: its `path` is the store URL (the local path
    with the local store)."""
    url = publish_output(rec, footprint, local)
    return dataclasses.replace(rec.handle(local, rows=rows, **extra), path=url)
