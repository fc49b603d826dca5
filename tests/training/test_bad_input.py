"""Bad input is refused with a TrainingConfigError BEFORE any compute: no torchrun is launched and no
materialization is recorded."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from assets.training.finetuned import finetuned_model
from assets.training.launch import check_hub
from assets.training.pretrained import pretrained_model
from tests.training.helpers import (
    NO_BASELINE,
    annotations_handle,
    fake_upstream,
    run_assets,
    step_error,
    tiny_checkpoint,
    write_annotations,
)
from training.config import ModelShape, RunSpec, TrainingConfigError
from training.data import finetune_inputs
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome


def test_heads_must_divide_hidden_size() -> None:
    with pytest.raises(TrainingConfigError, match=r"num_heads=3 does not divide hidden_size=64"):
        ModelShape(hidden_size=64, num_heads=3).check(seq_len=32)


def test_seq_len_must_fit_positions() -> None:
    with pytest.raises(TrainingConfigError, match=r"seq_len=128 exceeds max_position_embeddings=64"):
        ModelShape(max_position_embeddings=64).check(seq_len=128)


@pytest.mark.parametrize("field", ["max_steps", "batch_size"])
def test_non_positive_counts(field: str) -> None:
    spec = RunSpec(task="pretrain", out_dir="x", corpus_path="x", **{field: 0})  # type: ignore[arg-type]
    with pytest.raises(TrainingConfigError, match=f"{field} must be > 0"):
        spec.check()


@pytest.fixture
def ft_spec(home: FootprintHome, corpus: ArtifactHandle, annotations: ArtifactHandle) -> RunSpec:
    ckpt = tiny_checkpoint(home.artifacts_dir / "ckpt", corpus.local_path, seed=1, max_positions=24)
    return RunSpec(
        task="finetune", out_dir="", corpus_path=corpus.path, annotations_path=annotations.path,
        init_checkpoint=str(ckpt), seq_len=16, choices=("negative", "positive"),
    )  # fmt: skip


def _labels(ft_spec: RunSpec, tmp_path: Path, *, n: int, labels: list[str] | None) -> RunSpec:
    path = write_annotations(Path(ft_spec.corpus_path), tmp_path / "ann.parquet", n=n, labels=labels)
    return replace(ft_spec, annotations_path=str(path))


def test_good_inputs_pass(ft_spec: RunSpec) -> None:
    train_set, eval_set = finetune_inputs(ft_spec)
    assert len(train_set.labels) == 60 and len(eval_set.labels) == 40


def test_too_few_labelled(ft_spec: RunSpec, tmp_path: Path) -> None:
    with pytest.raises(TrainingConfigError, match=r"only 5 labelled examples \(need >= 20"):
        finetune_inputs(_labels(ft_spec, tmp_path, n=5, labels=None))


def test_single_class(ft_spec: RunSpec, tmp_path: Path) -> None:
    with pytest.raises(TrainingConfigError, match=r"of one class \['positive'\]"):
        finetune_inputs(_labels(ft_spec, tmp_path, n=40, labels=["positive"]))


def test_labels_not_in_config(ft_spec: RunSpec, tmp_path: Path) -> None:
    spec = _labels(ft_spec, tmp_path, n=40, labels=["negative", "positive", "meh"])
    with pytest.raises(
        TrainingConfigError, match=r"annotation labels \{'meh': 13\} are not in label_tasks' label set"
    ):
        finetune_inputs(spec)


def test_missing_upstream_checkpoint(ft_spec: RunSpec, tmp_path: Path) -> None:
    with pytest.raises(TrainingConfigError, match=r"upstream checkpoint .*gone is missing"):
        finetune_inputs(replace(ft_spec, init_checkpoint=str(tmp_path / "gone")))


def test_seq_len_beyond_checkpoint_positions(ft_spec: RunSpec) -> None:
    with pytest.raises(
        TrainingConfigError, match=r"seq_len=32 exceeds the checkpoint's max_position_embeddings=24"
    ):
        finetune_inputs(replace(ft_spec, seq_len=32))


def test_hub_checkpoint_offline_fails_at_once(home: FootprintHome) -> None:
    t0 = time.perf_counter()
    with pytest.raises(TrainingConfigError, match=r"HF_HUB_OFFLINE is set and it is not in the cache"):
        check_hub("google-bert/bert-base-uncased", home.cache_dir)
    assert time.perf_counter() - t0 < 2.0


def test_assets_refuse_before_compute(home: FootprintHome, corpus: ArtifactHandle, tmp_path: Path) -> None:
    single = write_annotations(corpus.local_path, tmp_path / "one.parquet", n=40, labels=["positive"])
    ckpt = tiny_checkpoint(home.artifacts_dir / "ckpt", corpus.local_path, seed=1)
    upstream = fake_upstream(
        clean_corpus=corpus,
        annotations=annotations_handle(single, "m-one"),
        pretrained_model=ArtifactHandle("pretrained_model", "m-ckpt", str(ckpt), 1),
        baseline_model=NO_BASELINE,
    )
    t0 = time.perf_counter()
    res = run_assets(home, [*upstream[:1], pretrained_model], {"pretrained_model": {"num_heads": 5}})
    assert "TrainingConfigError" in step_error(res, "pretrained_model")
    assert "num_heads=5 does not divide hidden_size=64" in step_error(res, "pretrained_model")
    res = run_assets(home, [*upstream, finetuned_model], {})
    assert "of one class ['positive']" in step_error(res, "finetuned_model")
    assert time.perf_counter() - t0 < 30, "a refused config must not start training"
    assert not any(home.pending_dir.iterdir()) and not home.warehouse_path.exists(), "nothing recorded"
