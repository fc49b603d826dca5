"""Several processes: each rank meters what it owns; rank 0 aggregates without double counting."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from metering.distributed import RankInfo, merge_devices, rank_backends
from metering.measurement import DeviceEnergy, Measurement
from metering.meter import Meter, MeterError
from metering.nvml_fake import FakeGpu, FakeNvml, autospec_nvml
from warehouse.facts import utcnow

REPO = Path(__file__).resolve().parents[2]


def kinds(backends: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    meter = Meter(backends)
    meter.begin_window("w")
    return [(d.kind, d.index) for d in meter.end_window("w").devices]


@pytest.mark.parametrize("n_gpus,local_world", [(2, 2), (4, 2), (1, 2), (3, 3)])
def test_each_gpu_owned_by_exactly_one_local_rank(
    n_gpus: int, local_world: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = autospec_nvml(FakeNvml([FakeGpu() for _ in range(n_gpus)]))
    seen: list[tuple[str, int]] = []
    for lr in range(local_world):
        info = RankInfo(rank=lr, local_rank=lr, world_size=local_world, local_world_size=local_world)
        seen += kinds(rank_backends(info=info, nvml=nvml))
    assert sorted(seen) == sorted([("cpu", 0), ("ram", 0)] + [("gpu", i) for i in range(n_gpus)])


def test_no_nvml_says_unavailable_once_per_node() -> None:
    nvml = autospec_nvml(FakeNvml(library=False))
    r0 = kinds(rank_backends(info=RankInfo(0, 0, 2, 2), nvml=nvml))
    r1 = kinds(rank_backends(info=RankInfo(1, 1, 2, 2), nvml=nvml))
    # no GPU at all: one "no device" reading (index -1), shown but never billed
    assert sorted(r0) == [("cpu", 0), ("gpu", -1), ("ram", 0)] and r1 == []


def test_rank_env_validation() -> None:
    assert RankInfo.from_env({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}).local_world_size == 2
    with pytest.raises(MeterError, match="inconsistent rank environment"):
        RankInfo.from_env({"RANK": "0", "LOCAL_RANK": "3", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"})
    with pytest.raises(MeterError, match="must be integers"):
        RankInfo.from_env({"RANK": "x"})


def test_merge_keeps_a_device_reported_twice_once() -> None:
    def dev(kind: str, idx: int, e: float, rank: int) -> DeviceEnergy:
        return DeviceEnergy(kind, idx, kind, e, 1.0, "measured", "t", rank=rank, host="h")

    a = Measurement("w", utcnow(), 1.0, (dev("cpu", 0, 10.0, 0), dev("gpu", 0, 5.0, 0)))
    b = Measurement("w", utcnow(), 2.0, (dev("gpu", 1, 7.0, 1), dev("cpu", 0, 10.0, 1)))
    m = merge_devices([a, b])
    assert m.energy_j == 22.0 and m.duration_s == 2.0
    assert [(d.kind, d.index, d.rank) for d in m.devices] == [("cpu", 0, 0), ("gpu", 0, 0), ("gpu", 1, 1)]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_torchrun_two_ranks_aggregate_without_double_counting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [
        str(REPO / ".venv/bin/torchrun"),
        "--standalone",
        "--nproc-per-node",
        "2",
        str(Path(__file__).with_name("torchrun_worker.py")),
        str(tmp_path),
    ]
    r = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert sorted((d["kind"], d["index"]) for d in r0["local"]) == [("cpu", 0), ("gpu", 0), ("ram", 0)]
    assert [(d["kind"], d["index"], d["rank"]) for d in r1["local"]] == [("gpu", 1, 1)]
    assert r1["total"] is None
    total = sorted((d["kind"], d["index"], d["rank"]) for d in r0["total"])
    assert total == [("cpu", 0, 0), ("gpu", 0, 0), ("gpu", 1, 1), ("ram", 0, 0)]  # each device once
    local_sum = sum(d["energy_j"] or 0.0 for d in r0["local"] + r1["local"])
    assert r0["total_energy_j"] == pytest.approx(local_sum)
    cpu = next(d for d in r0["total"] if d["kind"] == "cpu")
    if cpu["source"].startswith("cpu-model"):  # rank 0 meters the agent's tree: both workers' CPU
        assert float(cpu["source"].split("cpu_s=")[1]) >= 0.55
