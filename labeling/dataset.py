"""The labelled training set: corpus rows joined with their tasks' majority labels.

Output contract (Parquet, TRAINING_SCHEMA), one row per task that has a majority label:
    row_id         string  the clean_corpus row id (split 'train', or 'conflict': an adjudicated label
                           conflict, imported when annotation_policy.adjudicate_conflicts is set)
    text           string  the clean_corpus text (the exact materialization label_tasks imported)
    label          string  majority choice of valid, non-skipped annotations (ties are left out)
    n_annotations  int32   votes behind the label
    agreement      float64 top votes / votes (1.0 with a single annotator)
    task_id        int64   the Label Studio task
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labeling.labels import TaskLabel
from warehouse.atomic import atomic_file

TRAINING_SCHEMA = pa.schema(
    [
        pa.field("row_id", pa.string(), False),
        pa.field("text", pa.string(), False),
        pa.field("label", pa.string(), False),
        pa.field("n_annotations", pa.int32(), False),
        pa.field("agreement", pa.float64(), False),
        pa.field("task_id", pa.int64(), False),
    ]
)


LABELLED_SPLITS = ("train", "conflict")  # rows whose annotated label may enter the training set


def read_train_rows(corpus_path: str | Path) -> list[tuple[str, str]]:
    """(row_id, text) of the corpus rows with split == 'train' (gold labels are never read)."""
    return read_rows(corpus_path, ("train",))


def read_rows(corpus_path: str | Path, splits: tuple[str, ...]) -> list[tuple[str, str]]:
    """(row_id, text) of the corpus rows whose split is one of `splits`."""
    table = pq.read_table(corpus_path, columns=["row_id", "text", "split"])
    kept = table.filter(pc.is_in(table["split"], value_set=pa.array(splits, pa.string())))
    return list(zip(kept["row_id"].to_pylist(), kept["text"].to_pylist(), strict=True))


def read_task_map(path: str | Path) -> dict[int, str]:
    """task_id -> row_id from a label_tasks artifact."""
    t = pq.read_table(path, columns=["row_id", "task_id"])
    return dict(zip(t["task_id"].to_pylist(), t["row_id"].to_pylist(), strict=True))


def write_task_map(path: Path, mapping: dict[str, int]) -> None:
    table = pa.table(
        {"row_id": list(mapping), "task_id": list(mapping.values())},
        schema=pa.schema([pa.field("row_id", pa.string(), False), pa.field("task_id", pa.int64(), False)]),
    )
    _write_parquet(table, path)


def training_table(
    labels: dict[int, TaskLabel], task_map: dict[int, str], corpus_path: str | Path
) -> pa.Table:
    texts = dict(read_rows(corpus_path, LABELLED_SPLITS))
    rows = []
    for task_id in sorted(labels):
        tl = labels[task_id]
        row_id = task_map.get(task_id)
        if tl.label is None or row_id is None or row_id not in texts:
            continue
        rows.append(
            {
                "row_id": row_id,
                "text": texts[row_id],
                "label": tl.label,
                "n_annotations": tl.n_annotations,
                "agreement": tl.agreement,
                "task_id": task_id,
            }
        )
    return pa.Table.from_pylist(rows, schema=TRAINING_SCHEMA)


def write_training_set(path: Path, table: pa.Table) -> None:
    _write_parquet(table, path)


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)
