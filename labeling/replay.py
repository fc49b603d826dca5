"""SIMULATION: demo annotators who submit annotations through the real Label Studio API.

This is not human work. It exists for `make demo` and the tests: it creates a few annotator users
(`users.create`; they cannot log in, which `completed_by` attribution does not need) and posts
annotations with `annotations.create(id=task_id, result=..., lead_time=..., completed_by=uid)`.
Lead times follow a log-normal body per annotator (each has their own pace) plus idle outliers
beyond the idle cap (a tab left open); labels are the corpus gold label except for a configurable
error rate (then another of the project's choices, any number of them); a few are skipped
(`was_cancelled`).

What still needs labels, with a stated overlap (as a team set up in Label Studio would work):
the simulated team works on the project's first `n_tasks` tasks (lowest ids: import order; 0 = all).
Each of them has a target number of annotations: `target_overlap` for a seeded `overlap_fraction`
of the tasks (Label Studio's "annotations per task" and "overlap cohort"), 1 for the others. The
annotations a task already holds (submitted or skipped: both are a person's work on it, both are
paid) count towards its target, so a re-run adds only what is missing: nothing when every task has
its overlap, only their share for newly imported tasks. A task that already holds more than its
target (labelled by people, or by an older simulation) gets nothing and is never trimmed.

`plan_annotations` is pure and seeded per task: a task's target, its annotators' order, truth, lead
times, skips and errors depend only on (seed, task id, annotators), so planning a task in two steps
(part now, the rest after new rows) gives the same annotations as planning it at once, and no
simulated annotator labels the same task twice.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from labeling.client import LabelStudioClient, LabelStudioError
from labeling.tasks import choice_result, config_choices

SIMULATION_DOMAIN = "replay.simulated.invalid"  # reserved TLD: these are not people
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
COUNT_FIELDS = "id,data,total_annotations,cancelled_annotations"


@dataclass(frozen=True)
class ReplayConfig:
    n_annotators: int = 4
    n_tasks: int = 50  # the project's first tasks (lowest ids) the simulated team works on; 0 = all
    error_rate: float = 0.1
    # Overlap: `target_overlap` annotations on `overlap_fraction` of the tasks, 1 on the others. The
    # defaults give about 1.45 annotations per task: the spend the demo had before overlap was stated.
    target_overlap: int = 2
    overlap_fraction: float = 0.45
    skip_rate: float = 0.03
    idle_rate: float = 0.05  # share of annotations whose lead time includes idle time beyond the cap
    median_lead_s: float = 20.0
    sigma: float = 0.6
    idle_cap_s: float = 300.0
    seed: int = 7

    def __post_init__(self) -> None:
        if self.target_overlap < 1:
            raise ValueError(f"target_overlap must be >= 1 annotation per task, got {self.target_overlap}")
        if not 0.0 <= self.overlap_fraction <= 1.0:
            raise ValueError(f"overlap_fraction must be within [0, 1], got {self.overlap_fraction}")
        if self.target_overlap > self.n_annotators:
            raise ValueError(
                f"target_overlap {self.target_overlap} needs at least {self.target_overlap} annotators "
                f"(one annotation per person per task), n_annotators is {self.n_annotators}"
            )
        if self.n_tasks < 0:
            raise ValueError(f"n_tasks must be >= 0 (0 = every task), got {self.n_tasks}")

    def overlap_text(self) -> str:
        """The stated overlap, in words ("target overlap 2", or "2 annotations on 45 % ...")."""
        if self.target_overlap == 1 or self.overlap_fraction >= 1.0:
            return f"target overlap {self.target_overlap}"
        if self.overlap_fraction <= 0.0:
            return "target overlap 1"
        share = f"{self.overlap_fraction:.0%}"
        return f"target overlap {self.target_overlap} on {share} of tasks, 1 on the others"


@dataclass
class ReplayResult:
    project_id: int
    annotators: dict[str, int] = field(default_factory=dict)  # email -> user id
    annotations: int = 0  # submitted by this run (skips included)
    skipped: int = 0
    idle_outliers: int = 0
    wrong_labels: int = 0
    tasks: int = 0  # tasks this run annotated
    random_truth: int = 0  # tasks whose gold label is not a choice: their truth was drawn at random
    labels: dict[str, int] = field(default_factory=dict)  # label -> annotations giving it
    tasks_in_scope: int = 0  # the project's first n_tasks tasks
    annotations_before: int = 0  # what those tasks already held (submitted + skipped)
    overlap: str = ""  # ReplayConfig.overlap_text()
    uniform_overlap: int | None = None  # every task's target, when they are all the same
    exact: bool = False  # every task held exactly its target before this run

    def summary(self) -> str:
        if not self.annotations:
            n = self.uniform_overlap
            held = (
                f"have {'' if self.exact else 'at least '}{n} annotation{'s' if n != 1 else ''}"
                if n is not None
                else f"have their annotations ({self.annotations_before} in all)"
            )
            if not self.tasks_in_scope:
                return f"project {self.project_id}: no tasks: nothing to simulate"
            return f"all {self.tasks_in_scope} tasks {held} ({self.overlap}): nothing to simulate"
        given = ", ".join(f"{k}: {n}" for k, n in sorted(self.labels.items()))
        unknown = f", {self.random_truth} tasks without a usable gold label" if self.random_truth else ""
        return (
            f"project {self.project_id}: {self.annotations} annotations on {self.tasks} of "
            f"{self.tasks_in_scope} tasks ({self.overlap}; {self.annotations_before} annotations were "
            f"already there) by {len(self.annotators)} simulated annotators ({self.skipped} skipped, "
            f"{self.idle_outliers} idle outliers, {self.wrong_labels} wrong on purpose{unknown}; "
            f"labels {given})"
        )


def ensure_annotators(client: LabelStudioClient, n: int) -> dict[str, int]:
    """email -> user id of `n` simulated annotators (created once, reused afterwards)."""
    from label_studio_sdk.client import LabelStudio

    existing = {str(u.get("email")): uid for uid, u in client.users().items()}
    sdk = LabelStudio(base_url=client.url, api_key=client._token, httpx_client=client.http)
    out: dict[str, int] = {}
    for i in range(n):
        name = NAMES[i] if i < len(NAMES) else f"annotator{i}"
        email = f"{name}@{SIMULATION_DOMAIN}"
        if email not in existing:
            user = sdk.users.create(
                username=f"sim-{name}",
                email=email,
                first_name=name.title(),
                last_name="(simulated)",
                request_options={"max_retries": 0},
            )
            existing[email] = int(user.id or 0)
        out[email] = existing[email]
    return out


def lead_time_s(rng: random.Random, pace: float, cfg: ReplayConfig) -> tuple[float, bool]:
    """(seconds, idle outlier?): log-normal body scaled by the annotator's pace, or beyond the cap."""
    if rng.random() < cfg.idle_rate:
        return round(cfg.idle_cap_s + rng.uniform(60.0, 3600.0), 3), True
    return round(rng.lognormvariate(math.log(cfg.median_lead_s * pace), cfg.sigma), 3), False


def _choices(client: LabelStudioClient, project_id: int) -> list[str]:
    config = client.get_json(f"/api/projects/{project_id}/").get("label_config", "")
    found = config_choices(config)
    if len(found) < 2:
        raise LabelStudioError(
            f"project {project_id} at {client.url} has {len(found)} <Choice> in its label config; the "
            "simulation needs at least 2 (materialize label_tasks, which creates them)"
        )
    return found


@dataclass(frozen=True)
class PlannedAnnotation:
    task_id: int
    annotator: str  # email of a simulated annotator
    label: str | None  # None: skipped (was_cancelled)
    lead_time_s: float
    idle_outlier: bool
    wrong: bool  # a label other than the task's truth, on purpose
    truth_from_gold: bool  # False: the row's gold label is not a choice; the truth was drawn at random
    slot: int = 0  # this is the task's (slot + 1)-th annotation


def task_target(task_id: int, cfg: ReplayConfig) -> int:
    """How many annotations task `task_id` should hold: `target_overlap` for a seeded
    `overlap_fraction` of tasks, 1 for the others (the same answer on every run)."""
    in_cohort = random.Random(f"{cfg.seed}:cohort:{task_id}").random() < cfg.overlap_fraction
    return cfg.target_overlap if in_cohort else 1


def plan_annotations(
    tasks: Sequence[tuple[int, str]],
    gold: Mapping[str, str | None],
    choices: Sequence[str],
    annotators: Sequence[str],
    cfg: ReplayConfig,
    existing: Mapping[int, int] | None = None,
) -> list[PlannedAnnotation]:
    """What the simulated annotators do with `tasks` ((task id, row id), in order), which already hold
    `existing` annotations (task id -> count, absent = 0): each task gets annotations up to its
    target (`task_target`), none beyond, each from a different annotator. Each task's truth is its
    row's gold label (a random choice when that is not a choice); each annotation gives the truth, or
    with `cfg.error_rate` another choice drawn uniformly from the rest, or is skipped. Pure and seeded
    per task: the same arguments give the same plan, and a task's k-th annotation is the same whether
    it was planned with the others or on a later run."""
    if len(choices) < 2:
        raise ValueError(f"the simulation needs at least 2 choices, got {list(choices)}")
    if len(set(annotators)) < cfg.target_overlap:
        raise ValueError(
            f"target overlap {cfg.target_overlap} needs at least {cfg.target_overlap} simulated "
            f"annotators (one annotation per person per task), got {len(set(annotators))}: raise "
            "n_annotators or lower target_overlap"
        )
    held = existing or {}
    people = sorted(set(annotators))
    pace = {email: random.Random(f"{cfg.seed}:pace:{email}").uniform(0.6, 1.6) for email in people}
    out: list[PlannedAnnotation] = []
    for task_id, row_id in tasks:
        target = task_target(task_id, cfg)
        have = max(0, int(held.get(task_id, 0)))
        if have >= target:
            continue
        rng = random.Random(f"{cfg.seed}:task:{task_id}")
        from_gold = gold.get(row_id) in choices
        truth = str(gold[row_id]) if from_gold else rng.choice(list(choices))
        order = rng.sample(people, len(people))
        for slot in range(target):  # every slot is drawn, so slot k does not depend on `have`
            email = order[slot]
            seconds, idle = lead_time_s(rng, pace[email], cfg)
            skipped = rng.random() < cfg.skip_rate
            wrong = not skipped and rng.random() < cfg.error_rate
            other = rng.choice([c for c in choices if c != truth])
            if slot < have:
                continue
            label = None if skipped else (other if wrong else truth)
            out.append(PlannedAnnotation(task_id, email, label, seconds, idle, wrong, from_gold, slot))
    return out


def existing_annotations(client: LabelStudioClient, project_id: int) -> list[tuple[int, str, int]]:
    """(task id, row id, annotations held: submitted + skipped) of every task of the project, by id."""
    found = []
    for t in client.iter_tasks(project_id, include=COUNT_FIELDS):
        held = int(t.get("total_annotations") or 0) + int(t.get("cancelled_annotations") or 0)
        found.append((int(t["id"]), str((t.get("data") or {}).get("row_id")), held))
    return sorted(found)


def replay(
    client: LabelStudioClient, project: str | int, corpus_path: str | Path, cfg: ReplayConfig
) -> ReplayResult:
    """Bring the first `cfg.n_tasks` tasks of `project` (title or id) to their target overlap, counting
    the annotations they already hold, with the project's own choices (any number). SIMULATION."""
    from label_studio_sdk.client import LabelStudio

    if isinstance(project, int):
        pid = project
    else:
        found = client.find_project(project)
        if found is None:
            raise LabelStudioError(
                f"no project titled {project!r} at {client.url}; materialize label_tasks first"
            )
        pid = int(found["id"])
    choices = _choices(client, pid)
    gold_table = pq.read_table(corpus_path, columns=["row_id", "gold_label"])
    gold = dict(zip(gold_table["row_id"].to_pylist(), gold_table["gold_label"].to_pylist(), strict=True))
    scope = existing_annotations(client, pid)
    scope = scope[: cfg.n_tasks] if cfg.n_tasks else scope
    held = {task_id: n for task_id, _, n in scope}
    target = {task_id: task_target(task_id, cfg) for task_id, _, _ in scope}
    exact = all(held[t] == n for t, n in target.items())
    uniform = set(target.values())
    result = ReplayResult(
        pid,
        tasks_in_scope=len(scope),
        annotations_before=sum(held.values()),
        overlap=cfg.overlap_text(),
        uniform_overlap=next(iter(uniform)) if len(uniform) == 1 else None,
        exact=exact,
    )
    tasks = [(task_id, row_id) for task_id, row_id, _ in scope]
    if all(held[t] >= n for t, n in target.items()):
        return result  # nothing to simulate: no user created, no request beyond the listing
    users = ensure_annotators(client, cfg.n_annotators)
    result.annotators = users
    planned = plan_annotations(tasks, gold, choices, list(users), cfg, held)
    sdk = LabelStudio(base_url=client.url, api_key=client._token, httpx_client=client.http)
    result.tasks = len({a.task_id for a in planned})
    result.random_truth = len({a.task_id for a in planned if not a.truth_from_gold})
    for a in planned:
        body: dict[str, Any] = {
            "result": [] if a.label is None else choice_result(a.label),
            "lead_time": a.lead_time_s,
            "completed_by": users[a.annotator],
            "was_cancelled": a.label is None,
        }
        sdk.annotations.create(id=a.task_id, **body, request_options={"max_retries": 0})
        result.annotations += 1
        result.skipped += a.label is None
        result.idle_outliers += a.idle_outlier
        result.wrong_labels += a.wrong
        if a.label is not None:
            result.labels[a.label] = result.labels.get(a.label, 0) + 1
    return result
