"""The simulated annotators' plan against what a project already holds: each task is brought to its
target overlap, never beyond, by different annotators, and planning in two steps gives the same
annotations as planning at once (labeling/replay.py)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.replay import PlannedAnnotation, ReplayConfig, ReplayResult, plan_annotations, task_target

CHOICES = ["negative", "positive", "neutral"]
PEOPLE = ["a@x", "b@x", "c@x", "d@x"]


def _tasks(n: int, first_id: int = 100) -> list[tuple[int, str]]:
    return [(first_id + i, f"r{i}") for i in range(n)]


def _gold(n: int) -> dict[str, str | None]:
    return {f"r{i}": CHOICES[i % 3] for i in range(n)}


@settings(max_examples=60, deadline=None)
@given(
    n_tasks=st.integers(0, 40),
    overlap=st.integers(1, 4),
    fraction=st.floats(0.0, 1.0),
    held=st.lists(st.integers(0, 6), min_size=40, max_size=40),
    seed=st.integers(0, 10_000),
)
def test_every_task_reaches_its_target_and_none_exceeds_it(
    n_tasks: int, overlap: int, fraction: float, held: list[int], seed: int
) -> None:
    cfg = ReplayConfig(target_overlap=overlap, overlap_fraction=fraction, seed=seed)
    tasks = _tasks(n_tasks)
    existing = {task_id: held[i] for i, (task_id, _) in enumerate(tasks)}
    plan = plan_annotations(tasks, _gold(n_tasks), CHOICES, PEOPLE, cfg, existing)
    added = Counter(a.task_id for a in plan)
    for task_id, _ in tasks:
        target, before = task_target(task_id, cfg), existing[task_id]
        after = before + added[task_id]
        assert target in (1, overlap)
        if before >= target:
            assert added[task_id] == 0, (task_id, before, target)  # at or above target: left alone
        else:
            assert after == target, (task_id, before, added[task_id], target)  # below: reaches it
    for task_id in added:  # one annotation per person per task
        who = [a.annotator for a in plan if a.task_id == task_id]
        assert len(who) == len(set(who))


@settings(max_examples=40, deadline=None)
@given(n_tasks=st.integers(1, 30), cut=st.integers(0, 3), seed=st.integers(0, 10_000))
def test_planning_in_two_steps_gives_the_same_annotations_as_at_once(
    n_tasks: int, cut: int, seed: int
) -> None:
    cfg = ReplayConfig(target_overlap=3, overlap_fraction=0.5, seed=seed)
    tasks, gold = _tasks(n_tasks), _gold(n_tasks)
    at_once = plan_annotations(tasks, gold, CHOICES, PEOPLE, cfg)
    first = [a for a in at_once if a.slot < cut]  # an earlier run stopped after `cut` slots
    held = Counter(a.task_id for a in first)
    rest = plan_annotations(tasks, gold, CHOICES, PEOPLE, cfg, held)
    assert sorted(first + rest, key=_key) == sorted(at_once, key=_key)
    # and a run after the whole plan adds nothing
    assert plan_annotations(tasks, gold, CHOICES, PEOPLE, cfg, Counter(a.task_id for a in at_once)) == []


def _key(a: PlannedAnnotation) -> tuple[int, int]:
    return a.task_id, a.slot


def test_new_tasks_get_only_their_share() -> None:
    cfg = ReplayConfig()
    old, new = _tasks(30), _tasks(10, first_id=130)
    gold = {**_gold(30), **{row: "positive" for _, row in new}}
    first = plan_annotations(old, gold, CHOICES, PEOPLE, cfg)
    held = Counter(a.task_id for a in first)
    second = plan_annotations(old + new, gold, CHOICES, PEOPLE, cfg, held)
    assert {a.task_id for a in second} == {t for t, _ in new}
    assert len(second) == sum(task_target(t, cfg) for t, _ in new)


def test_default_overlap_keeps_the_demo_spend_and_labels_agree_with_the_old_rules() -> None:
    cfg = ReplayConfig()  # target overlap 2 on 45 % of the tasks, 1 on the others
    n = 2000
    plan = plan_annotations(_tasks(n), _gold(n), CHOICES, PEOPLE, cfg)
    per_task = Counter(a.task_id for a in plan)
    assert set(per_task.values()) == {1, 2}
    assert 0.40 < sum(1 for k in per_task.values() if k == 2) / n < 0.50
    assert 1.40 < len(plan) / n < 1.50  # ~1.45 annotations per task, as the demo had before
    given_labels = [a for a in plan if a.label is not None]
    assert 0.07 < sum(a.wrong for a in given_labels) / len(given_labels) < 0.13  # error_rate 0.1
    assert plan == plan_annotations(_tasks(n), _gold(n), CHOICES, PEOPLE, cfg)  # seeded


def test_uniform_overlap_and_bad_settings() -> None:
    cfg = ReplayConfig(target_overlap=2, overlap_fraction=1.0)
    plan = plan_annotations(_tasks(20), _gold(20), CHOICES, PEOPLE, cfg, {100: 1, 101: 2, 102: 5})
    per_task = Counter(a.task_id for a in plan)
    assert per_task[100] == 1 and 101 not in per_task and 102 not in per_task
    assert all(per_task[t] == 2 for t, _ in _tasks(20) if t > 102)
    assert cfg.overlap_text() == "target overlap 2"
    assert "on 45% of tasks" in ReplayConfig().overlap_text()
    with pytest.raises(ValueError, match="at least 3 simulated annotators"):
        plan_annotations(_tasks(2), _gold(2), CHOICES, PEOPLE[:2], ReplayConfig(target_overlap=3))
    with pytest.raises(ValueError, match="target_overlap must be >= 1"):
        ReplayConfig(target_overlap=0)
    with pytest.raises(ValueError, match="n_annotators is 2"):
        ReplayConfig(target_overlap=3, n_annotators=2)
    with pytest.raises(ValueError, match="overlap_fraction must be within"):
        ReplayConfig(overlap_fraction=1.5)


def test_nothing_to_simulate_is_said_in_words() -> None:
    done = ReplayResult(3, tasks_in_scope=240, annotations_before=480, overlap="target overlap 2",
                        uniform_overlap=2, exact=True)  # fmt: skip
    assert done.summary() == "all 240 tasks have 2 annotations (target overlap 2): nothing to simulate"
    more = ReplayResult(3, tasks_in_scope=5, annotations_before=12, overlap="target overlap 2",
                        uniform_overlap=2, exact=False)  # fmt: skip
    assert more.summary().startswith("all 5 tasks have at least 2 annotations")
