"""Artifact handles: what a materialization produced, handed from an asset to its downstream so that
lineage names the exact upstream materialization consumed, never "the latest".

A handle's `path` is where any machine finds the artifact: a plain path under `$FOOTPRINT_HOME` with
the local store (one machine, the default), else the store URL it was published to
(`$FOOTPRINT_STORE/artifacts/<asset>/<materialization id>...`, `warehouse.store`). A step writes its
output under its own home, then `publish`es it; a step reading a handle gets a local copy with
`handle.fetch(store, cache_dir)` (the path itself for the local store: nothing is copied). Both return
a `Moved` saying how many bytes went over the wire and how long it took, measured; `record_moved`
turns that into the step's Transfer facts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from warehouse.store import ENV_STORE, Store, StoreError

# Transfer.endpoint_kind of bytes moved to or from the store (the vocabulary of warehouse/facts.py)
ENDPOINT_KIND = "object-store"


@dataclass(frozen=True)
class Moved:
    """One artifact's trip to or from the store. `bytes` and `duration_s` are 0 when nothing moved
    (the local store, or a copy already in the cache)."""

    direction: str  # 'upload' | 'download'
    url: str  # the artifact's URL (its path for the local store)
    local: Path  # the local file or directory
    bytes: int
    files: int
    duration_s: float


@dataclass(frozen=True)
class ArtifactHandle:
    asset_key: str
    materialization_id: str
    path: str  # a local path (local store) or the store URL of the artifact
    bytes: int
    rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local_path(self) -> Path:
        """The artifact's path, for a handle made with the local store only (use `fetch` otherwise)."""
        if is_url(self.path):
            raise StoreError(
                f"the {self.asset_key} artifact {self.path} is in a store, not a local path; read it "
                "through handle.fetch(store, cache_dir) with the store set by "
                f"{ENV_STORE}"
            )
        return Path(self.path)

    def fetch(self, store: Store, cache_dir: Path, home_root: Path | None = None) -> Moved:
        """A local copy of this artifact (`Moved.local`); see `fetch`."""
        return fetch(store, self.path, cache_dir, home_root)


def is_url(path: str) -> bool:
    return "://" in path


def fetch(store: Store, url: str, cache_dir: Path, home_root: Path | None = None) -> Moved:
    """A local copy of the file or tree at `url` (`warehouse.store.Store.fetch`), with what the
    download moved. A URL of another store is refused (StoreError naming FOOTPRINT_STORE), and so is
    a URL whose object does not exist (StoreError naming it). `home_root`: the step's home, whose copy
    at the same key is used when present (this machine published it; a key names one
    materialization's output, never rewritten)."""
    key = None if store.local else store.key_of(url)
    if key and home_root is not None and (home_root / key).exists():
        return Moved("download", url, home_root / key, 0, 0, 0.0)
    cached = key is not None and (cache_dir / key).exists()
    t0 = time.perf_counter()
    local = store.fetch(url, cache_dir)
    duration_s = time.perf_counter() - t0
    if not local.exists():  # a plain path (the local store's URLs) not on this machine
        raise StoreError(
            f"the artifact {url} does not exist on this machine: it was written with the local store "
            f"({ENV_STORE} unset) of the machine that produced it; set {ENV_STORE} to a store every "
            "step shares and re-materialize the asset that produced it"
        )
    if key is None or cached:  # a local path, or a copy already here: nothing moved
        return Moved("download", url, local, 0, 0, 0.0)
    return Moved("download", url, local, tree_bytes(local), _files(local), duration_s)


def publish(store: Store, root: Path, local: Path) -> Moved:
    """Upload `local` (a file or a directory under `root`, the step's home) to the store at the same
    key as its path below `root`: `$FOOTPRINT_HOME/artifacts/x/<id>.parquet` becomes
    `<store>/artifacts/x/<id>.parquet`. The local store copies nothing and returns the path."""
    try:
        key = local.resolve().relative_to(root.resolve()).as_posix()
    except ValueError as err:
        raise StoreError(f"{local} is not under the step's home {root}: it has no key in the store") from err
    if not local.exists():
        raise StoreError(f"cannot publish {local}: it does not exist")
    t0 = time.perf_counter()
    url = store.put_tree(local, key) if local.is_dir() else store.put_file(local, key)
    duration_s = time.perf_counter() - t0
    if store.local:
        return Moved("upload", url, local, 0, 0, 0.0)
    return Moved("upload", url, local, tree_bytes(local), _files(local), duration_s)


class TransferSink(Protocol):
    """What records Transfer facts (metering.recorder.MaterializationRecorder)."""

    def add_transfer(
        self,
        *,
        bytes_: int,
        duration_s: float,
        direction: str,
        endpoint_kind: str,
        scope: str,
        endpoint: str = "",
        requests: int = 0,
    ) -> None: ...


def record_moved(rec: TransferSink, store: Store, moved: Iterable[Moved]) -> int:
    """A Transfer fact per trip that moved bytes (endpoint kind 'object-store', scope 'network': the
    store is another machine's disk or an object store; the local store moves nothing and records
    nothing). Returns the bytes recorded."""
    total = 0
    for m in moved:
        if store.local or m.files == 0:
            continue
        rec.add_transfer(
            bytes_=m.bytes,
            duration_s=m.duration_s,
            direction=m.direction,
            endpoint_kind=ENDPOINT_KIND,
            scope="network",
            endpoint=m.url,
            requests=m.files,
        )
        total += m.bytes
    return total


def tree_bytes(path: Path) -> int:
    """Bytes held by a file, or by every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _files(path: Path) -> int:
    return 1 if path.is_file() else sum(1 for p in path.rglob("*") if p.is_file())
