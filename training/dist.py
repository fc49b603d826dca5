"""The torchrun process group as our own code sees it: which rank and device this process is, and the
few collectives we call ourselves (Trainer does its own through accelerate).

gloo on CPU, nccl on CUDA. NCCL only moves CUDA tensors, so every tensor handed to a collective here
is placed on `Dist.collective_device` first (tested on CPU with a simulated nccl group:
tests/training/test_collectives.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

TORCHRUN_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    device: str = "cpu"  # this rank's compute device: "cpu" or "cuda:<local_rank>"

    @property
    def backend(self) -> str:
        return "nccl" if self.device.startswith("cuda") else "gloo"

    @property
    def collective_device(self) -> str:
        """Where a tensor must live to be reduced by this backend (NCCL: this rank's GPU)."""
        return self.device if self.backend == "nccl" else "cpu"


def dist_from_env(*, cuda: bool) -> Dist:
    """torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE) as a Dist."""
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return Dist(rank, local_rank, world, local_world, f"cuda:{local_rank}" if cuda else "cpu")


def init_dist(threads_per_rank: int = 1) -> Dist:
    """Join torchrun's process group (a no-op for a single process) before Trainer does: it then
    adopts this group. One rank per GPU (`cuda:LOCAL_RANK`), or CPU.

    On CPU, `threads_per_rank` torch threads (0: cores // local ranks). One is the default: a tiny
    model gains little from intra-op threads, and on shared cores extra threads thrash (measured on a
    busy 2-core machine: 6.4 steps/s with 1 thread, 1.2 with 2)."""
    import torch

    dist = dist_from_env(cuda=torch.cuda.is_available())
    if dist.world_size == 1:
        # One process is not distributed: without torchrun's variables accelerate does not wrap the
        # model in a one-process DDP (an extra autograd traversal per step for nothing).
        for name in TORCHRUN_RANK_VARIABLES:
            os.environ.pop(name, None)
    if dist.device.startswith("cuda"):
        torch.cuda.set_device(dist.local_rank)
    set_cpu_threads(dist, threads_per_rank)
    if dist.world_size > 1 and not torch.distributed.is_initialized():
        kwargs: dict[str, Any] = {}
        if dist.backend == "nccl":
            kwargs["device_id"] = torch.device(dist.device)  # binds the group to this rank's GPU
        torch.distributed.init_process_group(backend=dist.backend, **kwargs)
    return dist


def set_cpu_threads(dist: Dist, threads_per_rank: int) -> None:
    """torch intra-op threads of a CPU rank (accelerate may have set its own: this one wins)."""
    if dist.device != "cpu":
        return
    import torch

    auto = (os.cpu_count() or 1) // max(1, dist.local_world_size)
    torch.set_num_threads(max(1, threads_per_rank or auto))


def shutdown_dist() -> None:
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def barrier(dist: Dist) -> None:
    """Wait for every rank (no-op for one process). NCCL: on this rank's GPU."""
    if dist.world_size == 1:
        return
    import torch

    if dist.backend == "nccl":
        torch.distributed.barrier(device_ids=[dist.local_rank])
    else:
        torch.distributed.barrier()


def sum_over_ranks(values: list[int], dist: Dist) -> list[int]:
    """Element-wise sum of every rank's `values` (each rank gets the sums)."""
    if dist.world_size == 1:
        return list(values)
    import torch

    t = torch.tensor(values, dtype=torch.float64, device=dist.collective_device)
    torch.distributed.all_reduce(t)
    return [round(v) for v in t.cpu().tolist()]


def gather_strings(text: str, dist: Dist, *, max_bytes: int = 64) -> list[str]:
    """Every rank's `text` (ASCII, at most `max_bytes`), in rank order, on every rank: one fixed-size
    all_gather of byte tensors on the backend's device (no pickled objects)."""
    if dist.world_size == 1:
        return [text]
    import torch

    raw = text.encode("ascii")
    if len(raw) > max_bytes:
        raise ValueError(f"{text!r} is longer than {max_bytes} bytes")
    padded = list(raw.ljust(max_bytes, b"\0"))
    mine = torch.tensor(padded, dtype=torch.uint8, device=dist.collective_device)
    out = [torch.empty_like(mine) for _ in range(dist.world_size)]
    torch.distributed.all_gather(out, mine)
    return [bytes(t.cpu().tolist()).rstrip(b"\0").decode("ascii") for t in out]
