"""Label Studio faults, injected by a proxy on 127.0.0.1 in front of the real server: the server stopped
mid-import and mid-sync, a reply lost after the server applied an import, 401, 500 and replies slower
than the timeout. Each failure is a clear error naming the URL (never the token); once the server is
back, no task is duplicated and no annotation is lost or counted twice. A task deleted on the server
between syncs is handled and reported."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from labeling.client import LabelStudioClient, LabelStudioUnavailable
from labeling.resource import LabelStudioResource
from labeling.server import free_port
from labeling.tasks import choice_result
from tests.labelstudio_fixtures import latest_metadata
from tests.reliability.faultproxy import FaultProxy, Rule
from tests.reliability.helpers import rows

pytestmark = [pytest.mark.reliability, pytest.mark.labelstudio, pytest.mark.slow]

TIMEOUT_S = 1.0
ATTEMPTS = 2


@pytest.fixture
def proxy(labelstudio_server: Any, pipeline: Any) -> Iterator[FaultProxy]:
    """The pipeline talks to Label Studio through the fault proxy (same URL all along, so the sync
    state key stays the same across restarts)."""
    fp = FaultProxy(labelstudio_server.url, free_port()).start()
    good = pipeline.resources["labelstudio"]
    pipeline.resources["labelstudio"] = LabelStudioResource(
        url=fp.url,
        api_key=good.api_key,
        home_root=good.home_root,
        timeout_s=TIMEOUT_S,
        max_attempts=ATTEMPTS,
        backoff_s=0.01,
    )
    try:
        yield fp
    finally:
        fp.close()


def _direct(server: Any) -> LabelStudioClient:
    return LabelStudioClient(server.url, server.token)


def _project_tasks(server: Any, title: str) -> list[tuple[int, str]]:
    with _direct(server) as c:
        found = c.find_project(title)
        assert found is not None
        return [
            (int(t["id"]), str(t["data"]["row_id"]))
            for t in c.iter_tasks(int(found["id"]), include="id,data")
        ]


def _failed(pipeline: Any, selection: list[str], server: Any, proxy: FaultProxy, *needles: str) -> str:
    result = pipeline.run(selection, raise_on_error=False)
    assert not result.success, f"the fault did not fail the run; proxy log: {proxy.log[-5:]}"
    text = "\n".join(
        str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )
    assert proxy.url in text, f"the error does not name the URL:\n{text}"
    assert server.token not in text and server.token not in str(result.all_events), "token leaked"
    missing = [n for n in needles if n not in text]
    assert not missing, f"the error does not say {missing}:\n{text}"
    return text


def test_server_stopped_or_reply_lost_mid_import_never_duplicates_tasks(
    pipeline: Any, proxy: FaultProxy, labelstudio_server: Any, project_title: str
) -> None:
    # 12 train rows, 5 per import request: the 2nd import is applied by the server, its reply lost
    proxy.rules = [Rule("POST", "/import", "drop", after=1)]
    _failed(
        pipeline, ["clean_corpus", "label_tasks"], labelstudio_server, proxy, "/import", "transport error"
    )
    assert len(_project_tasks(labelstudio_server, project_title)) == 10
    # the rerun's only import request meets a stopped server
    proxy.rules = [Rule("POST", "/import", "stop")]
    _failed(pipeline, ["clean_corpus", "label_tasks"], labelstudio_server, proxy, "/import")
    deadline = time.monotonic() + 5
    while proxy.running and time.monotonic() < deadline:  # the stop runs beside the failing request
        time.sleep(0.02)
    with pytest.raises(LabelStudioUnavailable, match="cannot connect"):  # the port is closed
        LabelStudioClient(proxy.url, labelstudio_server.token, max_attempts=1).whoami()
    proxy.start()  # the server is back
    meta = latest_metadata(pipeline.run(["clean_corpus", "label_tasks"]), "label_tasks")
    assert (meta["tasks_imported"], meta["tasks_already_present"]) == (2, 10)
    tasks = _project_tasks(labelstudio_server, project_title)
    row_ids = [r for _, r in tasks]
    assert len(tasks) == 12 and sorted(set(row_ids)) == sorted(row_ids), "a task was duplicated or lost"
    assert meta["duplicate_tasks_in_project"] == 0


def test_sync_faults_then_exact_resume(
    pipeline: Any, proxy: FaultProxy, labelstudio_server: Any, project_title: str
) -> None:
    pipeline.run()  # import + first (empty) sync, all through the proxy
    tasks = [tid for tid, _ in sorted(_project_tasks(labelstudio_server, project_title), key=lambda t: t[1])]
    with _direct(labelstudio_server) as c:
        ids = [
            int(
                c.post_json(
                    f"/api/tasks/{tid}/annotations/", {"result": choice_result(lab), "lead_time": 20.0}
                )["id"]
            )
            for tid, lab in zip(tasks[:4], ["negative", "positive", "negative", "positive"], strict=True)
        ]
    faults = [
        (
            [Rule("GET", "/api/tasks/", "500", times=ATTEMPTS)],
            ("HTTP 500", f"gave up after {ATTEMPTS} attempts"),
        ),
        (
            [Rule("GET", "/api/tasks/", "delay", times=ATTEMPTS, delay_s=TIMEOUT_S + 1.5)],
            ("timed out after",),
        ),
        ([Rule("GET", "/api/users/", "stop")], ("/api/users/", "gave up after")),  # stopped mid-sync
    ]
    for rules, needles in faults:
        proxy.rules = rules
        _failed(pipeline, ["annotations"], labelstudio_server, proxy, *needles)
        if not proxy.running:
            proxy.start()
    assert all(r.fired == r.times for rules, _ in faults for r in rules), "a fault was not injected"
    proxy.rules = []
    meta = latest_metadata(pipeline.run(["annotations"]), "annotations")
    assert meta["annotation_versions_new"] == 4 and meta["annotations_total"] == 4
    assert latest_metadata(pipeline.run(["annotations"]), "annotations")["annotation_versions_new"] == 0
    home = pipeline.home
    from warehouse.loader import sync

    sync(home)
    work = rows(home, "SELECT annotation_id, count(*) FROM annotation_work GROUP BY 1 ORDER BY 1")
    assert work == [(i, 1) for i in sorted(ids)], "an annotation was lost or recorded twice"
    statuses = rows(
        home,
        "SELECT status, count(*) FROM asset_footprint WHERE asset_key = 'annotations' GROUP BY 1 ORDER BY 1",
    )
    assert statuses == [("failed", 3), ("success", 3)], statuses  # every attempt accounted for


def test_bad_token_is_401_naming_url_not_token(
    pipeline: Any, proxy: FaultProxy, labelstudio_server: Any
) -> None:
    wrong = "f" * 40
    good = pipeline.resources["labelstudio"]
    pipeline.resources["labelstudio"] = LabelStudioResource(
        url=proxy.url, api_key=wrong, home_root=good.home_root, max_attempts=ATTEMPTS, backoff_s=0.01
    )
    text = _failed(pipeline, ["clean_corpus", "label_tasks"], labelstudio_server, proxy, "HTTP 401")
    assert wrong not in text and "rejected the API token" in text
    assert sum(1 for m, _, _ in proxy.log if m == "GET") == 1, "a 401 must not be retried"


def _delete_between_syncs(pipeline: Any, server: Any, title: str) -> dict[str, Any]:
    """Two tasks annotated and synced; one of them deleted on the server, a third annotated; the
    second sync's metadata."""
    pipeline.run()
    tasks = [tid for tid, _ in sorted(_project_tasks(server, title), key=lambda t: t[1])]
    with _direct(server) as c:
        for tid in tasks[:2]:
            c.post_json(
                f"/api/tasks/{tid}/annotations/", {"result": choice_result("positive"), "lead_time": 30.0}
            )
    first = latest_metadata(pipeline.run(["annotations"]), "annotations")
    assert first["annotation_versions_new"] == 2 and first["rows_labelled"] == 2
    with _direct(server) as c:
        c.request("DELETE", f"/api/tasks/{tasks[1]}/")
        c.post_json(
            f"/api/tasks/{tasks[2]}/annotations/", {"result": choice_result("negative"), "lead_time": 5.0}
        )
    return latest_metadata(pipeline.run(["annotations"]), "annotations")  # handled: no crash


def test_task_deleted_between_syncs_is_handled(
    pipeline: Any, proxy: FaultProxy, labelstudio_server: Any, project_title: str
) -> None:
    second = _delete_between_syncs(pipeline, labelstudio_server, project_title)
    assert second["annotation_versions_new"] == 1
    from warehouse.loader import sync

    sync(pipeline.home)
    # the labour on the deleted task was done and paid: its fact stays, once; nothing is counted twice
    assert rows(pipeline.home, "SELECT count(*), count(DISTINCT annotation_id) FROM annotation_work") == [
        (3, 3)
    ]


def test_task_deleted_between_syncs_is_reported(
    pipeline: Any, proxy: FaultProxy, labelstudio_server: Any, project_title: str
) -> None:
    second = _delete_between_syncs(pipeline, labelstudio_server, project_title)
    reported = {k: v for k, v in second.items() if "delet" in k or "removed" in k or "missing" in k}
    assert any(v for v in reported.values()), f"a deleted task is not reported: {reported}"
    assert second["rows_labelled"] == 2, "the deleted task's label must leave the training set"
