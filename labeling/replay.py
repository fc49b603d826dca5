"""SIMULATION: demo annotators who submit annotations through the real Label Studio API.

This is not human work. It exists for `make demo` and the tests: it creates a few annotator users
(`users.create`; they cannot log in, which `completed_by` attribution does not need) and posts
annotations with `annotations.create(id=task_id, result=..., lead_time=..., completed_by=uid)`.
Lead times follow a log-normal body per annotator (each has their own pace) plus idle outliers
beyond the idle cap (a tab left open); labels are the corpus gold label except for a configurable
error rate; some tasks get 2-3 annotators (agreement), a few are skipped (`was_cancelled`).
Seeded: the same config on the same project gives the same plan.
"""

from __future__ import annotations

import math
import random
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

    def summary(self) -> str:
        return (
            f"project {self.project_id}: {self.annotations} annotations on {self.tasks} tasks by "
            f"{len(self.annotators)} simulated annotators ({self.skipped} skipped, {self.idle_outliers} "
            f"idle outliers, {self.wrong_labels} wrong on purpose)"
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
    if not found:
        raise LabelStudioError(f"project {project_id} at {client.url} has no <Choice> in its label config")
    return found


def replay(
    client: LabelStudioClient, project: str | int, corpus_path: str | Path, cfg: ReplayConfig
) -> ReplayResult:
    """Annotate up to `cfg.n_tasks` not-yet-annotated tasks of `project` (title or id). SIMULATION."""
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
    rng = random.Random(cfg.seed)
    users = ensure_annotators(client, cfg.n_annotators)
    pace = {email: rng.uniform(0.6, 1.6) for email in users}
    sdk = LabelStudio(base_url=client.url, api_key=client._token, httpx_client=client.http)
    result = ReplayResult(pid, users, tasks=len(todo))
    for task in todo:
        row_id = str((task.get("data") or {}).get("row_id"))
        truth = gold.get(row_id) if gold.get(row_id) in choices else rng.choice(choices)
        k = rng.choice((2, 3)) if rng.random() < cfg.multi_fraction else 1
        for email in rng.sample(sorted(users), min(k, len(users))):
            seconds, idle = lead_time_s(rng, pace[email], cfg)
            skipped = rng.random() < cfg.skip_rate
            label = truth
            if not skipped and rng.random() < cfg.error_rate and len(choices) > 1:
                label = rng.choice([c for c in choices if c != truth])
                result.wrong_labels += 1
            body: dict[str, Any] = {
                "result": [] if skipped else choice_result(str(label)),
                "lead_time": seconds,
                "completed_by": users[email],
                "was_cancelled": skipped,
            }
            sdk.annotations.create(id=int(task["id"]), **body, request_options={"max_retries": 0})
            result.annotations += 1
            result.skipped += skipped
            result.idle_outliers += idle
    return result
