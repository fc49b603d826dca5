"""Per-rank meter windows inside a torchrun job.

Each rank opens its own window (role 'rank', `rank` = RANK) in the host ledger, under the
materialization id the orchestrating asset passed through the Pipes extras, as early as possible
(before torch is imported). The window is rooted at the rank's process, so from then on the rank's
process tree is the rank's; until then (interpreter start, reading the extras) the rank is in the
step's window, like the torchrun agent. The ledger records every device of the host once per tick,
so nothing is aggregated here: rank 0 only gathers the ranks' window ids for the step's metadata.
A rank writes no Materialization/outcome facts: those belong to the orchestrator's recorder.
`training.callback.FootprintCallback` opens this window itself, or adopts one opened earlier.
"""

from __future__ import annotations

from metering.ledger import Ledger
from metering.window import Window
from training.dist import Dist, gather_strings
from warehouse.home import FootprintHome


def open_rank_window(
    home: FootprintHome, *, materialization_id: str, rank: int, heartbeat_s: float
) -> Window:
    """This rank's window (close it, or use it as a context manager)."""
    return Ledger(home).window(
        materialization_id=materialization_id,
        role="rank",
        name=f"rank {rank}",
        rank=rank,
        heartbeat_s=heartbeat_s,
    )


def gather_window_ids(window_id: str, rank: int, world_size: int) -> list[str]:
    """Collective: every rank's window id, at rank 0 (other ranks get []). The process group must be
    initialised when world_size > 1; under nccl the ids travel on this rank's current GPU."""
    if world_size == 1:
        return [window_id]
    import torch

    nccl = torch.distributed.get_backend() == "nccl"
    device = f"cuda:{torch.cuda.current_device()}" if nccl else "cpu"
    ids = gather_strings(window_id, Dist(rank=rank, world_size=world_size, device=device))
    return ids if rank == 0 else []
