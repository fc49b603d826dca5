"""Label conflicts of clean_corpus as Label Studio adjudication tasks.

Contract with `clean_corpus` (assets/corpus): for each group of normalised duplicates whose source
labels disagree, the kept row has `split = "conflict"` (neither train nor eval), and the handle's
`extra["conflicts_path"]` is a Parquet artifact with one row per member of such a group:

    group_row_id  string  the row_id of the group's kept row (the one with split = "conflict")
    row_id        string  this member's row id (the kept row's own entry included or not)
    text          string  this member's text
    source_label  string  this member's label in the source

`extra["label_conflicts"]` is the number of groups. With `AnnotationPolicy.adjudicate_conflicts`,
label_tasks imports each kept row as a task whose data says it is an adjudication task and lists
the disagreeing labels (`adjudication`, `source_labels`, also in the task's `meta`), so annotators see
them in the Data Manager and can filter on them; the annotators' label is the row's label from then on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

CONFLICT_SPLIT = "conflict"
CONFLICT_COLUMNS = ("group_row_id", "row_id", "text", "source_label")


class ConflictsError(ValueError):
    """The conflicts artifact is missing or does not match the clean corpus; says what to do."""


@dataclass(frozen=True)
class ConflictTask:
    """One group of disagreeing duplicates, as the task that asks a person to settle it."""

    row_id: str  # the kept row (split = "conflict")
    text: str
    label_rows: tuple[tuple[str, int], ...]  # (source label, rows of the group giving it), by label

    @property
    def source_labels(self) -> list[str]:
        return [label for label, _ in self.label_rows]

    def task_data(self) -> dict[str, Any]:
        """The extra task data: what the annotator sees beside the text."""
        given = ", ".join(f"{label!r} ({n} row{'s' if n != 1 else ''})" for label, n in self.label_rows)
        return {
            "adjudication": f"label conflict: copies of this text were labelled {given}; choose one",
            "source_labels": self.source_labels,
        }

    def task_meta(self) -> dict[str, Any]:
        return {"adjudication": True, "source_label_rows": dict(self.label_rows)}


def conflict_rows(corpus_path: str | Path) -> list[tuple[str, str, str | None]]:
    """(row_id, text, source_label) of the corpus rows with split == "conflict", in corpus order."""
    names = pq.read_schema(corpus_path).names
    columns = ["row_id", "text", "split"] + (["source_label"] if "source_label" in names else [])
    table = pq.read_table(corpus_path, columns=columns)
    kept = table.filter(pc.equal(table["split"], CONFLICT_SPLIT))
    labels = kept["source_label"].to_pylist() if "source_label" in names else [None] * kept.num_rows
    return list(zip(kept["row_id"].to_pylist(), kept["text"].to_pylist(), labels, strict=True))


def conflict_tasks(corpus_path: str | Path, extra: Mapping[str, Any]) -> list[ConflictTask]:
    """The adjudication task of every conflict row of the corpus, with the labels its group gave
    (from `extra["conflicts_path"]`). Raises ConflictsError when conflict rows exist and the artifact
    is missing, lacks a column, or lists no labels for one of them."""
    rows = conflict_rows(corpus_path)
    if not rows:
        return []
    path = extra.get("conflicts_path")
    if not path or not Path(str(path)).is_file():
        raise ConflictsError(
            f"{corpus_path} holds {len(rows)} row(s) with split = 'conflict' but its clean_corpus "
            f"materialization carries no readable conflicts artifact (extra['conflicts_path'] = {path!r}): "
            "re-materialize clean_corpus, or set annotation_policy.adjudicate_conflicts: false"
        )
    try:
        table = pq.read_table(str(path), columns=list(CONFLICT_COLUMNS))
    except (KeyError, ValueError, OSError) as err:  # pyarrow: a missing column is an ArrowInvalid
        raise ConflictsError(
            f"conflicts artifact {path} does not have the columns {list(CONFLICT_COLUMNS)} ({err}): "
            "re-materialize clean_corpus"
        ) from err
    labels: dict[str, Counter[str]] = {}
    members: set[tuple[str, str]] = set()
    groups, ids = table["group_row_id"].to_pylist(), table["row_id"].to_pylist()
    for group, row_id, label in zip(groups, ids, table["source_label"].to_pylist(), strict=True):
        members.add((str(group), str(row_id)))
        if label is not None:
            labels.setdefault(str(group), Counter())[str(label)] += 1
    for row_id, _, label in rows:  # the kept row's own label, when the artifact lists only the others
        if label is not None and (row_id, row_id) not in members:
            labels.setdefault(row_id, Counter())[str(label)] += 1
    unlisted = [row_id for row_id, _, _ in rows if len(labels.get(row_id, ())) < 2]
    if unlisted:
        raise ConflictsError(
            f"{len(unlisted)} conflict row(s) of {corpus_path} have fewer than 2 different source labels "
            f"in {path} (first: {unlisted[:5]}): the artifact does not match this corpus; "
            "re-materialize clean_corpus"
        )
    return [ConflictTask(row_id, text, tuple(sorted(labels[row_id].items()))) for row_id, text, _ in rows]
