"""From annotations to labels: majority vote and agreement, per task and per annotator (pure).

Only valid, non-skipped annotations with a label vote. A task's label is the strict majority choice
(a tie gives no label: the task needs another annotator); its agreement is top votes / votes. An
annotator's agreement is the share of their votes, on tasks with >= 2 votes and a label, that match
that label (None when they have no such vote).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from labeling.sync import AnnotationVersion


@dataclass(frozen=True)
class TaskLabel:
    task_id: int
    label: str | None  # None: tie
    n_annotations: int  # votes (valid, non-skipped, labelled annotations)
    agreement: float  # top votes / votes


def task_labels(versions: Iterable[AnnotationVersion]) -> dict[int, TaskLabel]:
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for v in versions:
        if v.label is not None and v.reject_reason is None and not v.was_cancelled:
            votes[v.task_id][v.label] += 1
    out: dict[int, TaskLabel] = {}
    for task_id, counter in votes.items():
        ranked = counter.most_common()
        n = sum(counter.values())
        top_label, top = ranked[0]
        tie = len(ranked) > 1 and ranked[1][1] == top
        out[task_id] = TaskLabel(task_id, None if tie else top_label, n, top / n)
    return out


def annotator_agreement(
    versions: Iterable[AnnotationVersion], labels: dict[int, TaskLabel]
) -> dict[str, float | None]:
    hits: Counter[str] = Counter()
    total: Counter[str] = Counter()
    annotators: set[str] = set()
    for v in versions:
        annotators.add(v.annotator)
        t = labels.get(v.task_id)
        if v.label is None or v.reject_reason or t is None or t.label is None or t.n_annotations < 2:
            continue
        total[v.annotator] += 1
        hits[v.annotator] += v.label == t.label
    return {a: (hits[a] / total[a] if total[a] else None) for a in sorted(annotators)}
