"""Classification metrics: accuracy, precision, recall and F1 per class and macro (pure functions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationScores:
    accuracy: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    per_class: tuple[ClassScores, ...]
    n_eval: int

    def named(self) -> list[tuple[str, float, str | None]]:
        """(metric name, value, class label or None for overall) rows, for facts and metadata."""
        rows: list[tuple[str, float, str | None]] = [
            ("accuracy", self.accuracy, None),
            ("precision_macro", self.precision_macro, None),
            ("recall_macro", self.recall_macro, None),
            ("f1_macro", self.f1_macro, None),
        ]
        for c in self.per_class:
            rows += [
                ("precision", c.precision, c.label),
                ("recall", c.recall, c.label),
                ("f1", c.f1, c.label),
            ]
        return rows


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def classification_scores(gold: list[int], pred: list[int], labels: tuple[str, ...]) -> ClassificationScores:
    """Scores over `labels` (index i = class i). A class never predicted has precision 0 (as sklearn's
    zero_division=0), so a degenerate classifier cannot look good on the macro figures."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items, pred {len(pred)}")
    if not gold:
        raise ValueError("no examples to score")
    per_class = []
    for i, label in enumerate(labels):
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == i and p == i)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != i and p == i)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == i and p != i)
        precision = _ratio(tp, tp + fp)
        recall = _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        per_class.append(ClassScores(label, precision, recall, f1, tp + fn))
    n = len(labels)
    return ClassificationScores(
        accuracy=sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold),
        precision_macro=sum(c.precision for c in per_class) / n,
        recall_macro=sum(c.recall for c in per_class) / n,
        f1_macro=sum(c.f1 for c in per_class) / n,
        per_class=tuple(per_class),
        n_eval=len(gold),
    )


# -- the metric keys of Trainer's evaluation ----------------------------------------------------------
# `compute_metrics` returns `{name: value}` for the overall figures and `{name/label: value}` per class
# (e.g. "f1_macro", "f1/positive"); Trainer prefixes the split ("eval_f1_macro", "eval_f1/positive").
# `parse_metric_key` turns such a key back into (split, name, label): the QualityMetric convention.
NOT_QUALITY = frozenset(
    {"runtime", "samples_per_second", "steps_per_second", "epoch", "model_preparation_time"}
)


def metric_key(name: str, label: str | None) -> str:
    return f"{name}/{label}" if label is not None else name


def parse_metric_key(key: str) -> tuple[str, str, str | None] | None:
    """(split, name, label) of a metric key: `eval_f1/positive` -> ("eval", "f1", "positive"),
    `eval_f1_macro` -> ("eval", "f1_macro", None);
    None for a key that is not a quality figure (timings, epoch) or has no split prefix."""
    split, sep, rest = key.partition("_")
    if not sep or not rest:
        return None
    name, slash, label = rest.partition("/")
    if name in NOT_QUALITY or not name:
        return None
    return split, name, (label if slash else None)


def scores_as_metrics(scores: ClassificationScores) -> dict[str, float]:
    return {metric_key(name, label): value for name, value, label in scores.named()}


def prediction_scores(prediction: Any, labels: tuple[str, ...]) -> ClassificationScores:
    """Scores of a Trainer prediction (logits and label ids): the argmax class against the gold one."""
    import numpy as np

    logits = prediction.predictions
    if isinstance(logits, tuple):
        logits = logits[0]
    pred = np.asarray(logits).argmax(-1).tolist()
    return classification_scores(np.asarray(prediction.label_ids).tolist(), pred, labels)


def compute_metrics_for(labels: tuple[str, ...]) -> Callable[[Any], dict[str, float]]:
    """Trainer's `compute_metrics` for a classifier over `labels` (keys: see `metric_key`)."""

    def compute(prediction: Any) -> dict[str, float]:
        return scores_as_metrics(prediction_scores(prediction, labels))

    return compute
