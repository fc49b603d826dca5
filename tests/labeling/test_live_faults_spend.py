"""Against the real server: malformed input, budget check, faults and resume, token secrecy, sensor,
replay (simulation) and the terminal report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labeling.client import LabelStudioAuthError, LabelStudioClient, LabelStudioUnavailable
from labeling.resource import AnnotationPolicy, LabelStudioResource
from labeling.server import free_port
from labeling.store import load_state, state_path
from labeling.tasks import choice_result
from tests.labelstudio_fixtures import latest_metadata, pipeline_client
from warehouse.ratecard import load_default_card

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


def _task_ids(client: LabelStudioClient, title: str) -> list[int]:
    pid = int(client.find_project(title)["id"])  # type: ignore[index]
    return sorted(int(t["id"]) for t in client.iter_tasks(pid, include="id"))


def _post(client: LabelStudioClient, task_id: int, **body: Any) -> None:
    client.post_json(f"/api/tasks/{task_id}/annotations/", body)


def _check(result: Any) -> Any:
    evals = result.get_asset_check_evaluations()
    assert len(evals) == 1
    return evals[0]


def test_malformed_annotations_are_tallied_not_fatal_and_budget_errors(pipeline: Any) -> None:
    pipeline.run(["clean_corpus", "label_tasks"])
    title = pipeline.resources["annotation_policy"].project_title
    with pipeline_client(pipeline) as client:
        t = _task_ids(client, title)
        _post(client, t[0], result=choice_result("positive"), lead_time=-5.0)
        _post(client, t[1], result=choice_result("positive"))  # no lead_time at all
        _post(client, t[2], result=choice_result("positive"), lead_time=10 * 86_400.0)
        _post(client, t[3], result=choice_result("maybe"), lead_time=10.0)
        _post(client, t[4], result=[], lead_time=10.0)
        _post(client, t[5], result=choice_result("negative"), lead_time=300.0)  # the one valid label
        client.post_json(f"/api/tasks/{t[6]}/drafts", {"result": choice_result("positive"), "lead_time": 9.0})
    result = pipeline.run(["annotations"])
    meta = latest_metadata(result, "annotations")
    assert meta["rows_labelled"] == 1 and meta["rejected_total"] == 5
    assert meta["annotations_total"] == 6  # the draft is not counted
    reasons = {k.split("/", 1)[1]: v for k, v in meta.items() if k.startswith("rejected/")}
    assert reasons == {
        "negative_lead_time": 1,
        "null_lead_time": 1,
        "huge_lead_time": 1,
        "choice_not_in_config": 1,
        "empty_result": 1,
    }
    # budget 1 USD; 320 s active at the default card's 26.35 USD/h = 2.34 USD -> ERROR
    check = _check(result)
    assert not check.passed and check.severity.value == "ERROR"


@pytest.mark.parametrize(("budget_usd", "passed", "severity"), [(1.5, False, "WARN"), (5.0, True, None)])
def test_budget_check_warns_from_80_percent(
    pipeline: Any, budget_usd: float, passed: bool, severity: str
) -> None:
    old = pipeline.resources["annotation_policy"]
    pipeline.resources["annotation_policy"] = AnnotationPolicy(
        project_title=old.project_title, budget_usd=budget_usd
    )
    pipeline.run(["clean_corpus", "label_tasks"])
    with pipeline_client(pipeline) as client:
        t = _task_ids(client, pipeline.resources["annotation_policy"].project_title)
        # 1.25 USD at the default card's annotator rate: WARN under a 1.5 USD budget, pass under 5
        rate = load_default_card().value("annotator_usd_per_hour", "")
        _post(client, t[0], result=choice_result("negative"), lead_time=1.25 / rate * 3600)
    check = _check(pipeline.run(["annotations"]))
    assert check.passed is passed
    if severity:
        assert check.severity.value == severity


def test_server_down_names_url_resumes_exactly(pipeline: Any, labelstudio_server: Any) -> None:
    pipeline.run()
    title = pipeline.resources["annotation_policy"].project_title
    with pipeline_client(pipeline) as client:
        t = _task_ids(client, title)
        _post(client, t[0], result=choice_result("negative"), lead_time=12.0)
        pid = int(client.find_project(title)["id"])  # type: ignore[index]
    good = pipeline.resources["labelstudio"]
    dead_url = f"http://127.0.0.1:{free_port()}"
    pipeline.resources["labelstudio"] = LabelStudioResource(
        url=dead_url, api_key=good.api_key, home_root=good.home_root, max_attempts=2, backoff_s=0.01
    )
    failed = pipeline.run(["annotations"], raise_on_error=False)
    assert not failed.success
    text = str(failed.all_events)
    assert dead_url in text and "gave up after 2 attempts" in text and labelstudio_server.token not in text
    state = load_state(state_path(pipeline.home.labelstudio_dir, good.project_key(pid)))
    assert state.annotations == {}  # nothing half-written: cursor not advanced

    pipeline.resources["labelstudio"] = good
    resumed = latest_metadata(pipeline.run(["annotations"]), "annotations")
    assert resumed["annotation_versions_new"] == 1


def test_wrong_token_is_401_with_url_not_token(labelstudio_server: Any) -> None:
    wrong = "0123456789abcdef0123456789abcdef01234567"
    with (
        LabelStudioClient(labelstudio_server.url, wrong) as client,
        pytest.raises(LabelStudioAuthError) as err,
    ):
        client.whoami()
    assert labelstudio_server.url in str(err.value) and wrong not in str(err.value)
    with (
        LabelStudioClient(f"http://127.0.0.1:{free_port()}", wrong, max_attempts=2, backoff_s=0.01) as client,
        pytest.raises(LabelStudioUnavailable, match="gave up after 2 attempts"),
    ):
        client.whoami()


def test_token_never_printed(
    pipeline: Any,
    labelstudio_server: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import duckdb

    result = pipeline.run()
    token = labelstudio_server.token
    out, err = capfd.readouterr()
    assert token not in out and token not in err and token not in caplog.text
    assert token not in str(result.all_events)
    for node in ("label_tasks", "annotations"):
        assert token not in str(latest_metadata(result, node))
    con = duckdb.connect(str(pipeline.home.warehouse_path), read_only=True)
    try:
        for table in ("transfer", "annotation_work", "materialization_outcome", "storage"):
            assert token not in str(con.execute(f"SELECT * FROM {table}").fetchall())
    finally:
        con.close()
    files = [p for p in Path(pipeline.home.root).rglob("*") if p.is_file() and p.stat().st_size < 5_000_000]
    assert not [p for p in files if token.encode() in p.read_bytes()]


def test_sensor_replay_and_report(pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from assets.annotation.sensor import annotations_poll_sensor
    from labeling.replay import ReplayConfig, replay
    from warehouse.cli.main import build_app

    pipeline.run()
    ls, policy = pipeline.resources["labelstudio"], pipeline.resources["annotation_policy"]

    def tick(cursor: str | None = None) -> Any:
        ctx = dg.build_sensor_context(
            cursor=cursor, resources={"labelstudio": ls, "annotation_policy": policy}
        )
        return annotations_poll_sensor(ctx)

    assert isinstance(tick(), dg.SkipReason)
    with pipeline_client(pipeline) as client:
        done = replay(
            client,
            policy.project_title,
            pipeline.corpus_path,
            ReplayConfig(n_annotators=3, n_tasks=8, overlap_fraction=0.5, idle_rate=0.2, seed=3),
        )
    assert done.tasks == 8 and done.annotations >= 8 and "simulated" in done.summary()
    fired = tick()
    assert isinstance(fired, dg.SensorResult) and len(fired.run_requests or []) == 1
    assert isinstance(tick(fired.cursor), dg.SkipReason)  # same work: not requested twice
    meta = latest_metadata(pipeline.run(["annotations"]), "annotations")
    assert meta["annotation_versions_new"] == done.annotations
    assert isinstance(tick(), dg.SkipReason)  # synced: nothing new

    monkeypatch.setenv("FOOTPRINT_HOME", str(pipeline.home.root))
    monkeypatch.setenv("COLUMNS", "200")
    report = CliRunner().invoke(build_app(), ["labeling-report"], terminal_width=200)
    assert report.exit_code == 0, report.output
    from labeling.store import all_states, load_state

    # who annotated depends on the plan, seeded by Label Studio's task ids (which earlier tests in
    # the session move): every simulated annotator with synced work is in the report, in full
    synced = {
        v.annotator
        for path in all_states(pipeline.home.labelstudio_dir).values()
        for v in load_state(path).annotations.values()
    }
    assert synced and all(name.endswith("@replay.simulated.invalid") for name in synced), synced
    assert all(name in report.output for name in synced) and "cost USD" in report.output, report.output
