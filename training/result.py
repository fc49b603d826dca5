"""What a training run hands back to the orchestrating asset (JSON through Dagster Pipes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunResult:
    task: str
    checkpoint_dir: str
    world_size: int
    steps: int  # optimizer steps done by this attempt (a resumed one: max_steps - resumed_from_step)
    samples: int
    tokens: int
    padded_tokens: int
    loop_s: float  # the training loop at rank 0 (wall), this attempt
    loop_cpu_s: float  # CPU seconds of rank 0's process during the loop
    wall_s: float  # rank 0 from process start to checkpoint saved
    samples_per_s: float
    tokens_per_s: float
    params: int
    final_loss: float | None
    loss_steps: list[int]
    losses: list[float]
    bytes_read: int
    read_s: float
    bytes_written: int
    write_s: float
    loss_curve_png: str
    window_ids: list[str] = field(default_factory=list)  # each rank's meter window
    metrics: dict[str, Any] = field(default_factory=dict)  # fine-tuning: ClassificationScores as dict
    init_checkpoint: str = ""
    init_weights_sha256: str = ""
    n_train: int = 0
    n_eval: int = 0
    global_step: int = 0  # optimizer steps of the run, all attempts together
    resumed_from_step: int = 0  # 0: this attempt started fresh
    resumed_from_checkpoint: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(**data)
