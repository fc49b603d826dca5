"""Run by test_distributed under `torchrun --nproc-per-node 2`: meters with 2 fake GPUs, aggregates
at rank 0, writes what each rank saw to <out_dir>/rank<N>.json."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch.distributed as dist

from metering.distributed import aggregate_at_rank0, rank_backends
from metering.meter import Meter
from metering.nvml_fake import FakeGpu, FakeNvml, autospec_nvml


def rows(m):  # type: ignore[no-untyped-def]
    return [
        {"kind": d.kind, "index": d.index, "rank": d.rank, "energy_j": d.energy_j, "source": d.source}
        for d in m.devices
    ]


def main() -> None:
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    nvml = autospec_nvml(FakeNvml([FakeGpu(power_w=100.0), FakeGpu(power_w=50.0)]))
    meter = Meter(rank_backends(nvml=nvml))
    with meter.window("train") as w:
        t = time.process_time()
        while time.process_time() - t < 0.3:  # each rank burns 0.3 CPU s
            pass
        dist.barrier()
    assert w.measurement is not None
    total = aggregate_at_rank0(w.measurement)
    result = {"rank": rank, "local": rows(w.measurement), "total": None if total is None else rows(total)}
    if total is not None:
        result["total_energy_j"] = total.energy_j
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
