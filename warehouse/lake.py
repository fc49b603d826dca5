"""The fact log as a lake: every published batch, read straight from the store into a DuckDB connection.

    con = open_in_memory(card)              # warehouse.pricing: the same schema, views and card
    n = insert_lake(con, home)              # every batch: pending, merged (facts/loaded), spooled here
    rebuild_derived(con)

The warehouse is one loader's index of the fact log; the log itself is the store's batches, which the
loader keeps after merging (`facts/loaded/`). A step that must read many materializations' facts on
a machine without the warehouse (the footprint report, a model priced against its baseline) reads
them here, each batch once, and never opens the DuckDB file. This reads every batch: it is for
reports, not for every step (a step prices itself from its own batches, `warehouse.pricing`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from warehouse.batches import pending_batches
from warehouse.facts import FACT_SCHEMAS
from warehouse.home import FootprintHome
from warehouse.store import FACTS_LOADED, FACTS_PENDING, Store
from warehouse.upload import configured_store, list_batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LakeRead:
    batches: int  # batches read, each once
    facts: int
    incomplete: int  # batches in the store without a MANIFEST (not published: not read)


def lake_files(home: FootprintHome, store: Store) -> tuple[list[LakeTable], list[str], int]:
    """The files of every published batch ((filesystem, table, paths) groups), the batch ids and how
    many batches in the store lack their MANIFEST. Published: the store's pending and loaded batches
    and, for a remote store, this host's spool not yet uploaded. A batch present in several places is
    read from one."""
    seen: set[str] = set()
    incomplete = 0
    in_store: dict[str, list[str]] = defaultdict(list)
    for prefix in (FACTS_LOADED, FACTS_PENDING):
        listing = list_batches(store, prefix)
        incomplete += listing.incomplete
        for batch, names in listing.published.items():
            if batch in seen:
                continue
            seen.add(batch)
            for name, key in names.items():
                if name.removesuffix(".parquet") in FACT_SCHEMAS:
                    in_store[name.removesuffix(".parquet")].append(store.path(key))
    groups = [LakeTable(store.fs, name, paths) for name, paths in in_store.items()]
    if not store.local:
        spool: dict[str, list[str]] = defaultdict(list)
        for batch_dir in pending_batches(home):
            if batch_dir.name not in seen:
                seen.add(batch_dir.name)
                for file in batch_dir.glob("*.parquet"):
                    if file.stem in FACT_SCHEMAS:
                        spool[file.stem].append(str(file))
        groups += [LakeTable(pafs.LocalFileSystem(), name, paths) for name, paths in spool.items()]
    return groups, sorted(seen), incomplete


def lake_tables(home: FootprintHome, store: Store | None = None) -> tuple[dict[str, pa.Table], list[str]]:
    """Every published batch's facts as one table per fact (and the batch ids read, each once)."""
    store = store if store is not None else configured_store(home)
    groups, batches, _ = lake_files(home, store)
    tables: dict[str, list[pa.Table]] = defaultdict(list)
    for group in groups:
        tables[group.name].append(group.read())
    return {
        name: pa.concat_tables(parts, promote_options="default") for name, parts in tables.items()
    }, batches


def insert_lake(con: duckdb.DuckDBPyConnection, home: FootprintHome, store: Store | None = None) -> LakeRead:
    """Append every published batch's facts to `con` (an in-memory warehouse), each batch once."""
    from warehouse.price_model import insert_facts

    store = store if store is not None else configured_store(home)
    groups, batches, incomplete = lake_files(home, store)
    facts = 0
    for group in groups:
        table = group.read()
        insert_facts(con, {group.name: table})
        facts += table.num_rows
    if incomplete:
        log.info(
            "%d batches in %s have no MANIFEST yet (uploads in progress): not read", incomplete, store.url
        )
    return LakeRead(batches=len(batches), facts=facts, incomplete=incomplete)


@dataclass(frozen=True)
class LakeTable:
    """One fact table's files in one filesystem."""

    fs: pafs.FileSystem
    name: str
    paths: list[str]

    def read(self) -> pa.Table:
        """All files as one table, read in parallel (pyarrow's dataset scanner), in the fact's column
        order (a nullable column an older batch lacks is added as nulls by the insert)."""
        table = pads.dataset(self.paths, format="parquet", filesystem=self.fs).to_table()
        return table.select([f.name for f in FACT_SCHEMAS[self.name] if f.name in table.schema.names])
