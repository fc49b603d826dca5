"""Fact batches on this host, found by batch id: where a step looks for the ledger ticks that price it.

A published batch is in one of the host's batch directories: `pending/` (not yet merged or uploaded),
`uploaded/` (spooled here, already uploaded to a remote store) or `loaded/` (merged by the loader,
kept). A step never scans them: the ledger remembers the ids of the batches that price each window
(`metering.ledger`), and they are looked up here by id. Pruned batches are simply not found: the
caller says what is then unknown.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.atomic import TMP_PREFIX
from warehouse.batches import MANIFEST
from warehouse.facts import FACT_SCHEMAS
from warehouse.home import FootprintHome


class BatchReadError(OSError):
    """A batch was found but could not be read."""


def batch_dirs(home: FootprintHome) -> tuple[Path, ...]:
    """Where this host's published batches are, in the order a batch moves through them."""
    return (home.pending_dir, home.uploaded_dir, home.loaded_dir)


def find_batch(home: FootprintHome, batch_id: str) -> Path | None:
    """The directory of batch `batch_id` on this host, or None when it is in none of `batch_dirs`."""
    for d in batch_dirs(home):
        path = d / batch_id
        if (path / MANIFEST).is_file():
            return path
    return None


def read_batch(path: Path) -> dict[str, pa.Table]:
    """The fact tables of one published batch (the tables its MANIFEST names)."""
    tables: dict[str, pa.Table] = {}
    try:
        lines = (path / MANIFEST).read_text(encoding="utf-8").splitlines()
        for line in lines:
            name = line.partition("\t")[0]
            if name not in FACT_SCHEMAS:
                raise BatchReadError(f"batch {path.name}: unknown fact table {name!r} in its MANIFEST")
            tables[name] = pq.read_table(path / f"{name}.parquet")
    except (OSError, UnicodeDecodeError, pa.ArrowException) as err:
        if isinstance(err, BatchReadError):
            raise
        raise BatchReadError(f"batch {path.name} in {path.parent} could not be read: {err}") from err
    return tables


def local_batch_paths(home: FootprintHome) -> list[Path]:
    """Every published batch on this host (each id once, the first directory that holds it), oldest
    first: for lineage pricing, which needs whatever is upstream."""
    seen: dict[str, Path] = {}
    for d in batch_dirs(home):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name not in seen and not p.name.startswith(TMP_PREFIX) and (p / MANIFEST).is_file():
                seen[p.name] = p
    return [seen[k] for k in sorted(seen)]
