"""Saving a checkpoint (rank 0 only) with `save_pretrained`, plus its loss curve; bytes and seconds."""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.loop import Dist, TrainStats
from training.plot import loss_curve_png
from training.result import RunResult
from warehouse.artifacts import tree_bytes

LOSS_CURVE = "loss_curve.png"


@dataclass(frozen=True)
class Saved:
    bytes_written: int
    write_s: float
    loss_curve_png: str


def save_checkpoint(
    model: Any, tokenizer: Any, out_dir: Path, stats: TrainStats, dist: Dist, *, title: str
) -> Saved:
    """Rank 0 writes model + tokenizer into `out_dir`; the other ranks wait for it."""
    saved = Saved(0, 0.0, "")
    if dist.rank == 0:
        t0 = time.perf_counter()
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        shutil.rmtree(out_dir / "tokenizer-staging", ignore_errors=True)
        write_s = time.perf_counter() - t0
        png = loss_curve_png(stats.loss_steps, stats.losses, out_dir / LOSS_CURVE, title=title)
        saved = Saved(tree_bytes(out_dir), write_s, str(png))
    if dist.world_size > 1:
        torch.distributed.barrier()
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
    stats: TrainStats,
    saved: Saved,
    *,
    model: Any,
    started_s: float,
    read: tuple[int, float],
    **extra: Any,
) -> RunResult:
    """The RunResult of a finished run: counters from `stats`, bytes and seconds of the checkpoint
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
        **extra,
    )
