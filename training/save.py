"""Saving the final model of a run (rank 0, through Trainer: weights, config, tokenizer) into the
materialization's out_dir, plus its loss curve; bytes and seconds."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.dist import Dist, barrier
from training.fit import FitStats
from training.plot import loss_curve_png
from training.result import RunResult
from warehouse.artifacts import tree_bytes

LOSS_CURVE = "loss_curve.png"


@dataclass(frozen=True)
class Saved:
    bytes_written: int
    write_s: float
    loss_curve_png: str


def save_final(trainer: Any, out_dir: Path, stats: FitStats, dist: Dist, *, title: str) -> Saved:
    """Every rank calls it; rank 0 writes model + tokenizer into `out_dir`; the others wait for it."""
    t0 = time.perf_counter()
    trainer.save_model(str(out_dir))
    saved = Saved(0, 0.0, "")
    if dist.rank == 0:
        (out_dir / "training_args.bin").unlink(missing_ok=True)  # pickled arguments: not part of a model
        write_s = time.perf_counter() - t0
        png = loss_curve_png(stats.loss_steps, stats.losses, out_dir / LOSS_CURVE, title=title)
        saved = Saved(tree_bytes(out_dir), write_s, str(png))
    barrier(dist)
    return saved


def weights_sha256(checkpoint_dir: Path) -> str:
    """Fingerprint of a checkpoint's weight files (which checkpoint a model was really loaded from)."""
    h = hashlib.sha256()
    files = sorted(checkpoint_dir.glob("*.safetensors")) or sorted(checkpoint_dir.glob("*.bin"))
    for f in files:
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def run_result(
    task: str,
    out_dir: Path,
    dist: Dist,
    stats: FitStats,
    saved: Saved,
    *,
    model: Any,
    started_s: float,
    read: tuple[int, float],
    resumed_from: str,
    **extra: Any,
) -> RunResult:
    """The RunResult of a finished attempt: counters from `stats`, bytes and seconds of the final model
    from `saved`, `read` = (bytes read, seconds reading), wall time since `started_s`
    (time.perf_counter() at process start); task-specific fields in `extra`."""
    return RunResult(
        task=task,
        checkpoint_dir=str(out_dir),
        world_size=dist.world_size,
        steps=stats.steps,
        samples=stats.samples,
        tokens=stats.tokens,
        padded_tokens=stats.padded_tokens,
        loop_s=stats.loop_s,
        loop_cpu_s=stats.loop_cpu_s,
        wall_s=time.perf_counter() - started_s,
        samples_per_s=stats.samples_per_s,
        tokens_per_s=stats.tokens_per_s,
        params=sum(p.numel() for p in model.parameters()),
        final_loss=stats.final_loss,
        loss_steps=stats.loss_steps,
        losses=stats.losses,
        bytes_read=read[0],
        read_s=read[1],
        bytes_written=saved.bytes_written,
        write_s=saved.write_s,
        loss_curve_png=saved.loss_curve_png,
        global_step=stats.global_step,
        resumed_from_step=stats.resumed_from_step,
        resumed_from_checkpoint=resumed_from,
        **extra,
    )
