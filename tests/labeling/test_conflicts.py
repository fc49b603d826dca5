"""Label conflicts read from clean_corpus's contract (split = "conflict" rows and the conflicts
artifact) as adjudication tasks; refusals when the artifact does not match (labeling/conflicts.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.conflicts import ConflictsError, conflict_rows, conflict_tasks
from labeling.dataset import read_train_rows
from labeling.tasks import _task
from tests.labeling.conflict_corpus import GROUPS, write_conflict_corpus


def test_conflict_rows_become_tasks_that_list_the_disagreeing_labels(tmp_path: Path) -> None:
    corpus, extra = write_conflict_corpus(tmp_path)
    tasks = conflict_tasks(corpus, extra)
    assert [t.row_id for t in tasks] == list(GROUPS)
    for t in tasks:
        expected = {label: GROUPS[t.row_id].count(label) for label in set(GROUPS[t.row_id])}
        assert dict(t.label_rows) == expected
        assert t.source_labels == sorted(expected)
        data = t.task_data()
        assert data["source_labels"] == sorted(expected)
        assert all(f"'{label}' ({n} row" in data["adjudication"] for label, n in expected.items())
        assert t.task_meta() == {"adjudication": True, "source_label_rows": expected}
    assert "row-c0" not in dict(read_train_rows(corpus))  # conflicts are not in the train split
    task = _task("row-c0", "the text", {"row-c0": tasks[0].task_data()}, {"row-c0": tasks[0].task_meta()})
    assert task["data"]["text"] == "the text" and task["data"]["row_id"] == "row-c0"
    assert task["data"]["source_labels"] == ["negative", "positive"] and task["meta"]["adjudication"] is True
    assert _task("row-1", "plain", {}, None) == {"data": {"text": "plain", "row_id": "row-1"}}


def test_the_kept_rows_own_label_counts_when_the_artifact_lists_only_the_others(tmp_path: Path) -> None:
    corpus, extra = write_conflict_corpus(tmp_path)
    members = pq.read_table(str(extra["conflicts_path"])).to_pylist()
    others = [m for m in members if m["row_id"] != m["group_row_id"]]
    pq.write_table(pa.Table.from_pylist(others), str(extra["conflicts_path"]))
    by_row = {t.row_id: dict(t.label_rows) for t in conflict_tasks(corpus, extra)}
    assert by_row == {"row-c0": {"positive": 1, "negative": 2}, "row-c1": {"negative": 1, "positive": 1}}


def test_a_corpus_without_conflicts_needs_no_artifact(tmp_path: Path) -> None:
    corpus = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"row_id": ["a"], "text": ["t"], "split": ["train"]}), corpus)
    assert conflict_rows(corpus) == [] and conflict_tasks(corpus, {}) == []


def test_an_artifact_that_does_not_match_is_refused_with_what_to_do(tmp_path: Path) -> None:
    corpus, extra = write_conflict_corpus(tmp_path)
    with pytest.raises(
        ConflictsError, match=r"2 row\(s\) with split = 'conflict'.*re-materialize clean_corpus"
    ):
        conflict_tasks(corpus, {})
    with pytest.raises(ConflictsError, match="no readable conflicts artifact"):
        conflict_tasks(corpus, {"conflicts_path": str(tmp_path / "gone.parquet")})
    pq.write_table(pa.table({"group_row_id": ["row-c0"], "row_id": ["x"]}), tmp_path / "narrow.parquet")
    with pytest.raises(ConflictsError, match="does not have the columns"):
        conflict_tasks(corpus, {"conflicts_path": str(tmp_path / "narrow.parquet")})
    members = [
        m for m in pq.read_table(str(extra["conflicts_path"])).to_pylist() if m["group_row_id"] != "row-c1"
    ]
    pq.write_table(pa.Table.from_pylist(members), tmp_path / "partial.parquet")
    with pytest.raises(ConflictsError, match=r"1 conflict row\(s\).*\['row-c1'\].*does not match"):
        conflict_tasks(corpus, {"conflicts_path": str(tmp_path / "partial.parquet")})
