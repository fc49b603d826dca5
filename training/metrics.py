"""Classification metrics: accuracy, precision, recall and F1 per class and macro (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass


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
