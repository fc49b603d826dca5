"""Uploading spooled fact batches to a remote store, manifest-last.

With a remote store (`FOOTPRINT_STORE`, see `warehouse.store`) a batch is first published into the
local spool (`$FOOTPRINT_HOME/facts/pending/<batch_id>/`, atomically, as on one machine) and then
uploaded: every `<table>.parquet` object first, the `MANIFEST` object last. Object stores have no
directory rename, so the MANIFEST is the publication: the loader merges only batches whose MANIFEST
is there, and a batch whose upload was cut off is simply uploaded again (same keys, same bytes) and
merged once, by batch id. An uploaded batch moves to `facts/uploaded/` (this host's steps price
their own ticks from it) and is pruned after `UPLOADED_KEEP_S`.

A store that cannot be reached never fails the step and never loses a fact: the batch stays in the
spool, one warning says so and what to do, and the next write (any step on this host) or
`footprint sync --upload` uploads everything spooled. While the store is down, writers skip the
upload for `RETRY_AFTER_S` after a failure instead of waiting out the network timeout on every batch.
At the end of a step (`flush_at_exit`, called by the recorder) the spool is retried a few times,
because the step's machine may not outlive it; what still remains is said once, at ERROR.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.atomic import TMP_PREFIX
from warehouse.batches import MANIFEST, pending_batches
from warehouse.home import FootprintHome
from warehouse.store import ENV_STORE, FACTS_PENDING, Store, StoreError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30.0
UPLOADED_KEEP_S = 24 * 3600.0
FLUSH_WAITS_S = (2.0, 5.0, 10.0)  # the end of a step: retries before a batch is left spooled
DRAIN_PER_WRITE = 20  # older spooled batches a writer uploads after its own (bounded: steps stay quick)

_lock = threading.Lock()
_stores: dict[tuple[str, ...], Store] = {}
_down_until: dict[str, float] = {}  # store url -> monotonic time before which writers do not retry
_warned: set[str] = set()


@dataclass
class UploadResult:
    uploaded: list[str] = field(default_factory=list)  # batch ids
    left: int = 0  # still spooled
    error: str | None = None  # why the store could not be written (no secret in it)


def configured_store(home: FootprintHome) -> Store:
    """The store this process writes facts to (`$FOOTPRINT_STORE` and the AWS_* settings, read now;
    one client per configuration and process)."""
    env = os.environ
    key = (
        str(home.root),
        env.get(ENV_STORE, ""),
        env.get("AWS_ENDPOINT_URL", ""),
        env.get("AWS_ACCESS_KEY_ID", ""),
        env.get("AWS_REGION", ""),
    )
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store.configured(home)
        return store


def batch_key(batch_id: str, name: str = "") -> str:
    return f"{FACTS_PENDING}/{batch_id}/{name}".rstrip("/")


def upload_batch(store: Store, batch_dir: Path) -> int:
    """Upload one spooled batch: its Parquet files, then its MANIFEST. Returns the bytes sent."""
    manifest = batch_dir / MANIFEST
    if not manifest.is_file():
        raise StoreError(f"{batch_dir} has no {MANIFEST}: not a published batch, not uploaded")
    sent = 0
    for file in sorted(batch_dir.iterdir()):
        if file.name != MANIFEST and file.is_file():
            store.put_file(file, batch_key(batch_dir.name, file.name))
            sent += file.stat().st_size
    data = manifest.read_bytes()
    store.put_bytes(batch_key(batch_dir.name, MANIFEST), data)  # last: the batch is published now
    return sent + len(data)


@dataclass(frozen=True)
class StoreListing:
    """One listing of the batches under a prefix of the store."""

    published: dict[str, dict[str, str]]  # batch id -> object name -> key, oldest first (MANIFEST there)
    incomplete: int  # batches without their MANIFEST: an upload in progress or cut off


def list_batches(store: Store, prefix: str = FACTS_PENDING) -> StoreListing:
    """The batches under `prefix` (`facts/pending`, `facts/loaded`), from one listing: a batch is
    published when its MANIFEST object is there (manifest-last)."""
    files: dict[str, dict[str, str]] = {}
    for key, _ in store.list_files(prefix):
        batch, _, name = key[len(prefix) + 1 :].partition("/")
        if name and "/" not in name and not batch.startswith(TMP_PREFIX):
            files.setdefault(batch, {})[name] = key
    published = {b: names for b, names in sorted(files.items()) if MANIFEST in names}
    return StoreListing(published, len(files) - len(published))


def after_write(home: FootprintHome, batch_dir: Path) -> None:
    """Called by the batch writer: upload this batch and a few older spooled ones, unless the store
    is the local home or failed moments ago. Never raises: the batch is safe in the spool."""
    store = configured_store(home)
    if store.local:
        return
    with _lock:
        if time.monotonic() < _down_until.get(store.url, 0.0):
            return
    older = [b for b in pending_batches(home) if b != batch_dir][:DRAIN_PER_WRITE]
    upload_spool(home, store, batches=[batch_dir, *older])


def flush_at_exit(home: FootprintHome, *, waits_s: tuple[float, ...] = FLUSH_WAITS_S) -> UploadResult | None:
    """At the end of a step with a remote store: try a few times (waiting `waits_s` between tries,
    past the writers' back-off) to leave nothing in the spool, because a step's machine may not
    outlive it (a pod). Returns None when there was nothing to do. Never raises: what is still
    spooled is said once, at ERROR, with what to run."""
    store = configured_store(home)
    if store.local:
        return None
    prune_uploaded(home)  # here, once per step, not on every batch write
    if not pending_batches(home):
        return None
    result = upload_spool(home, store)
    for wait_s in waits_s:
        if result.error is None:
            return result
        time.sleep(wait_s)
        result = upload_spool(home, store)
    if result.error is not None:
        log.error(
            "%d fact batches could not be uploaded to %s and remain in %s; they are lost if this "
            "machine's disk is (an ephemeral pod): run `footprint sync --upload` here once the store is back",
            result.left,
            store.url,
            home.pending_dir,
        )
    return result


def upload_spool(home: FootprintHome, store: Store, *, batches: list[Path] | None = None) -> UploadResult:
    """Upload spooled batches (default: all) to `store`, each moved to `facts/uploaded/` once its
    MANIFEST is up. Stops at the first store error (the rest stay spooled) and reports it."""
    result = UploadResult()
    todo = pending_batches(home) if batches is None else batches
    for batch in todo:
        if not batch.is_dir():  # uploaded and moved by another process meanwhile
            continue
        try:
            upload_batch(store, batch)
        except StoreError as err:
            result.error = str(err)
            _degraded(home, store, err)
            break
        _retire_uploaded(home, batch)
        result.uploaded.append(batch.name)
    if result.error is None:
        with _lock:
            if _down_until.pop(store.url, None) is not None or store.url in _warned:
                _warned.discard(store.url)
                log.warning("store %s reachable again: spooled fact batches are being uploaded", store.url)
    result.left = len(pending_batches(home))
    return result


def _degraded(home: FootprintHome, store: Store, err: StoreError) -> None:
    with _lock:
        _down_until[store.url] = time.monotonic() + RETRY_AFTER_S
        first = store.url not in _warned
        _warned.add(store.url)
    if first:
        log.warning(
            "%s; fact batches stay in the local spool %s (nothing is lost) and are uploaded by the next "
            "step on this host or by `footprint sync --upload`",
            err,
            home.pending_dir,
        )


def _retire_uploaded(home: FootprintHome, batch: Path) -> None:
    dest = home.uploaded_dir / batch.name
    home.uploaded_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if dest.exists():  # uploaded twice (two writers drained the same batch): keep one copy
            shutil.rmtree(batch, ignore_errors=True)
        else:
            batch.rename(dest)
            os.utime(dest)  # kept UPLOADED_KEEP_S from now
    except FileNotFoundError:  # another writer moved it first
        pass


def prune_uploaded(home: FootprintHome, keep_s: float = UPLOADED_KEEP_S) -> None:
    """Delete uploaded batches kept longer than `keep_s` (at the end of a step, `sync --upload`)."""
    if not home.uploaded_dir.exists():
        return
    cutoff = time.time() - keep_s
    for batch in home.uploaded_dir.iterdir():
        try:
            if batch.stat().st_mtime < cutoff:
                shutil.rmtree(batch, ignore_errors=True)
        except FileNotFoundError:
            continue


def reset_for_tests() -> None:
    """Forget cached clients and the degraded state (tests change the environment between cases)."""
    with _lock:
        _stores.clear()
        _down_until.clear()
        _warned.clear()
