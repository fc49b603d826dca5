"""Training specs: plain dataclasses that travel from the orchestrating asset to every rank (as JSON in
the Dagster Pipes extras), and the checks that reject a config that cannot work before any compute.

The recipe knobs map one to one onto transformers' `TrainingArguments` (training/arguments.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["pretrain", "finetune"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
LR_SCHEDULERS: tuple[str, ...] = ("constant_with_warmup", "linear", "cosine", "constant")
# Where a run is, not what it computes: left out of the run key (training/checkpoints.py).
# Where a run writes, and where it reads its inputs from: neither is what it computes. The inputs' paths
# are this machine's copies (a store's artifacts are fetched into each machine's cache); the upstream
# materialization ids in the run key name their content.
_PLACEMENT_FIELDS = (
    "out_dir",
    "checkpoint_dir",
    "resume_from",
    "corpus_path",
    "annotations_path",
    "init_checkpoint",
)


class TrainingConfigError(ValueError):
    """A training config or input that cannot work; raised before any compute is spent."""


@dataclass(frozen=True)
class ModelShape:
    """BERT size. Defaults are tiny: trains on 2 CPUs in about a minute."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 64
    vocab_size: int = 2000

    def check(self, seq_len: int) -> None:
        positive = {
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "vocab_size": self.vocab_size,
            "seq_len": seq_len,
        }
        for name, value in positive.items():
            if value <= 0:
                raise TrainingConfigError(f"{name} must be > 0, got {value}")
        if self.hidden_size % self.num_heads:
            raise TrainingConfigError(
                f"num_heads={self.num_heads} does not divide hidden_size={self.hidden_size}; "
                f"pick heads from {[h for h in range(1, self.hidden_size + 1) if self.hidden_size % h == 0]}"
            )
        if seq_len > self.max_position_embeddings:
            raise TrainingConfigError(
                f"seq_len={seq_len} exceeds max_position_embeddings={self.max_position_embeddings}; "
                "lower seq_len or raise max_position_embeddings"
            )
        if self.vocab_size < 100:
            raise TrainingConfigError(f"vocab_size={self.vocab_size} is too small for WordPiece; use >= 100")


@dataclass(frozen=True)
class RunSpec:
    """What one training run does. `task` selects pretraining (MLM) or fine-tuning (classifier)."""

    task: Task
    out_dir: str  # the final model ($FOOTPRINT_HOME/artifacts/<asset>/<materialization_id>)
    corpus_path: str  # clean_corpus Parquet (row_id, text, split[, gold_label])
    max_steps: int = 1200  # optimizer steps
    batch_size: int = 32  # per rank and micro-batch
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    seq_len: int = 32
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1  # of max_steps, linear warm-up
    lr_scheduler: str = "constant_with_warmup"  # after warm-up (one of LR_SCHEDULERS)
    weight_decay: float = 0.01  # AdamW
    max_grad_norm: float = 1.0  # gradient clipping
    mlm_probability: float = 0.15  # pretraining: share of tokens masked and predicted
    precision: str = "auto"  # auto: bf16 on a CUDA GPU that has it, else fp16 on CUDA, fp32 on CPU
    seed: int = 0
    log_every_steps: int = 50  # logging steps: loss to the log, TrainingProgress facts
    eval_steps: int = 50  # fine-tuning: evaluation on the held-out split every N steps (0: only at the end)
    save_steps: int = 200  # a resumable checkpoint every N steps into checkpoint_dir (0: none)
    threads_per_rank: int = 1  # torch intra-op threads on CPU; 0 = cores // ranks on the node
    shape: ModelShape = field(default_factory=ModelShape)
    init_from: str = ""  # hub checkpoint name for pretraining; "" = from scratch
    checkpoint_dir: str = ""  # where resumable checkpoints go (stable across attempts); "" = none
    resume_from: str = ""  # a `checkpoint-N` directory of checkpoint_dir to resume from; "" = fresh
    # fine-tuning only
    annotations_path: str = ""
    init_checkpoint: str = ""  # the pretrained_model handle's path
    choices: tuple[str, ...] = ()  # the classes: label_tasks' label set, as the annotations carry it
    min_labelled: int = 20

    def check(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum_steps", "log_every_steps", "seq_len"):
            if getattr(self, name) <= 0:
                raise TrainingConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("eval_steps", "save_steps", "weight_decay"):
            if getattr(self, name) < 0:
                raise TrainingConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise TrainingConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.max_grad_norm <= 0:
            raise TrainingConfigError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if not 0 <= self.warmup_ratio < 1:
            raise TrainingConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.mlm_probability < 1:
            raise TrainingConfigError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.precision not in PRECISIONS:
            raise TrainingConfigError(f"precision {self.precision!r} is not one of {PRECISIONS}")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise TrainingConfigError(f"lr_scheduler {self.lr_scheduler!r} is not one of {LR_SCHEDULERS}")
        if self.task == "pretrain" and not self.init_from:
            self.shape.check(self.seq_len)
        if self.task == "finetune":
            check_classes(self.choices)
            if not self.init_checkpoint:
                raise TrainingConfigError(
                    "fine-tuning needs init_checkpoint (the pretrained_model handle's path)"
                )

    def run_key(self, upstream_materialization_ids: list[str]) -> str:
        """What determines this run (the spec without where it is written, plus the upstream
        materializations it consumes): attempts with the same key may resume each other."""
        what = {k: v for k, v in self.to_json().items() if k not in _PLACEMENT_FIELDS}
        text = json.dumps({"spec": what, "upstream": sorted(upstream_materialization_ids)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["choices"] = list(self.choices)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingConfigError(f"unknown run spec key(s) {unknown}; known: {sorted(known)}")
        data["shape"] = ModelShape(**data.get("shape", {}))
        data["choices"] = tuple(data.get("choices", ()))
        return cls(**data)


def check_classes(choices: tuple[str, ...] | list[str]) -> None:
    """The classes of a fine-tuning run: at least two distinct ones (label_tasks' label set)."""
    if len(set(choices)) < 2 or len(set(choices)) != len(choices):
        raise TrainingConfigError(
            f"the classes must be at least 2 distinct labels, got {list(choices)}; they come from the "
            "label set label_tasks created (annotation_policy.choices): fix it there and re-materialize "
            "label_tasks and annotations"
        )
