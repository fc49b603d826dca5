"""The demo's simulated annotators on the real Label Studio server, run as `make demo` runs them
(inside the `annotations` step): a second run adds nothing, newly imported tasks get only their
share, and no task holds more than its target overlap."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.replay import ReplayConfig, existing_annotations, task_target
from labeling.resource import AnnotationPolicy
from tests.labelstudio_fixtures import latest_metadata, pipeline_client, write_corpus

pytestmark = pytest.mark.labelstudio


def _simulating(pipeline: Any) -> ReplayConfig:
    old = pipeline.resources["annotation_policy"]
    policy = AnnotationPolicy(
        project_title=old.project_title,
        import_batch_size=5,
        budget_usd=1.0,
        simulate_annotators=True,
        simulate_target_overlap=2,
        simulate_overlap_fraction=0.5,
    )
    pipeline.resources["annotation_policy"] = policy
    return ReplayConfig(
        n_tasks=policy.simulate_tasks,
        target_overlap=policy.simulate_target_overlap,
        overlap_fraction=policy.simulate_overlap_fraction,
    )


def _held(pipeline: Any) -> dict[int, int]:
    title = pipeline.resources["annotation_policy"].project_title
    with pipeline_client(pipeline) as client:
        project = client.find_project(title)
        assert project is not None
        return {task_id: n for task_id, _, n in existing_annotations(client, int(project["id"]))}


def test_rerun_adds_nothing_and_new_tasks_get_their_share(
    pipeline: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _simulating(pipeline)
    first = latest_metadata(pipeline.run(), "annotations")
    held = _held(pipeline)
    assert len(held) == 12
    assert held == {t: task_target(t, cfg) for t in held}  # every task exactly at its target
    assert first["simulated_annotations_added"] == sum(held.values()) == first["annotations_total"]
    assert set(held.values()) == {1, 2}  # the overlap cohort and the others

    capsys.readouterr()
    second = latest_metadata(pipeline.run(["annotations"]), "annotations")
    step_log = capsys.readouterr().err  # Dagster's console logger
    assert second["simulated_annotations_added"] == 0
    assert second["annotation_versions_new"] == 0 and second["annotations_total"] == sum(held.values())
    total = sum(held.values())
    said = f"all 12 tasks have their annotations ({total} in all) ({cfg.overlap_text()}): nothing"
    assert second["simulated_summary"].startswith(said)
    assert said in step_log  # and the step's log says so
    assert _held(pipeline) == held

    write_corpus(pipeline.corpus_path, n_train=16)  # 4 more rows arrive
    third = latest_metadata(pipeline.run(), "annotations")
    now = _held(pipeline)
    new = sorted(set(now) - set(held))
    assert len(new) == 4 and {t: now[t] for t in held} == held  # old tasks untouched
    assert third["simulated_annotations_added"] == sum(task_target(t, cfg) for t in new)
    assert all(now[t] == task_target(t, cfg) for t in new)
    assert third["annotations_total"] == sum(now.values())
