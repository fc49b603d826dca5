"""Tasks deleted on the Label Studio server between syncs: the id listing, the state's reconciliation,
labels without the deleted tasks, label_tasks not re-importing them, and the cost of the listing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from labeling.client import LabelStudioClient, LabelStudioUnavailable
from labeling.labels import task_labels
from labeling.resource import AnnotationPolicy
from labeling.store import SyncState, load_state, save_state, state_path
from labeling.sync import ChangedTask, parse_annotation
from labeling.tasks import choice_result, import_missing

TOKEN = "feedfacefeedfacefeedfacefeedfacefeedface"
T0 = "2026-11-01T10:00:00.000000Z"


def _version(aid: int, task_id: int, label: str = "positive") -> Any:
    raw = {
        "id": aid,
        "completed_by": 7,
        "lead_time": 30.0,
        "was_cancelled": False,
        "created_at": T0,
        "updated_at": T0,
        "result": choice_result(label),
    }
    return parse_annotation(
        raw,
        task_id,
        choices=("negative", "positive"),
        users={7: "alice"},
        idle_cap_s=300.0,
        max_lead_time_s=1e5,
    )


def _mock(handler: Any) -> LabelStudioClient:
    return LabelStudioClient(
        "http://ls.test:8080", TOKEN, transport=httpx.MockTransport(handler), sleep=lambda s: None
    )


def test_reconcile_records_deleted_tasks_keeps_labour_drops_labels(tmp_path: Path) -> None:
    state = SyncState()
    v1, v2, v3 = _version(1, 10), _version(2, 11), _version(3, 11, "negative")
    t = dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    state.merge([ChangedTask(10, t, []), ChangedTask(11, t, [])], {10: [v1], 11: [v2, v3]})
    task_map = {10: "row-a", 11: "row-b", 12: "row-c", 13: "row-d"}  # 12, 13: imported, never annotated
    # task 11 (annotated) and 12 (not annotated) are gone; 14 is new on the server (unknown: ignored)
    gone = state.reconcile_tasks({10, 13, 14}, also_known=task_map, row_of=task_map)
    assert (gone.deleted, gone.reappeared, gone.annotations_on_deleted) == ([11, 12], [], [2, 3])
    assert state.deleted_tasks == {11: "row-b", 12: "row-c"}
    assert state.deleted_row_ids() == {"row-b", "row-c"}
    assert len(state.annotations) == 3  # labour stays: facts and spend
    assert {v.annotation_id for v in state.live_versions()} == {1}
    assert set(task_labels(state.live_versions())) == {10}  # task 11's label leaves the training set
    # the same listing again: nothing new to report
    again = state.reconcile_tasks({10, 13, 14}, also_known=task_map, row_of=task_map)
    assert (again.deleted, again.reappeared) == ([], [])
    # persisted with the state (same atomic file), ids and row ids intact
    path = state_path(tmp_path, "host-p1")
    save_state(path, state)
    loaded = load_state(path)
    assert loaded.deleted_tasks == {11: "row-b", 12: "row-c"} and len(loaded.annotations) == 3
    # known without a row id (not in the label_tasks map): recorded with None
    loaded.merge([ChangedTask(20, t, [])], {20: [_version(4, 20)]})
    assert loaded.reconcile_tasks({10, 13}).deleted == [20] and loaded.deleted_tasks[20] is None
    # a task that exists again is taken off the list and labelled again
    back = loaded.reconcile_tasks({10, 11, 13, 20})
    assert back.reappeared == [11, 20] and set(loaded.deleted_tasks) == {12}
    labels = task_labels(loaded.live_versions())
    assert set(labels) == {10, 11, 20} and labels[11].label is None  # 11 is a tie (1 vs 1)


def test_task_ids_lists_ids_only_by_keyset_and_counts_bytes() -> None:
    ids = list(range(1, 26))
    seen: list[dict[str, list[str]]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        q = parse_qs(urlparse(str(req.url)).query)
        seen.append(q)
        query = json.loads(q["query"][0])
        after = query["filters"]["items"][0]["value"] if "filters" in query else 0
        size = int(q["page_size"][0])
        page = [i for i in ids if i > after][:size]
        return httpx.Response(200, json={"total": len(ids), "tasks": [{"id": i} for i in page]})

    client = _mock(handler)
    assert client.task_ids(5, page_size=10) == set(ids)
    assert len(seen) == 3  # 10 + 10 + 5
    assert all(q["include"] == ["id"] and "fields" not in q and q["page"] == ["1"] for q in seen)
    assert json.loads(seen[0]["query"][0]) == {"ordering": ["tasks:id"]}
    item = json.loads(seen[2]["query"][0])["filters"]["items"][0]
    assert item == {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": 20}
    assert client.counter.total.requests == 3 and client.counter.total.bytes_received > 0


def _import_server(existing: dict[str, int]) -> tuple[Any, list[list[str]]]:
    imported: list[list[str]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            tasks = [{"id": tid, "data": {"row_id": r}} for r, tid in existing.items()]
            return httpx.Response(200, json={"tasks": tasks})
        body = json.loads(req.content)
        rows = [t["data"]["row_id"] for t in body]
        imported.append(rows)
        return httpx.Response(201, json={"task_ids": list(range(100, 100 + len(rows)))})

    return handler, imported


def test_import_does_not_reimport_rows_deleted_on_server_unless_asked() -> None:
    rows = [("r1", "a"), ("r2", "b"), ("r3", "c")]
    handler, imported = _import_server({"r1": 1})  # r2's task was deleted on the server; r3 is new
    result = import_missing(_mock(handler), 9, rows, skip_rows={"r2"})
    assert imported == [["r3"]] and result.task_ids == {"r1": 1, "r3": 100}
    assert (result.imported, result.already_present, result.skipped_deleted) == (1, 1, 1)
    handler, imported = _import_server({"r1": 1})
    result = import_missing(_mock(handler), 9, rows)  # reimport_deleted_tasks: no skip list
    assert imported == [["r2", "r3"]] and result.skipped_deleted == 0 and len(result.task_ids) == 3


def test_import_reply_lost_says_it_may_have_been_applied() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            return httpx.Response(200, json={"tasks": []})
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=req)

    with pytest.raises(LabelStudioUnavailable) as err:
        import_missing(_mock(handler), 9, [("r1", "a")])
    text = str(err.value)
    assert "http://ls.test:8080/api/projects/9/import" in text and "transport error" in text
    assert "may have been applied" in text and "no task is duplicated" in text and TOKEN not in text


# -- against the real server -------------------------------------------------------------------------


@pytest.mark.labelstudio
@pytest.mark.slow
def test_live_deleted_task_reported_not_reimported_and_listing_cost(
    pipeline: Any, labelstudio_server: Any, project_title: str
) -> None:
    pipeline.run()
    with LabelStudioClient(labelstudio_server.url, labelstudio_server.token) as c:
        pid = int(c.find_project(project_title)["id"])  # type: ignore[index]
        tasks = {t["data"]["row_id"]: int(t["id"]) for t in c.iter_tasks(pid, include="id,data")}
        c.post_json(
            f"/api/tasks/{tasks['row-00000']}/annotations/",
            {"result": choice_result("negative"), "lead_time": 9.0},
        )
        c.request("DELETE", f"/api/tasks/{tasks['row-00003']}/")  # never annotated
    first = pipeline.run(["annotations"])
    m = {
        k: getattr(v, "value", v)
        for k, v in first.asset_materializations_for_node("annotations")[-1].metadata.items()
    }
    assert m["tasks_deleted_on_server"] == 1 and m["tasks_deleted_on_server_ids"] == str(tasks["row-00003"])
    assert m["tasks_on_server"] == 11 and m["tasks_remaining"] == 10  # 12 imported - 1 deleted - 1 labelled
    # label_tasks honours the deletion: no re-import, counted, left out of the map
    lt = pipeline.run(["clean_corpus", "label_tasks"])
    lm = {
        k: getattr(v, "value", v)
        for k, v in lt.asset_materializations_for_node("label_tasks")[-1].metadata.items()
    }
    assert (
        lm["tasks_imported"],
        lm["tasks_deleted_on_server_not_reimported"],
        lm["tasks_in_corpus_split"],
    ) == (0, 1, 11)
    again = pipeline.run(["annotations"])
    m2 = {
        k: getattr(v, "value", v)
        for k, v in again.asset_materializations_for_node("annotations")[-1].metadata.items()
    }
    assert (m2["tasks_deleted_on_server"], m2["tasks_deleted_total"], m2["rows_labelled"]) == (0, 1, 1)
    # asked to: the row comes back as a new task
    pipeline.resources["annotation_policy"] = AnnotationPolicy(
        project_title=project_title, import_batch_size=5, budget_usd=1.0, reimport_deleted_tasks=True
    )
    lt = pipeline.run(["clean_corpus", "label_tasks"])
    lm = {
        k: getattr(v, "value", v)
        for k, v in lt.asset_materializations_for_node("label_tasks")[-1].metadata.items()
    }
    assert (lm["tasks_imported"], lm["tasks_deleted_on_server_not_reimported"]) == (1, 0)

    # cost of the id listing on a 1,000-task project: one request, ~10 bytes per task
    with LabelStudioClient(labelstudio_server.url, labelstudio_server.token) as c:
        body = [{"data": {"text": f"t{i}", "row_id": f"big-{i}"}} for i in range(1000 - 12)]
        c.post_json(f"/api/projects/{pid}/import", body)
        before = c.counter.total
        ids = c.task_ids(pid)
        after = c.counter.total
    requests, down = after.requests - before.requests, after.bytes_received - before.bytes_received
    assert len(ids) == 1000 and requests == 1
    print(f"\nid listing, 1,000-task project: {requests} request, {down} B down ({down / 1000:.1f} B/task)")
    assert down < 30 * 1000, f"the id listing should stay ~10-20 B per task, got {down} B"
