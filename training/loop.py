"""The training loop shared by pretraining and fine-tuning: one process per rank (torchrun), DDP when
there are several, gloo on CPU and nccl on GPU. Progress goes to a `log` callable (the Pipes logger on
rank 0), the loss curve is kept at rank 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

Batch = dict[str, torch.Tensor]
Log = Callable[[str], None]


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    device: str = "cpu"

    @property
    def backend(self) -> str:
        return "nccl" if self.device.startswith("cuda") else "gloo"


def init_dist(threads_per_rank: int = 1) -> Dist:
    """Read torchrun's environment and join the process group (a no-op for a single process).

    On CPU, `threads_per_rank` torch threads (0: cores // local ranks). One is the default: a tiny
    model gains little from intra-op threads, and on shared cores extra threads thrash (measured on a
    busy 2-core machine: 6.4 steps/s with 1 thread, 1.2 with 2)."""
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
    else:
        auto = (os.cpu_count() or 1) // max(1, local_world)
        torch.set_num_threads(max(1, threads_per_rank or auto))
    dist = Dist(rank, local_rank, world, local_world, device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=dist.backend)
    return dist


def shutdown_dist() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@dataclass
class TrainStats:
    """Counters summed over all ranks (after `finish`); wall time of the loop at rank 0."""

    steps: int = 0
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


def wrap(model: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    model.to(dist.device)
    if dist.world_size > 1:
        ids = [dist.local_rank] if dist.device.startswith("cuda") else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return model


def _mean_over_ranks(value: float, dist: Dist) -> float:
    if dist.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t.item()) / dist.world_size


def _sum_over_ranks(values: list[int], dist: Dist) -> list[int]:
    if dist.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return [int(v) for v in t.tolist()]


def train(
    model: torch.nn.Module,
    make_batch: Callable[[int], Batch],
    *,
    dist: Dist,
    max_steps: int,
    learning_rate: float,
    log_every_steps: int,
    log: Log,
    what: str,
) -> TrainStats:
    """`make_batch(step)` gives this rank's batch for `step` (already sharded); tensors on CPU."""
    ddp = wrap(model, dist)
    ddp.train()
    opt = torch.optim.AdamW(ddp.parameters(), lr=learning_rate, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, max_steps // 10)))
    stats = TrainStats()
    local = [0, 0, 0]  # samples, tokens, padded tokens
    window_loss, window_n = 0.0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(1, max_steps + 1):
        batch = {k: v.to(dist.device) for k, v in make_batch(step).items()}
        out: Any = ddp(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        window_loss += float(out.loss.detach())
        window_n += 1
        mask = batch["attention_mask"]
        local[0] += int(mask.shape[0])
        local[1] += int(mask.sum())
        local[2] += int(mask.numel())
        if step % log_every_steps == 0 or step == max_steps:
            loss = _mean_over_ranks(window_loss / window_n, dist)
            window_loss, window_n = 0.0, 0
            stats.loss_steps.append(step)
            stats.losses.append(loss)
            rate = step / (time.perf_counter() - t0)
            log(f"{what} step {step}/{max_steps} loss {loss:.4f} ({rate:.1f} steps/s)")
    if dist.device.startswith("cuda"):
        torch.cuda.synchronize()
    stats.loop_s = time.perf_counter() - t0
    stats.loop_cpu_s = time.process_time() - c0
    stats.steps = max_steps
    stats.samples, stats.tokens, stats.padded_tokens = _sum_over_ranks(local, dist)
    return stats


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, torch.nn.Module) else model


def shard_indices(n: int, dist: Dist, seed: int) -> list[int]:
    """This rank's share of a seeded permutation of range(n) (every rank gets >= 1 index)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g).tolist()
    mine = perm[dist.rank :: dist.world_size]
    return mine or perm[: max(1, len(perm))][:1]


def cycling_batches(indices: list[int], batch_size: int, seed: int) -> Callable[[int], list[int]]:
    """step -> the indices of that step's batch, reshuffled at every pass over `indices`."""
    per_epoch = max(1, len(indices) // batch_size) if len(indices) >= batch_size else 1
    cache: dict[int, list[int]] = {}

    def pick(step: int) -> list[int]:
        epoch, pos = divmod(step - 1, per_epoch)
        if epoch not in cache:
            cache.clear()
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            order = [indices[i] for i in torch.randperm(len(indices), generator=g).tolist()]
            while len(order) < batch_size:  # tiny shards: repeat to fill one batch
                order += order
            cache[epoch] = order
        order = cache[epoch]
        return order[pos * batch_size : pos * batch_size + batch_size]

    return pick
