"""Merging pending fact batches into the warehouse, idempotently (batch id as key).

Called wherever the warehouse lives (a step never merges): by `footprint sync`, by the demo and by the
Dagster sensor. A batch that cannot be read is moved to `quarantine/` with a REASON.txt and recorded
in `quarantined_batch`; the other batches still load. A batch already loaded (crash between commit
and move) is skipped, never loaded twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.batches import MANIFEST, TMP_PREFIX, pending_batches
from warehouse.connection import WarehouseLockedError, connect, ensure_schema
from warehouse.facts import FACT_SCHEMAS
from warehouse.home import FootprintHome, make_private_dir
from warehouse.store import FACTS_LOADED, FACTS_QUARANTINE, Store, StoreError
from warehouse.upload import batch_key, configured_store, list_batches, upload_spool
from warehouse.views import ensure_views, merge_derived

log = logging.getLogger(__name__)

# A `.tmp-<id>` batch directory is a write in progress (milliseconds) or the leftover of a writer that
# died mid-write (never published, never loaded). One untouched for this long is the latter.
STALE_TMP_S = 3600.0
STORE_REQUESTS_IN_FLIGHT = 16


@dataclass
class SyncResult:
    loaded_batches: int = 0
    loaded_facts: int = 0
    skipped_batches: int = 0
    quarantined: dict[str, str] = field(default_factory=dict)  # batch id -> reason
    pending_left: int = 0
    locked: bool = False
    stale_tmp_removed: list[str] = field(default_factory=list)  # leftover .tmp-* dirs deleted
    uploaded_batches: int = 0  # this host's spooled batches uploaded first (remote store)
    incomplete_uploads: int = 0  # batches in the store without their MANIFEST yet (not merged)
    store_error: str | None = None  # the store could not be read (try_sync): nothing merged


class CorruptBatchError(ValueError):
    pass


def _check_batch(batch: Path) -> dict[str, int]:
    """Validate a batch directory before loading: manifest, files, schemas, row counts, batch id."""
    manifest = batch / MANIFEST
    if not manifest.exists():
        raise CorruptBatchError("MANIFEST missing (batch written by an incompatible version?)")
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CorruptBatchError(f"MANIFEST is unreadable: {err}") from err
    counts: dict[str, int] = {}
    for line in lines:
        name, _, n = line.partition("\t")
        if name not in FACT_SCHEMAS:
            raise CorruptBatchError(f"unknown fact table {name!r} in MANIFEST")
        if not n.isdigit():
            raise CorruptBatchError(f"MANIFEST line {line!r} has no row count")
        path = batch / f"{name}.parquet"
        try:
            with pq.ParquetFile(path) as file:
                meta, schema = file.metadata, file.schema_arrow
        except Exception as err:  # pyarrow raises several types for truncated/garbled files
            raise CorruptBatchError(f"{path.name} is unreadable: {err}") from err
        if meta.num_rows != int(n):
            raise CorruptBatchError(f"{path.name} has {meta.num_rows} rows, MANIFEST says {n}")
        if not _matches_schema(schema.remove_metadata(), FACT_SCHEMAS[name]):
            raise CorruptBatchError(f"{path.name} does not match the {name} fact schema")
        _check_batch_id(batch, path, meta)
        counts[name] = int(n)
    return counts


def _matches_schema(schema: pa.Schema, expected: pa.Schema) -> bool:
    """The fact schema, or one an older version wrote that still loads (`INSERT ... BY NAME`): the same
    columns and types, except that `fact_id` may be a 32-character hex string (cast to UUID on insert),
    a column the file marks non-null may be nullable now, and a nullable column added to the fact
    later may be absent (NULL for those rows)."""
    if schema.equals(expected, check_metadata=False):
        return True
    for f in schema:
        i = expected.get_field_index(f.name)
        if i < 0:
            return False
        want = expected.field(i)
        same_type = f.type == want.type or (f.name == "fact_id" and f.type == pa.string())
        if not same_type or (f.nullable and not want.nullable):
            return False
    return all(f.nullable for f in expected if schema.get_field_index(f.name) < 0)


def _check_batch_id(batch: Path, path: Path, meta: pq.FileMetaData) -> None:
    """The batch_id column must name this directory (a copied or renamed batch would load twice)."""
    col = meta.schema.names.index("batch_id")
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is not None and stats.has_min_max and not (stats.min == stats.max == batch.name):
            raise CorruptBatchError(
                f"{path.name} holds facts of batch {stats.min!r}..{stats.max!r}, not {batch.name!r}"
            )


def remove_stale_tmp(home: FootprintHome, *, older_than_s: float = STALE_TMP_S) -> list[str]:
    """Delete `.tmp-*` batch dirs in pending/ whose newest file is older than `older_than_s`: the
    remains of a writer killed mid-write. Their facts were never published (the rename is the
    publication), so nothing is lost; a write in progress is seconds old and is left alone."""
    if not home.pending_dir.exists():
        return []
    cutoff = time.time() - older_than_s
    removed: list[str] = []
    for tmp in sorted(home.pending_dir.glob(f"{TMP_PREFIX}*")):
        try:
            newest = max([tmp.lstat().st_mtime, *(p.lstat().st_mtime for p in tmp.rglob("*"))])
        except OSError:  # vanished under us: its writer finished or another sync removed it
            continue
        if newest < cutoff and tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp.name)
            log.warning("removed %s: an unpublished fact batch left by a writer that died mid-write", tmp)
    return removed


def pending_count(home: FootprintHome) -> int:
    """Batches published and not yet merged (readers report this: 'N fact batches pending')."""
    return len(pending_batches(home))


def _quarantine(home: FootprintHome, con: duckdb.DuckDBPyConnection, batch: Path, reason: str) -> None:
    dest = home.quarantine_dir / batch.name
    home.quarantine_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.move(str(batch), dest)
    (dest / "REASON.txt").write_text(reason + "\n")
    con.execute(
        "INSERT INTO quarantined_batch VALUES (?, ?, ?)", [batch.name, dt.datetime.now(dt.UTC), reason]
    )
    log.error("fact batch %s quarantined: %s (moved to %s)", batch.name, reason, dest)


def _insert(con: duckdb.DuckDBPyConnection, batches: list[Path], counts: dict[Path, dict[str, int]]) -> int:
    total = 0
    new: set[str] = set()
    for table in FACT_SCHEMAS:
        files = [str(b / f"{table}.parquet") for b in batches if table in counts[b]]
        if files:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [files])
            new.add(table)
            total += sum(counts[b][table] for b in batches if table in counts[b])
    merge_derived(con, new, [b.name for b in batches])
    now = dt.datetime.now(dt.UTC)
    con.executemany(
        "INSERT INTO loaded_batch VALUES (?, ?, ?)",
        [[b.name, now, sum(counts[b].values())] for b in batches],
    )
    return total


def sync(
    home: FootprintHome, *, wait_s: float = 30.0, keep_loaded: bool = True, store: Store | None = None
) -> SyncResult:
    """Merge every published batch: from the local `pending/` (one machine), or, with a remote store
    (`FOOTPRINT_STORE`), first this host's spool is uploaded and then every batch whose MANIFEST is in
    the store is merged. Merged batches are kept (`facts/loaded/`, locally or in the store: the fact
    log that readers without the warehouse use, `warehouse.lake`) unless `keep_loaded` is False (local only).
    Raises WarehouseLockedError if the file stays locked for `wait_s`; StoreError if the store cannot
    be read (nothing is merged then)."""
    store = store if store is not None else configured_store(home)
    source: BatchSource = LocalSource(home, keep_loaded) if store.local else StoreSource(home, store)
    result = SyncResult()
    con = connect(home, read_only=False, wait_s=wait_s)
    try:
        # Facts carry their own order (seq, timestamps): letting DuckDB write the rows of a bulk
        # insert in any order lets both cores write row groups (about 1.3x faster on 1M facts).
        con.execute("SET preserve_insertion_order = false")
        ensure_schema(con)
        ensure_views(con)
        result.stale_tmp_removed = source.prepare(result)
        names = source.published()  # listed under the lock: a sync before us may have loaded some
        if not names:
            return result
        already = {
            r[0]
            for r in con.execute(
                "SELECT batch_id FROM loaded_batch WHERE batch_id IN (SELECT unnest(?))", [names]
            ).fetchall()
        }
        result.skipped_batches = len(already)
        source.retire(sorted(already))  # merged by a loader that died before retiring them
        fresh: list[Path] = []
        counts: dict[Path, dict[str, int]] = {}
        for b in source.stage([n for n in names if n not in already]):
            try:
                counts[b] = _check_batch(b)
                fresh.append(b)
            except CorruptBatchError as err:
                source.quarantine(con, b, str(err))
                result.quarantined[b.name] = str(err)
        try:
            con.execute("BEGIN")
            result.loaded_facts = _insert(con, fresh, counts)
            con.execute("COMMIT")
            ok = fresh
        except duckdb.Error:
            con.execute("ROLLBACK")
            ok = []  # one bad file spoils the bulk statement: fall back to one batch at a time
            result.loaded_facts = 0
            for b in fresh:
                try:
                    con.execute("BEGIN")
                    result.loaded_facts += _insert(con, [b], counts)
                    con.execute("COMMIT")
                    ok.append(b)
                except duckdb.Error as err:
                    con.execute("ROLLBACK")
                    source.quarantine(con, b, f"load failed: {err}")
                    result.quarantined[b.name] = f"load failed: {err}"
        result.loaded_batches = len(ok)
        source.retire([b.name for b in ok])
    finally:
        con.close()
        source.cleanup()
    result.pending_left = source.pending_count()
    return result


class BatchSource(Protocol):
    """Where the loader finds published batches and what it does with them once merged."""

    def prepare(self, result: SyncResult) -> list[str]: ...  # housekeeping; returns removed leftovers
    def published(self) -> list[str]: ...  # batch ids, oldest first
    def stage(self, names: list[str]) -> list[Path]: ...  # local directories to check and insert
    def retire(self, names: list[str]) -> None: ...
    def quarantine(self, con: duckdb.DuckDBPyConnection, batch: Path, reason: str) -> None: ...
    def pending_count(self) -> int: ...
    def cleanup(self) -> None: ...


class LocalSource:
    """One machine: batches are directories in `$FOOTPRINT_HOME/facts/pending/`."""

    def __init__(self, home: FootprintHome, keep_loaded: bool) -> None:
        self.home, self.keep_loaded = home, keep_loaded

    def prepare(self, result: SyncResult) -> list[str]:
        return remove_stale_tmp(self.home)

    def published(self) -> list[str]:
        return [b.name for b in pending_batches(self.home)]

    def stage(self, names: list[str]) -> list[Path]:
        return [self.home.pending_dir / n for n in names]

    def retire(self, names: list[str]) -> None:
        for name in names:
            _retire(self.home, self.home.pending_dir / name, self.keep_loaded)

    def quarantine(self, con: duckdb.DuckDBPyConnection, batch: Path, reason: str) -> None:
        _quarantine(self.home, con, batch, reason)

    def pending_count(self) -> int:
        return pending_count(self.home)

    def cleanup(self) -> None:
        return None


class StoreSource:
    """A remote store: this host's spool is uploaded first; a batch is published when its MANIFEST
    object exists (manifest-last); published batches are downloaded to a local staging directory
    (`facts/incoming/`), checked and inserted exactly as local ones, then copied to
    `facts/loaded/<id>/` in the store and deleted from `facts/pending/`."""

    def __init__(self, home: FootprintHome, store: Store) -> None:
        self.home, self.store = home, store
        self.incoming = home.root / "facts" / "incoming"
        self._published: list[str] = []
        self._executor: ThreadPoolExecutor | None = None

    def prepare(self, result: SyncResult) -> list[str]:
        up = upload_spool(self.home, self.store)
        result.uploaded_batches = len(up.uploaded)
        if up.error is not None:
            raise StoreError(up.error)
        shutil.rmtree(self.incoming, ignore_errors=True)  # a killed loader's downloads
        listing = list_batches(self.store)
        self._published = list(listing.published)
        result.incomplete_uploads = listing.incomplete
        return []

    def published(self) -> list[str]:
        return self._published

    def stage(self, names: list[str]) -> list[Path]:
        make_private_dir(self.incoming)

        def download(name: str) -> Path:
            return self.store.download_tree(batch_key(name), self.incoming / name)

        return list(self._pool().map(download, names))  # in order: oldest first

    def retire(self, names: list[str]) -> None:
        def move(name: str) -> None:
            self.store.copy_tree(batch_key(name), f"{FACTS_LOADED}/{name}")
            self.store.delete_tree(batch_key(name))  # after the copy: a kill between leaves a re-copy
            shutil.rmtree(self.incoming / name, ignore_errors=True)

        list(self._pool().map(move, names))

    def _pool(self) -> ThreadPoolExecutor:
        """Requests to an object store wait on the network: several at once (the client is
        thread-safe)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(STORE_REQUESTS_IN_FLIGHT, thread_name_prefix="loader-store")
        return self._executor

    def quarantine(self, con: duckdb.DuckDBPyConnection, batch: Path, reason: str) -> None:
        dest = f"{FACTS_QUARANTINE}/{batch.name}"
        self.store.copy_tree(batch_key(batch.name), dest)
        self.store.put_bytes(f"{dest}/REASON.txt", (reason + "\n").encode())
        self.store.delete_tree(batch_key(batch.name))
        shutil.rmtree(batch, ignore_errors=True)
        con.execute(
            "INSERT INTO quarantined_batch VALUES (?, ?, ?)", [batch.name, dt.datetime.now(dt.UTC), reason]
        )
        log.error("fact batch %s quarantined: %s (moved to %s)", batch.name, reason, self.store.uri(dest))

    def pending_count(self) -> int:
        try:
            listing = list_batches(self.store)
        except StoreError:
            return -1
        return len(listing.published) + listing.incomplete + len(pending_batches(self.home))

    def cleanup(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        shutil.rmtree(self.incoming, ignore_errors=True)


def _retire(home: FootprintHome, batch: Path, keep: bool) -> None:
    if keep:
        home.loaded_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        dest = home.loaded_dir / batch.name
        if dest.exists():
            shutil.rmtree(dest)
        batch.rename(dest)
    else:
        shutil.rmtree(batch, ignore_errors=True)


def try_sync(home: FootprintHome, *, wait_s: float = 2.0) -> SyncResult:
    """Best effort (the sensor): a locked warehouse or an unreachable store is said, not raised."""
    try:
        return sync(home, wait_s=wait_s)
    except WarehouseLockedError:
        res = SyncResult(locked=True)
        res.pending_left = pending_count(home)
        log.info("warehouse locked; %d fact batches stay pending until the next sync", res.pending_left)
        return res
    except StoreError as err:
        res = SyncResult(store_error=str(err))
        res.pending_left = len(pending_batches(home))
        log.warning("%s; nothing merged, %d batches spooled on this host", err, res.pending_left)
        return res
