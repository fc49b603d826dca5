"""Classification scores against hand-computed values."""

from __future__ import annotations

import pytest

from training.metrics import classification_scores


def test_hand_computed_two_classes() -> None:
    # gold: n n n p p ; pred: n p n p n
    # class n: tp=2 fp=1 fn=1 -> P=2/3 R=2/3 F1=2/3 ; class p: tp=1 fp=1 fn=1 -> 1/2 each
    s = classification_scores([0, 0, 0, 1, 1], [0, 1, 0, 1, 0], ("negative", "positive"))
    assert s.accuracy == pytest.approx(3 / 5)
    neg, pos = s.per_class
    assert (neg.precision, neg.recall, neg.f1, neg.support) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    assert (pos.precision, pos.recall, pos.f1, pos.support) == pytest.approx((0.5, 0.5, 0.5, 2))
    assert s.f1_macro == pytest.approx((2 / 3 + 0.5) / 2)
    assert s.precision_macro == pytest.approx((2 / 3 + 0.5) / 2)


def test_never_predicted_class_scores_zero_not_nan() -> None:
    s = classification_scores([0, 1, 1, 1], [1, 1, 1, 1], ("negative", "positive"))
    neg = s.per_class[0]
    assert (neg.precision, neg.recall, neg.f1) == (0.0, 0.0, 0.0)
    assert s.f1_macro == pytest.approx((0 + 2 * 3 / (2 * 3 + 1)) / 2)
    names = {(n, lbl) for n, _, lbl in s.named()}
    assert ("f1_macro", None) in names and ("f1", "negative") in names


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="gold has 2 items, pred 1"):
        classification_scores([0, 1], [0], ("a", "b"))
