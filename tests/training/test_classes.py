"""The classes come from the annotation stage: `finetuned_model` trains over the label set the
annotations handle carries (label_tasks' choices), whatever its size, and a mismatch between that set
and the data is refused before any training starts."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from assets.training.finetuned import finetuned_model
from tests.training.helpers import (
    NO_BASELINE,
    annotations_handle,
    fake_upstream,
    handle,
    metadata,
    query,
    run_assets,
    step_error,
    tiny_checkpoint,
    write_annotations,
    write_corpus,
)
from training.config import TrainingConfigError
from training.data import annotation_classes
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

TWO = ("negative", "positive")
THREE = ("negative", "neutral", "positive")


def _upstream(
    home: FootprintHome,
    tmp_path: Path,
    *,
    corpus_labels: tuple[str, ...],
    ann_labels: list[str] | None,
    choices: list[str] | None,
) -> list[dg.AssetsDefinition]:
    """clean_corpus over `corpus_labels`, 90 annotations (gold labels, or `ann_labels` cycled) whose
    handle carries `choices` (None: no label set), and a tiny pretrained checkpoint."""
    corpus_path = write_corpus(tmp_path / "clean.parquet", labels=corpus_labels)
    corpus = handle("clean_corpus", corpus_path, "m-corpus")
    ann_path = write_annotations(corpus_path, tmp_path / "labels.parquet", n=90, labels=ann_labels)
    ann = (
        annotations_handle(ann_path, "m-ann", choices)
        if choices
        else handle("annotations", ann_path, "m-ann")
    )
    ckpt = tiny_checkpoint(home.artifacts_dir / "pretrained_model" / "m-pre", corpus_path, seed=2)
    pre = ArtifactHandle("pretrained_model", "m-pre", str(ckpt), 1)
    return fake_upstream(
        clean_corpus=corpus, annotations=ann, pretrained_model=pre, baseline_model=NO_BASELINE
    )


@pytest.mark.slow
def test_three_classes_from_the_annotations(home: FootprintHome, tmp_path: Path) -> None:
    upstream = _upstream(home, tmp_path, corpus_labels=THREE, ann_labels=None, choices=list(THREE))
    config = {"max_steps": 30, "log_every_steps": 10, "eval_steps": 15, "learning_rate": 2e-3}
    res = run_assets(home, [*upstream, finetuned_model], {"finetuned_model": config})
    assert res.success
    out = res.output_for_node("finetuned_model")
    assert out.extra["choices"] == list(THREE)
    meta = metadata(res, "finetuned_model")
    rows = query(
        home,
        "SELECT step, name, label FROM quality_metric WHERE materialization_id = ? AND label IS NOT NULL",
        [out.materialization_id],
    )
    for step in (None, 15, 30):  # the final figures and the two evaluations during training
        for name in ("precision", "recall", "f1"):
            assert {lbl for s, n, lbl in rows if n == name and s == step} == set(THREE), (step, rows)
    for name in ("precision", "recall", "f1"):
        for label in THREE:
            assert 0.0 <= float(meta[f"quality/{name}/{label}"]) <= 1.0  # type: ignore[arg-type]


MISMATCHES = {
    "annotation-label-outside": (
        THREE, None, ["negative", "positive"],
        r"annotation labels \{'neutral': 30\} are not in label_tasks' label set",
    ),
    "eval-label-outside": (
        THREE, ["negative", "positive"], ["negative", "positive"],
        r"eval gold labels \['neutral'\] of clean_corpus are not in label_tasks' label set",
    ),
    "one-class": (TWO, None, ["positive"], r"must be at least 2 distinct labels, got \['positive'\]"),
    "no-label-set": (TWO, None, None, r"carries no label set \(extra\['choices'\]\)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_a_mismatch_is_refused_before_training(home: FootprintHome, tmp_path: Path, case: str) -> None:
    corpus_labels, ann_labels, choices, message = MISMATCHES[case]
    upstream = _upstream(home, tmp_path, corpus_labels=corpus_labels, ann_labels=ann_labels, choices=choices)
    res = run_assets(home, [*upstream, finetuned_model], {})
    err = step_error(res, "finetuned_model")
    assert "TrainingConfigError" in err and re.search(message, err), err
    assert "label_tasks" in err, "the message points at where the classes come from"
    assert not any(home.pending_dir.iterdir()) and not home.warehouse_path.exists(), "nothing ran"


def test_annotation_classes_keep_the_label_sets_order() -> None:
    ann = ArtifactHandle("annotations", "m", "/x", 1, extra={"choices": ["b", "a", "c"]})
    assert annotation_classes(ann) == ("b", "a", "c")
    with pytest.raises(TrainingConfigError, match="at least 2 distinct"):
        annotation_classes(ArtifactHandle("annotations", "m", "/x", 1, extra={"choices": ["a", "a"]}))
