"""An all-reduce on each rank's own device, a check of `make gpu-check`: under
`torchrun --nproc-per-node N -m metering.gpu_allreduce`, one rank per GPU with NCCL (gloo on CPU, where
the same code runs in the tests). Each rank puts rank + 1 in a tensor on its device; after the
all-reduce every rank checks the sum and that the tensor still lives on the backend's device; rank 0
prints one JSON line (`AllReduceResult`). Exit status 1 when any rank's check failed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class AllReduceResult:
    backend: str
    world_size: int
    device: str  # rank 0's tensor device after the all-reduce
    expected: float
    ok: bool  # every rank got `expected` everywhere, on its backend's device
    seconds: float  # one all-reduce (after a warm-up), rank 0
    bytes: int


def allreduce_check(numel: int = 1 << 20) -> AllReduceResult:
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        tensor = torch.full((numel,), float(rank + 1), device=device)
        dist.all_reduce(tensor)  # warm-up (NCCL builds its communicator here)
        tensor.fill_(float(rank + 1))
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        dist.all_reduce(tensor)
        if cuda:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        expected = world * (world + 1) / 2.0
        mine = bool(torch.all(tensor == expected).item()) and tensor.device == device
        flags = torch.tensor([int(mine)], device=device)  # on the backend's device too
        dist.all_reduce(flags)
        return AllReduceResult(
            backend=dist.get_backend(),
            world_size=world,
            device=str(tensor.device),
            expected=expected,
            ok=int(flags.item()) == world,
            seconds=seconds,
            bytes=numel * tensor.element_size(),
        )
    finally:
        dist.destroy_process_group()


def main() -> int:
    result = allreduce_check()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(dataclasses.asdict(result)), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
