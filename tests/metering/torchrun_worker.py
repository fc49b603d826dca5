"""Run by test_distributed under `torchrun --nproc-per-node 2 torchrun_worker.py HOME MID OUT`: each rank
opens its rank window first (as training.entry does), burns 0.3 CPU s, and rank 0 writes every rank's
window id to OUT/windows.json."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from training.rank_meter import gather_window_ids, open_rank_window
from warehouse.home import FootprintHome


def main() -> None:
    home, mid, out = FootprintHome.resolve(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    rank = int(os.environ["RANK"])
    with open_rank_window(home, materialization_id=mid, rank=rank, heartbeat_s=0.5) as window:
        import torch.distributed as dist  # imported inside the rank's window: its CPU is the rank's

        dist.init_process_group("gloo")
        t = time.process_time()
        while time.process_time() - t < 0.3:
            pass
        ids = gather_window_ids(window.window_id, rank, dist.get_world_size())
        dist.destroy_process_group()
    if rank == 0:
        (out / "windows.json").write_text(json.dumps(ids))


if __name__ == "__main__":
    main()
