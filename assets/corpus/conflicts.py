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


def find_conflicts(group_hash: np.ndarray, source_label: pa.Array | pa.ChunkedArray) -> Conflicts:
    """The conflicting groups among rows grouped by `group_hash` (one 64-bit hash per row, in row
    order; `source_label` aligned with it). The kept row of a group is its first position."""
    n = len(group_hash)
    none = Conflicts(np.zeros(n, dtype=bool), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if n == 0:
        return none
    _, first, inverse, counts = np.unique(
        group_hash, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    candidates = np.flatnonzero(counts[inverse] > 1)  # rows of groups of two or more
    if len(candidates) == 0:
        return none
    labels = pc.dictionary_encode(pc.take(source_label, pa.array(candidates)))
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    codes = labels.indices.to_numpy(zero_copy_only=False)
    labelled = labels.indices.is_valid().to_numpy(zero_copy_only=False)
    group = inverse[candidates][labelled]
    pairs = np.unique(group * len(labels.dictionary) + codes[labelled].astype(np.int64))
    distinct = np.bincount(pairs // max(len(labels.dictionary), 1), minlength=len(first))
    conflicting = distinct > 1
    if not conflicting.any():
        return none
    rows = np.flatnonzero(conflicting[inverse])
    group_of = first[inverse[rows]].astype(np.int64)
    order = np.lexsort((rows, group_of))
    kept = np.zeros(n, dtype=bool)
    kept[first[conflicting]] = True
    return Conflicts(kept, rows[order].astype(np.int64), group_of[order])


def conflicts_table(batches: list[pa.RecordBatch], conflicts: Conflicts) -> pa.Table:
    """The conflicts artifact's rows, taken from `batches` (holding row_id, text and source_label of
    every row, in the order `find_conflicts` saw them). Taken batch by batch: a take on the whole
    chunked text column would first concatenate it, a copy of every text."""
    wanted = np.unique(np.concatenate([conflicts.rows, conflicts.group_of]))
    pieces: list[pa.RecordBatch] = []
    start = 0
    for batch in batches:
        lo, hi = np.searchsorted(wanted, [start, start + batch.num_rows])
        if hi > lo:
            pick = batch.select(["row_id", "text", "source_label"]).take(pa.array(wanted[lo:hi] - start))
            pieces.append(pick)
        start += batch.num_rows
    picked = pa.Table.from_batches(pieces, CONFLICTS_SCHEMA.remove(0)).combine_chunks()
    rows = picked.take(pa.array(np.searchsorted(wanted, conflicts.rows)))
    group_row_id = picked.column("row_id").take(pa.array(np.searchsorted(wanted, conflicts.group_of)))
    return pa.table(
        [group_row_id, rows.column("row_id"), rows.column("text"), rows.column("source_label")],
        schema=CONFLICTS_SCHEMA,
    )


def conflicts_path(corpus_path: Path) -> Path:
    """The conflicts artifact beside its clean corpus: <corpus stem>.conflicts.parquet."""
    return corpus_path.with_name(f"{corpus_path.stem}.conflicts.parquet")


def conflict_summary(groups: int, rows: int) -> str:
    """One sentence for the step log: the counts and the rule."""
    return f"{groups} label conflict group(s) holding {rows} row(s): {CONFLICT_RULE}"
