"""The sentence the report, the CLI and the Dagster metadata print about a model against its baseline."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warehouse.verdict import gain_verdict


def test_a_loss_is_said_plainly() -> None:
    text = gain_verdict(-5.367, "baseline_model")
    assert text.startswith("The model is 5.37 macro-F1 points BELOW baseline_model"), text
    assert "bought no gain" in text


def test_a_gain_and_a_tie() -> None:
    assert gain_verdict(3.5, "baseline_model") == "The model beats baseline_model by 3.50 macro-F1 points."
    assert gain_verdict(0.0, "b").startswith("The model ties b")


@pytest.mark.parametrize("missing", [None, math.nan])
def test_a_missing_score_is_unknown_never_a_tie(missing: float | None) -> None:
    assert "unknown" in gain_verdict(missing, "b") and "ties" not in gain_verdict(missing, "b")


@given(st.floats(min_value=-100, max_value=100, allow_nan=False))
def test_the_sign_decides_the_sentence(points: float) -> None:
    text = gain_verdict(points, "b")
    assert ("beats" in text) == (points > 0) and ("BELOW" in text) == (points < 0), (points, text)
