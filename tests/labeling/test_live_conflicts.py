"""Label conflicts sent to the real Label Studio server for adjudication (annotation_policy
.adjudicate_conflicts), against a clean corpus built to clean_corpus's contract: off, they are left
out and the metadata says how to send them; on, they become adjudication tasks listing the
disagreeing labels, imported once, and their adjudicated label enters the training set."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq
import pytest

from labeling.resource import AnnotationPolicy
from labeling.tasks import choice_result
from tests.labeling.conflict_corpus import GROUPS, write_conflict_corpus
from tests.labelstudio_fixtures import latest_metadata, pipeline_client

pytestmark = pytest.mark.labelstudio


def _policy(pipeline: Any, *, adjudicate: bool) -> None:
    title = pipeline.resources["annotation_policy"].project_title
    pipeline.resources["annotation_policy"] = AnnotationPolicy(
        project_title=title, import_batch_size=5, budget_usd=1.0, adjudicate_conflicts=adjudicate
    )


def _tasks(pipeline: Any) -> dict[str, dict[str, Any]]:
    """row_id -> task (id, data, meta) of the pipeline's project."""
    with pipeline_client(pipeline) as client:
        project = client.find_project(pipeline.resources["annotation_policy"].project_title)
        if project is None:
            return {}
        tasks = client.iter_tasks(int(project["id"]), include="id,data,meta")
        return {str(t["data"]["row_id"]): t for t in tasks}


def test_conflicts_left_out_then_imported_once_as_adjudication_tasks(pipeline: Any, tmp_path: Any) -> None:
    corpus, extra = write_conflict_corpus(tmp_path, n_train=6)
    pipeline.corpus_path, pipeline.corpus_extra = corpus, extra

    _policy(pipeline, adjudicate=False)
    off = latest_metadata(pipeline.run(["clean_corpus", "label_tasks"]), "label_tasks")
    assert (off["tasks_imported"], off["label_conflicts"], off["label_conflicts_left_out"]) == (6, 2, 2)
    assert off["adjudication_tasks"] == 0 and "adjudicate_conflicts: true" in off["label_conflicts_hint"]
    assert sorted(_tasks(pipeline)) == [f"row-{i:05d}" for i in range(6)]  # no conflict, no eval row

    _policy(pipeline, adjudicate=True)
    on = latest_metadata(pipeline.run(["clean_corpus", "label_tasks"]), "label_tasks")
    assert (on["tasks_imported"], on["tasks_already_present"], on["adjudication_tasks"]) == (2, 6, 2)
    assert (on["label_conflicts"], on["label_conflicts_left_out"], on["label_conflicts_hint"]) == (2, 0, "")
    tasks = _tasks(pipeline)
    for row_id, labels in GROUPS.items():
        data, meta = tasks[row_id]["data"], tasks[row_id].get("meta") or {}
        assert data["source_labels"] == sorted(set(labels))
        assert "label conflict" in data["adjudication"] and all(
            f"'{x}'" in data["adjudication"] for x in labels
        )
        assert meta == {"adjudication": True, "source_label_rows": {x: labels.count(x) for x in set(labels)}}
    assert all("adjudication" not in t["data"] for r, t in tasks.items() if r not in GROUPS)
    task_map = pq.read_table(pipeline.run(["clean_corpus", "label_tasks"]).asset_value("label_tasks").path)
    assert set(GROUPS) <= set(task_map["row_id"].to_pylist())

    again = latest_metadata(pipeline.run(["clean_corpus", "label_tasks"]), "label_tasks")
    assert (again["tasks_imported"], again["tasks_already_present"], again["adjudication_tasks"]) == (0, 8, 2)
    assert len(_tasks(pipeline)) == 8  # idempotent: nothing imported twice

    # a person settles one conflict: the row enters the training set with that label
    from label_studio_sdk.client import LabelStudio

    with pipeline_client(pipeline) as client:
        uid = int(client.whoami()["id"])
        sdk = LabelStudio(base_url=client.url, api_key=client._token, httpx_client=client.http)
        sdk.annotations.create(
            id=int(tasks["row-c0"]["id"]), result=choice_result("negative"), lead_time=9.0, completed_by=uid
        )
    meta = latest_metadata(pipeline.run(), "annotations")
    assert meta["rows_labelled"] == 1
    labelled = pq.read_table(pipeline.run(["annotations"]).asset_value("annotations").path).to_pylist()
    assert [(r["row_id"], r["label"]) for r in labelled] == [("row-c0", "negative")]


def test_switch_on_without_the_conflicts_artifact_fails_before_any_request(
    pipeline: Any, tmp_path: Any
) -> None:
    corpus, _ = write_conflict_corpus(tmp_path)
    pipeline.corpus_path, pipeline.corpus_extra = corpus, {}
    _policy(pipeline, adjudicate=True)
    result = pipeline.run(["clean_corpus", "label_tasks"], raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    message = failures[0].step_failure_data.error.message
    assert "split = 'conflict'" in message and "re-materialize clean_corpus" in message
    assert _tasks(pipeline) == {}  # nothing half-written: no project, no task
