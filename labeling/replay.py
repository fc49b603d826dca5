"""SIMULATION: demo annotators who submit annotations through the real Label Studio API.

This is not human work. It exists for `make demo` and the tests: it creates a few annotator users
(`users.create`; they cannot log in, which `completed_by` attribution does not need) and posts
annotations with `annotations.create(id=task_id, result=..., lead_time=..., completed_by=uid)`.
Lead times follow a log-normal body per annotator (each has their own pace) plus idle outliers
beyond the idle cap (a tab left open); labels are the corpus gold label except for a configurable
error rate (then another of the project's choices, any number of them); some tasks get 2-3
annotators (agreement), a few are skipped (`was_cancelled`). Seeded: the same config on the same
project gives the same plan (`plan_annotations`, pure).
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


@dataclass(frozen=True)
class ReplayConfig:
    n_annotators: int = 4
    n_tasks: int = 50
    error_rate: float = 0.1
    multi_fraction: float = 0.3  # share of tasks given to 2-3 annotators
    skip_rate: float = 0.03
    idle_rate: float = 0.05  # share of annotations whose lead time includes idle time beyond the cap
    median_lead_s: float = 20.0
    sigma: float = 0.6
    idle_cap_s: float = 300.0
    seed: int = 7


@dataclass
class ReplayResult:
    project_id: int
    annotators: dict[str, int] = field(default_factory=dict)  # email -> user id
    annotations: int = 0
    skipped: int = 0
    idle_outliers: int = 0
    wrong_labels: int = 0
    tasks: int = 0
    random_truth: int = 0  # tasks whose gold label is not a choice: their truth was drawn at random
    labels: dict[str, int] = field(default_factory=dict)  # label -> annotations giving it

    def summary(self) -> str:
        given = ", ".join(f"{k}: {n}" for k, n in sorted(self.labels.items()))
        unknown = f", {self.random_truth} tasks without a usable gold label" if self.random_truth else ""
        return (
            f"project {self.project_id}: {self.annotations} annotations on {self.tasks} tasks by "
            f"{len(self.annotators)} simulated annotators ({self.skipped} skipped, {self.idle_outliers} "
            f"idle outliers, {self.wrong_labels} wrong on purpose{unknown}; labels {given})"
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


def plan_annotations(
    tasks: Sequence[tuple[int, str]],
    gold: Mapping[str, str | None],
    choices: Sequence[str],
    annotators: Sequence[str],
    cfg: ReplayConfig,
) -> list[PlannedAnnotation]:
    """What the simulated annotators do with `tasks` ((task id, row id), in order), for any number of
    choices: each task's truth is its row's gold label (a random choice when that is not a choice);
    each annotation gives the truth, or with `cfg.error_rate` another choice drawn uniformly from the
    rest, or is skipped. Pure and seeded: the same arguments give the same plan."""
    if len(choices) < 2:
        raise ValueError(f"the simulation needs at least 2 choices, got {list(choices)}")
    rng = random.Random(cfg.seed)
    pace = {email: rng.uniform(0.6, 1.6) for email in annotators}
    out: list[PlannedAnnotation] = []
    for task_id, row_id in tasks:
        from_gold = gold.get(row_id) in choices
        truth = str(gold[row_id]) if from_gold else rng.choice(list(choices))
        k = rng.choice((2, 3)) if rng.random() < cfg.multi_fraction else 1
        for email in rng.sample(sorted(annotators), min(k, len(annotators))):
            seconds, idle = lead_time_s(rng, pace[email], cfg)
            skipped = rng.random() < cfg.skip_rate
            label: str | None = None if skipped else truth
            wrong = not skipped and rng.random() < cfg.error_rate
            if wrong:
                label = rng.choice([c for c in choices if c != truth])
            out.append(PlannedAnnotation(task_id, email, label, seconds, idle, wrong, from_gold))
    return out


def replay(
    client: LabelStudioClient, project: str | int, corpus_path: str | Path, cfg: ReplayConfig
) -> ReplayResult:
    """Annotate up to `cfg.n_tasks` not-yet-annotated tasks of `project` (title or id), with the
    project's own choices (any number). SIMULATION."""
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
    todo = [
        t
        for t in client.iter_tasks(pid, include="id,data,total_annotations,cancelled_annotations")
        if not t.get("total_annotations") and not t.get("cancelled_annotations")
    ]
    todo = sorted(todo, key=lambda t: int(t["id"]))[: cfg.n_tasks]
    users = ensure_annotators(client, cfg.n_annotators)
    tasks = [(int(t["id"]), str((t.get("data") or {}).get("row_id"))) for t in todo]
    planned = plan_annotations(tasks, gold, choices, list(users), cfg)
    sdk = LabelStudio(base_url=client.url, api_key=client._token, httpx_client=client.http)
    result = ReplayResult(pid, users, tasks=len(todo))
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
