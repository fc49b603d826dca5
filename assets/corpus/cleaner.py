"""Clean a raw corpus Parquet file (RAW_SCHEMA) into a clean one (CLEAN_SCHEMA), batch by batch.

Memory stays near the size of the *surviving* rows: each input batch is cleaned and filtered on its
own (empty / too short / too long), only survivors and two 64-bit hashes per row are kept, the
global de-duplication (first occurrence in row order wins) is decided on the hashes, and the output
is written batch by batch while the kept batches are released. Duplicates whose source labels
disagree are label conflicts (`assets.corpus.conflicts`): their kept row gets split 'conflict' and
every row of each such group is written to the conflicts artifact beside the output, first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.corpus.cleaning import REPAIRS, clean_text, dedup_key, first_occurrence, hashes_and_split
from assets.corpus.conflicts import (
    CONFLICT_SPLIT,
    conflicts_path,
    conflicts_table,
    find_conflicts,
)
from assets.corpus.errors import CorpusError
from assets.corpus.storage import CLEAN_SCHEMA, RAW_SCHEMA
from warehouse.atomic import atomic_file

DROP_REASONS = ("empty", "too_short", "too_long", "duplicate_exact", "duplicate_normalised")


@dataclass(frozen=True)
class CleaningRules:
    min_chars: int = 5
    max_chars: int = 2000
    eval_fraction: float = 0.2
    dedupe_normalised: bool = True
    repair_escapes: bool = True  # step 5 of assets/corpus/cleaning.py (False: keep every backslash)
    batch_rows: int = 32_768

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars <= self.max_chars:
            raise ValueError(f"need 0 <= min_chars <= max_chars, got {self.min_chars}, {self.max_chars}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")


@dataclass
class CleanReport:
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    repaired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPAIRS, 0))
    rows_eval: int = 0
    label_conflict_groups: int = 0  # rows with split 'conflict' (one kept row per group)
    label_conflict_rows: int = 0  # rows of those groups, kept and dropped (the conflicts artifact)

    @property
    def rows_train(self) -> int:
        return self.rows_out - self.rows_eval - self.label_conflict_groups


def _clean_batch(
    batch: pa.RecordBatch, rules: CleaningRules, report: CleanReport, con: duckdb.DuckDBPyConnection
) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
    text, repaired = clean_text(batch.column("text"), con, escapes=rules.repair_escapes)
    for k, v in repaired.items():
        report.repaired[k] += v
    chars = pc.utf8_length(text)
    empty = pc.equal(chars, 0)
    short = pc.and_(pc.invert(empty), pc.less(chars, rules.min_chars))
    long_ = pc.greater(chars, rules.max_chars)
    for reason, mask in (("empty", empty), ("too_short", short), ("too_long", long_)):
        report.dropped[reason] += int(pc.sum(mask).as_py() or 0)
    ok = pc.invert(pc.or_(pc.or_(empty, short), long_))
    text, chars = pc.filter(text, ok), pc.filter(chars, ok)
    row_id = pc.filter(batch.column("row_id"), ok)
    h_text, h_key, split = hashes_and_split(row_id, text, dedup_key(text), rules.eval_fraction, con)
    out = pa.record_batch(
        [
            row_id,
            text,
            split,
            pc.filter(batch.column("gold_label"), ok),
            pc.filter(batch.column("source_label"), ok),
            chars.cast(pa.int32()),
        ],
        schema=CLEAN_SCHEMA,
    )
    return out, h_text, h_key


def _keep_mask(
    h_text: np.ndarray, h_key: np.ndarray, rules: CleaningRules, report: CleanReport
) -> np.ndarray:
    keep = first_occurrence(h_text)
    report.dropped["duplicate_exact"] = int(len(keep) - keep.sum())
    if rules.dedupe_normalised:
        idx = np.flatnonzero(keep)
        keep_key = first_occurrence(h_key[idx])
        keep[idx[~keep_key]] = False
        report.dropped["duplicate_normalised"] = int((~keep_key).sum())
    return keep


def clean_parquet(src: Path, dst: Path, rules: CleaningRules) -> CleanReport:
    """Clean `src` into `dst` and write its label conflicts to `conflicts_path(dst)`, each published
    atomically (the conflicts first: a corpus never lacks its conflicts file; a failure while writing
    the corpus removes it). Raises CorpusError when nothing is left."""
    report = CleanReport()
    try:
        reader = pq.ParquetFile(src)
    except (OSError, pa.ArrowInvalid) as err:
        raise CorpusError(f"cannot read the raw corpus Parquet file: {err}", source=str(src)) from err
    missing = [n for n in RAW_SCHEMA.names if n not in reader.schema_arrow.names]
    if missing:
        raise CorpusError(f"raw corpus lacks columns {missing}", source=str(src), column=missing[0])
    kept: list[pa.RecordBatch] = []
    text_hashes: list[np.ndarray] = []
    key_hashes: list[np.ndarray] = []
    con = duckdb.connect()
    try:
        for batch in reader.iter_batches(batch_size=rules.batch_rows, columns=RAW_SCHEMA.names):
            report.rows_in += batch.num_rows
            out, h_text, h_key = _clean_batch(batch, rules, report, con)
            kept.append(out)
            text_hashes.append(h_text)
            key_hashes.append(h_key)
            pa.default_memory_pool().release_unused()  # give the batch's temporaries back
    finally:
        con.close()
    if report.rows_in == 0:
        raise CorpusError("the raw corpus has no rows", source=str(src))
    h_text, h_key = np.concatenate(text_hashes), np.concatenate(key_hashes)
    del text_hashes, key_hashes
    keep = _keep_mask(h_text, h_key, rules, report)
    report.rows_out = int(keep.sum())
    if report.rows_out == 0:
        raise CorpusError(
            f"nothing left after cleaning {report.rows_in} rows (dropped: {report.dropped}); "
            f"check the text column and the min_chars/max_chars rules",
            source=str(src),
            column="text",
        )
    labels = pa.chunked_array([b.column("source_label") for b in kept], pa.string())
    group_hash = h_key if rules.dedupe_normalised else h_text
    del h_text, h_key
    conflicts = find_conflicts(group_hash, labels)
    del group_hash
    report.label_conflict_groups, report.label_conflict_rows = conflicts.groups, len(conflicts.rows)
    side = conflicts_path(dst)
    with atomic_file(side) as tmp:
        pq.write_table(conflicts_table(kept, conflicts), tmp, compression="zstd")
    try:
        _write_kept(kept, keep, conflicts.kept, dst, report)
    except BaseException:
        side.unlink(missing_ok=True)
        raise
    return report


def _write_kept(
    kept: list[pa.RecordBatch], keep: np.ndarray, conflict: np.ndarray, dst: Path, report: CleanReport
) -> None:
    """Write the rows `keep` selects, batch by batch (each released once written); the rows
    `conflict` marks get split 'conflict'."""
    start = 0
    with atomic_file(dst) as tmp, pq.ParquetWriter(tmp, CLEAN_SCHEMA, compression="zstd") as writer:
        kept.reverse()
        while kept:
            batch = kept.pop()
            rows = slice(start, start + batch.num_rows)
            start += batch.num_rows
            part = batch.filter(pa.array(keep[rows]))
            marked = conflict[rows][keep[rows]]
            if marked.any():
                split = pc.if_else(pa.array(marked), CONFLICT_SPLIT, part.column("split"))
                part = part.set_column(
                    CLEAN_SCHEMA.get_field_index("split"), CLEAN_SCHEMA.field("split"), split
                )
            report.rows_eval += int(pc.sum(pc.equal(part.column("split"), "eval")).as_py() or 0)
            writer.write_batch(part)


def clean_table(table: pa.Table, rules: CleaningRules, workdir: Path) -> tuple[pa.Table, CleanReport]:
    """Convenience for tests and notebooks: clean an in-memory RAW_SCHEMA table."""
    src, dst = workdir / "raw.parquet", workdir / "clean.parquet"
    pq.write_table(table.cast(RAW_SCHEMA), src)
    report = clean_parquet(src, dst, rules)
    return pq.read_table(dst), report
