"""Training specs: plain dataclasses that travel from the orchestrating asset to every rank (as JSON in
the Dagster Pipes extras), and the checks that reject a config that cannot work before any compute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["pretrain", "finetune"]


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
    out_dir: str  # checkpoint directory ($FOOTPRINT_HOME/artifacts/<asset>/<materialization_id>)
    corpus_path: str  # clean_corpus Parquet (row_id, text, split[, gold_label])
    max_steps: int = 1200
    batch_size: int = 32  # per rank
    seq_len: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    log_every_steps: int = 50
    threads_per_rank: int = 1  # torch intra-op threads on CPU; 0 = cores // ranks on the node
    shape: ModelShape = field(default_factory=ModelShape)
    init_from: str = ""  # hub checkpoint name for pretraining; "" = from scratch
    # fine-tuning only
    annotations_path: str = ""
    init_checkpoint: str = ""  # the pretrained_model handle's path
    choices: tuple[str, ...] = ("negative", "positive")
    min_labelled: int = 20

    def check(self) -> None:
        for name in ("max_steps", "batch_size", "log_every_steps"):
            if getattr(self, name) <= 0:
                raise TrainingConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise TrainingConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.task == "pretrain" and not self.init_from:
            self.shape.check(self.seq_len)
        if self.task == "finetune":
            if len(set(self.choices)) < 2:
                raise TrainingConfigError(
                    f"choices must name at least 2 distinct classes, got {self.choices}"
                )
            if not self.init_checkpoint:
                raise TrainingConfigError(
                    "fine-tuning needs init_checkpoint (the pretrained_model handle's path)"
                )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        data = dict(data)
        data["shape"] = ModelShape(**data.get("shape", {}))
        data["choices"] = tuple(data.get("choices", ()))
        return cls(**data)
