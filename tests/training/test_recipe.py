"""The recipe as transformers sees it: RunSpec checks, TrainingArguments from a RunSpec, precision per
device, and the metric-key convention of the evaluation facts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from training.arguments import precision_flags, training_arguments
from training.config import RunSpec, TrainingConfigError
from training.dist import Dist
from training.metrics import classification_scores, metric_key, parse_metric_key, scores_as_metrics

SPEC = RunSpec(task="pretrain", out_dir="/tmp/out", corpus_path="x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grad_accum_steps": 0}, "grad_accum_steps must be > 0"),
        ({"warmup_ratio": 1.0}, r"warmup_ratio must be in \[0, 1\)"),
        ({"mlm_probability": 0.0}, r"mlm_probability must be in \(0, 1\)"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be > 0"),
        ({"save_steps": -1}, "save_steps must be >= 0"),
        ({"precision": "fp8"}, "precision 'fp8' is not one of"),
        ({"lr_scheduler": "wsd"}, "lr_scheduler 'wsd' is not one of"),
    ],
)
def test_bad_knobs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(TrainingConfigError, match=message):
        replace(SPEC, **change).check()  # type: ignore[arg-type]


def test_a_spec_survives_json() -> None:
    spec = replace(SPEC, task="finetune", choices=("a", "b", "c"), init_checkpoint="/ck")
    assert RunSpec.from_json(spec.to_json()) == spec
    with pytest.raises(TrainingConfigError, match=r"unknown run spec key\(s\) \['choises'\]"):
        RunSpec.from_json({**spec.to_json(), "choises": ["a"]})


def test_precision_per_device() -> None:
    assert precision_flags("auto", "cpu") == {}, "fp32 on CPU"
    assert precision_flags("bf16", "cpu") == {"bf16": True, "fp16": False}
    assert precision_flags("fp32", "cuda:0") == {"bf16": False, "fp16": False}
    with pytest.raises(TrainingConfigError, match="fp16' needs a CUDA GPU"):
        precision_flags("fp16", "cpu")


def test_training_arguments_carry_the_recipe() -> None:
    spec = replace(
        SPEC, max_steps=100, batch_size=8, grad_accum_steps=4, warmup_ratio=0.25, weight_decay=0.05,
        max_grad_norm=0.5, learning_rate=3e-4, log_every_steps=7, save_steps=20, checkpoint_dir="/tmp/ck",
        eval_steps=10, seed=11,
    )  # fmt: skip
    args = training_arguments(spec, Dist(), evaluate=True)
    assert (args.max_steps, args.per_device_train_batch_size, args.gradient_accumulation_steps) == (100, 8, 4)
    assert args.get_warmup_steps(100) == 25 and args.lr_scheduler_type == "constant_with_warmup"
    assert (args.weight_decay, args.max_grad_norm, args.learning_rate) == (0.05, 0.5, 3e-4)
    assert (args.logging_steps, args.save_steps, args.save_total_limit, args.output_dir) == (
        7,
        20,
        1,
        "/tmp/ck",
    )
    assert (args.eval_strategy, args.eval_steps, args.seed) == ("steps", 10, 11)
    assert (args.bf16, args.fp16, args.use_cpu, args.report_to) == (False, False, True, [])
    bare = training_arguments(replace(spec, checkpoint_dir=""), Dist(), evaluate=False)
    assert (bare.save_strategy, bare.eval_strategy, bare.output_dir) == ("no", "no", "/tmp/out")


def test_metric_keys_round_trip() -> None:
    scores = classification_scores([0, 1, 2, 2], [0, 1, 1, 2], ("neg", "sci/tech", "pos"))
    for key, value in scores_as_metrics(scores).items():
        split, name, label = parse_metric_key(f"eval_{key}")  # type: ignore[misc]
        assert split == "eval" and metric_key(name, label) == key and 0.0 <= value <= 1.0
    assert parse_metric_key("eval_f1/sci/tech") == ("eval", "f1", "sci/tech"), "a label may hold '/'"
    assert parse_metric_key("eval_f1_macro") == ("eval", "f1_macro", None)
    assert parse_metric_key("test_loss") == ("test", "loss", None)
    for not_quality in ("eval_runtime", "eval_samples_per_second", "epoch", "eval_"):
        assert parse_metric_key(not_quality) is None, not_quality
