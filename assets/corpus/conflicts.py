"""Label conflicts: groups of de-duplicated rows whose source labels disagree.

A group is every row (left after the length filters) that de-duplication treats as one text: the
same normalised key (`assets.corpus.cleaning.dedup_key`; the exact text when normalised
de-duplication is off). A group holding more than one distinct non-null `source_label` is a label
conflict. The rule (`CONFLICT_RULE`): the row de-duplication keeps (the group's first in row order)
gets split = 'conflict', neither train nor eval (no training on a contested label, no evaluation
against one; an annotation of it is a training label like any other); the group's other rows are
dropped as duplicates, as without a conflict; every row of the group is listed in the conflicts
artifact.

Conflicts artifact, beside the clean corpus (`conflicts_path`), CONFLICTS_SCHEMA, one row per row of
each conflicting group, ordered by group (its kept row's position) then row order:
    group_row_id  string, not null  row_id of the group's kept row (the one with split 'conflict')
    row_id        string, not null  the raw row id
    text          string, not null  this row's cleaned text
    source_label  string, nullable  this row's source label
It is written for every clean corpus, with no rows when there is no conflict.

Vectorised: numpy over the per-row 64-bit group hashes; labels are looked at only for rows of groups
of two or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CONFLICT_SPLIT = "conflict"
SPLITS = ("train", "eval", CONFLICT_SPLIT)
CONFLICT_RULE = (
    "duplicates whose source labels disagree are a label conflict: the row de-duplication keeps gets "
    "split 'conflict' (neither trained nor evaluated on unless annotated), the others are dropped as "
    "duplicates, and every row of the group is listed in the conflicts artifact"
)
CONFLICTS_SCHEMA = pa.schema(
    [
        pa.field("group_row_id", pa.string(), nullable=False),
        pa.field("row_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source_label", pa.string()),
    ]
)


@dataclass(frozen=True)
class Conflicts:
    kept: np.ndarray  # bool per row: the kept row of a conflicting group (gets split 'conflict')
    rows: np.ndarray  # int64 positions of every row of every conflicting group, by group then row
    group_of: np.ndarray  # int64 position of the kept row of the group of each of `rows`

    @property
    def groups(self) -> int:
        return int(self.kept.sum())


def find_conflicts(group_hash: np.ndarray, source_label: pa.ChunkedArray) -> Conflicts:
    """The conflicting groups among rows grouped by `group_hash` (one 64-bit hash per row, in row
    order; `source_label` aligned with it). The kept row of a group is its first position.

    Memory: one argsort of the hashes (8 bytes a row) and small arrays for the rows of
    groups of two or more; labels are read for those rows only, chunk by chunk."""
    n = len(group_hash)
    none = Conflicts(np.zeros(n, dtype=bool), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if n < 2:
        return none
    order = np.argsort(group_hash)  # by group (not stable: ~10x faster than a stable sort)
    sorted_hash = group_hash[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_hash[1:] != sorted_hash[:-1])))
    del sorted_hash
    sizes = np.diff(starts, append=n)
    multi = sizes > 1
    if not multi.any():
        return none
    rows = order[np.repeat(multi, sizes)]  # rows of groups of two or more, group by group
    group_first = np.minimum.reduceat(order, starts)[multi]  # a group's first row: its smallest
    first = np.repeat(group_first, sizes[multi])  # ... for each of `rows`
    del order
    group = np.repeat(np.arange(int(multi.sum())), sizes[multi])
    labels = pc.dictionary_encode(take_rows(source_label, rows))
    n_labels = max(len(labels.dictionary), 1)
    labelled = labels.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = labels.indices.to_numpy(zero_copy_only=False)[labelled].astype(np.int64)
    pairs = np.unique(group[labelled] * n_labels + codes)  # distinct (group, label)
    conflicting = np.bincount(pairs // n_labels, minlength=int(multi.sum())) > 1
    selected = conflicting[group]
    rows, first = rows[selected], first[selected]
    by_group = np.lexsort((rows, first))
    kept = np.zeros(n, dtype=bool)
    kept[first] = True
    return Conflicts(kept, rows[by_group].astype(np.int64), first[by_group].astype(np.int64))


def take_rows(column: pa.ChunkedArray, positions: np.ndarray) -> pa.Array:
    """column[positions], chunk by chunk: pyarrow's take on a chunked array first concatenates
    the chunks, a copy of the whole column."""
    sort = np.argsort(positions, kind="stable")
    ordered = positions[sort]
    pieces: list[pa.Array] = []
    start = 0
    for chunk in column.chunks:
        lo, hi = np.searchsorted(ordered, [start, start + len(chunk)])
        if hi > lo:
            pieces.append(chunk.take(pa.array(ordered[lo:hi] - start)))
        start += len(chunk)
    taken = pa.concat_arrays(pieces) if pieces else pa.array([], column.type)
    return taken.take(pa.array(np.argsort(sort)))  # back in the order of `positions`


def conflicts_table(batches: list[pa.RecordBatch], conflicts: Conflicts) -> pa.Table:
    """The conflicts artifact's rows, taken from `batches` (row_id, text and source_label of every
    row, in the order `find_conflicts` saw them)."""

    def column(name: str) -> pa.ChunkedArray:
        return pa.chunked_array([b.column(name) for b in batches], CONFLICTS_SCHEMA.field(name).type)

    row_id = column("row_id")
    return pa.table(
        [
            take_rows(row_id, conflicts.group_of),
            take_rows(row_id, conflicts.rows),
            take_rows(column("text"), conflicts.rows),
            take_rows(column("source_label"), conflicts.rows),
        ],
        schema=CONFLICTS_SCHEMA,
    )


def conflicts_path(corpus_path: Path) -> Path:
    """The conflicts artifact beside its clean corpus: <corpus stem>.conflicts.parquet."""
    return corpus_path.with_name(f"{corpus_path.stem}.conflicts.parquet")


def conflict_summary(groups: int, rows: int) -> str:
    """One sentence for the step log: the counts and the rule."""
    return f"{groups} label conflict group(s) holding {rows} row(s): {CONFLICT_RULE}"
