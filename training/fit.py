"""Running a transformers `Trainer` for one attempt: resume, progress to the log, the attempt's figures.

Shared by pretraining and fine-tuning. The counts (samples, non-padding tokens) come from the
BatchCounter on the model, summed over ranks once at the end (one collective, on the backend's
device); the loss curve is Trainer's log history at rank 0 (a resumed run's includes the steps of
the attempts before it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from training.counting import BatchCounter
from training.dist import Dist, sum_over_ranks

Log = Callable[[str], None]


@dataclass
class FitStats:
    """This attempt's figures: counters summed over all ranks; wall and CPU time of rank 0's loop."""

    steps: int = 0  # optimizer steps done by this attempt
    global_step: int = 0  # where the run is (resumed step + steps)
    resumed_from_step: int = 0
    samples: int = 0
    tokens: int = 0  # real (non-padding) tokens
    padded_tokens: int = 0  # tokens the model computed on (for MFU)
    loop_s: float = 0.0
    loop_cpu_s: float = 0.0  # CPU seconds of this process during the loop (contention-independent)
    loss_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.loop_s if self.loop_s else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.loop_s if self.loop_s else 0.0

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


class LogProgress(TrainerCallback):  # type: ignore[misc]
    """Training progress to `log` (the Dagster log through Pipes at rank 0), at Trainer's log steps."""

    def __init__(self, log: Log, what: str) -> None:
        self.log = log
        self.what = what
        self._t0 = 0.0
        self._step0 = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._t0, self._step0 = time.perf_counter(), int(state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        rate = (state.global_step - self._step0) / max(time.perf_counter() - self._t0, 1e-9)
        if "loss" in logs:
            self.log(
                f"{self.what} step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} "
                f"({rate:.1f} steps/s)"
            )
        evals = {k: v for k, v in logs.items() if k.startswith("eval_") and not k.startswith("eval_runtime")}
        if "eval_f1_macro" in evals:
            self.log(
                f"{self.what} step {state.global_step}: eval macro F1 {evals['eval_f1_macro']:.3f}, "
                f"loss {evals.get('eval_loss', float('nan')):.4f}"
            )


def fit(
    trainer: Any, *, dist: Dist, counter: BatchCounter, resume_from: str, log: Log, what: str
) -> FitStats:
    """Train (resuming from `resume_from` when given) and return this attempt's figures."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
    trainer.add_callback(LogProgress(log, what))
    resumed = _resumed_step(resume_from)  # before training: Trainer removes that checkpoint later
    counter.attach(trainer.model)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        trainer.train(resume_from_checkpoint=resume_from or None)
    finally:
        counter.detach()
    if dist.device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    loop_s, loop_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    state = trainer.state
    mine = counter.read()
    samples, tokens, padded = sum_over_ranks([mine.samples, mine.tokens or 0, mine.padded_tokens or 0], dist)
    history = [h for h in state.log_history if "loss" in h and "step" in h]
    return FitStats(
        steps=int(state.global_step) - resumed,
        global_step=int(state.global_step),
        resumed_from_step=resumed,
        samples=samples,
        tokens=tokens,
        padded_tokens=padded,
        loop_s=loop_s,
        loop_cpu_s=loop_cpu_s,
        loss_steps=[int(h["step"]) for h in history],
        losses=[float(h["loss"]) for h in history],
    )


def _resumed_step(checkpoint: str) -> int:
    if not checkpoint:
        return 0
    return int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"])
