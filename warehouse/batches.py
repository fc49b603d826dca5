"""Writing fact batches: one directory per batch, written under a temporary name (`.tmp-*`), fsynced,
then atomically renamed into `pending/` (`warehouse.atomic.atomic_dir`). A step never opens the
DuckDB file; the loader merges batches (see `warehouse.loader`). A reader therefore never sees half
a batch. With a remote store (`FOOTPRINT_STORE`), `pending/` is the local spool and the batch is then
uploaded manifest-last (`warehouse.upload`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.atomic import TMP_PREFIX, atomic_dir
from warehouse.facts import FACT_SCHEMAS, FactBatch
from warehouse.home import FootprintHome

MANIFEST = "MANIFEST"
log = logging.getLogger(__name__)


class BatchWriteError(RuntimeError):
    """A batch could not be written; nothing of it was published."""


def write_batch(home: FootprintHome, batch: FactBatch) -> Path | None:
    """Publish `batch` into `home.pending_dir`. Returns its directory, or None for an empty batch."""
    return write_tables(home, batch.batch_id, batch.to_tables())


def write_tables(home: FootprintHome, batch_id: str, tables: dict[str, pa.Table]) -> Path | None:
    """Publish pre-built Arrow tables (fast path for bulk writers such as benchmarks)."""
    if not tables:
        return None
    for name, table in tables.items():
        if name not in FACT_SCHEMAS:
            raise BatchWriteError(f"unknown fact table {name!r}; expected one of {sorted(FACT_SCHEMAS)}")
        if not table.schema.equals(FACT_SCHEMAS[name], check_metadata=False):
            raise BatchWriteError(f"table {name!r} in batch {batch_id} does not match the fact schema")
    pending = home.pending_dir
    pending.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = pending / batch_id
    try:
        with atomic_dir(final) as tmp:
            for name, table in tables.items():
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            manifest = "".join(f"{name}\t{t.num_rows}\n" for name, t in sorted(tables.items()))
            (tmp / MANIFEST).write_text(manifest)
    except OSError as err:
        if (final / MANIFEST).is_file():  # renamed into place; only the parent's fsync failed
            log.warning("fact batch %s published, but %s could not be fsynced: %s", batch_id, pending, err)
            return final
        raise BatchWriteError(f"could not write fact batch {batch_id} under {pending}: {err}") from err
    from warehouse.upload import after_write  # imported here: upload imports this module

    after_write(home, final)
    return final


def pending_batches(home: FootprintHome) -> list[Path]:
    """Published batches not yet merged, oldest first (batch ids sort by creation time)."""
    if not home.pending_dir.exists():
        return []
    return sorted(p for p in home.pending_dir.iterdir() if p.is_dir() and not p.name.startswith(TMP_PREFIX))
