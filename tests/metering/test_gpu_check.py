"""The parts of `make gpu-check` that run without a GPU: the report and its exit codes, the "no GPU"
path (the real pynvml here, and a fake without devices), the device facts and CUDA-to-NVML map from
the fake NVML, energy by counter vs integrated power on a fake clock, the overhead arithmetic, the
ranks-add-up check on a real warehouse fed by a fake-NVML ledger, and the all-reduce worker on gloo."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynvml
import pytest

from metering.gpu_devices import CudaView, compare_map, list_gpus, map_cuda_devices, uuid_body
from metering.gpu_power import PowerSampler, counter_delta_j, energy_check, integrate_power_j
from metering.gpu_readiness import (
    EXIT_FAIL,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    FAIL,
    INFO,
    PASS,
    SKIP,
    Check,
    device_checks,
    exit_code,
    format_report,
    map_checks,
    open_nvml,
    overhead_check,
    probe_devices,
    rank_energy_checks,
)
from metering.ledger import Ledger
from metering.nvml import GpuReader
from metering.nvml_fake import COUNTER_MODULUS, FakeClock, FakeGpu, FakeNvml, autospec_nvml
from tests.metering.ledger_facts import REPO
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

SCRIPT = REPO / "scripts" / "gpu_check.py"


def statuses(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_report_lines_and_exit_codes() -> None:
    checks = [Check("a", PASS, "1 J"), Check("longer name", SKIP, "why", "detail"), Check("c", INFO, "x")]
    text = format_report(checks)
    assert text.splitlines()[0] == "PASS  a            1 J"
    assert "SKIP  longer name  why  [detail]" in text and text.endswith("1 passed, 0 failed, 1 skipped")
    assert exit_code(checks) == EXIT_OK
    assert exit_code([*checks, Check("d", FAIL, "0 J")]) == EXIT_FAIL


def test_no_gpu_here_is_said_and_has_its_own_exit_code() -> None:
    """The real binding on this machine: NVML's library is absent (NVMLError_LibraryNotFound)."""
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("NVML works on this machine")
    except pynvml.NVMLError_LibraryNotFound:
        pass
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert r.returncode == EXIT_NOTHING_CHECKED, r.stderr
    assert r.stdout.strip() == (
        "GPU check: nothing checked: NVML library not found or not usable "
        "(NVMLError_LibraryNotFound: NVML Shared Library Not Found)"
    )
    nv, why = open_nvml(lambda: autospec_nvml(FakeNvml([])))
    assert nv is None and why == "NVML lists no NVIDIA GPU"

    def missing() -> Any:
        raise ImportError("No module named 'pynvml'")

    assert "pip install nvidia-ml-py" in (open_nvml(missing)[1] or "")


def test_device_facts_from_nvml() -> None:
    gpus = [
        FakeGpu(name="H100", mig=True, persistence=False),
        FakeGpu(name="V100", counter=False),
        FakeGpu(refuse_handle=True),
    ]
    fake = FakeNvml(gpus)
    nv, _ = open_nvml(lambda: autospec_nvml(fake))
    ticks = iter(range(1000))
    facts = probe_devices(nv, reads=3, clock=lambda: next(ticks) * 1e-4)  # each read takes 0.1 ms
    assert [(f.mig, f.persistence, f.counter) for f in facts] == [
        (True, False, True),
        (False, True, False),
        (None, None, None),
    ]
    assert facts[0].read_s == pytest.approx(1e-4) and fake.calls["nvmlDeviceGetTotalEnergyConsumption"] == 4
    got = statuses(device_checks(facts, binding=nv))
    assert got["NVML binding"] == PASS
    assert (got["GPU 0 energy counter"], got["GPU 1 energy counter"], got["GPU 2 handle"]) == (
        PASS,
        FAIL,
        FAIL,
    )
    lines = {c.name: c for c in device_checks(facts)}
    assert lines["GPU 0 MIG mode"].figure == "on" and lines["GPU 1 MIG mode"].figure == "off"
    assert "nvidia-smi -pm 1" in lines["GPU 0 persistence mode"].detail
    assert lines["GPU 0 counter read latency"].figure.startswith("0.100 ms")
    assert statuses(device_checks([], binding=autospec_nvml(fake, official=False)))["NVML binding"] == FAIL


def test_device_map_lines() -> None:
    gpus = [FakeGpu(), FakeGpu()]
    nv = autospec_nvml(FakeNvml(gpus))
    nv.nvmlInit()
    devices = map_cuda_devices(nv, CudaView(None, pci_order=True), list_gpus(nv))
    runtime = [uuid_body(g.uuid) for g in gpus]
    lines = map_checks(compare_map(devices, runtime))
    assert [c.status for c in lines] == [PASS, PASS] and lines[0].figure.endswith("MATCH")
    assert f"NVML {gpus[1].uuid} (NVML index 1, by pci-bus-order)" in lines[1].figure
    lines = map_checks(compare_map(devices, runtime[::-1]))
    assert [c.status for c in lines] == [FAIL, FAIL] and lines[0].figure.endswith("MISMATCH")
    default_order = map_cuda_devices(nv, CudaView(("1",), pci_order=False), list_gpus(nv))
    [line] = map_checks(compare_map(default_order, runtime[1:]))
    assert line.status == FAIL and "CUDA_DEVICE_ORDER" in line.detail  # CUDA has it, NVML cannot say
    # with NVML at hand, the runtime's UUID finds it: cuda:0 of this process is NVML index 1
    [line] = map_checks(compare_map(default_order, runtime[1:], nv, list_gpus(nv)))
    assert line.status == PASS and "by cuda-uuid" in line.figure
    assert line.figure.endswith("MATCH; CUDA ordinal 0 is NVML index 1")
    [line] = map_checks(compare_map(default_order, ["ffffffff-0000-0000-0000-000000000000"], nv))
    assert line.status == FAIL and "NotFound" in line.detail  # a CUDA device NVML does not know
    assert [c.status for c in map_checks(compare_map(devices, None))] == [SKIP, SKIP]


def test_energy_arithmetic() -> None:
    assert integrate_power_j([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(150.0 + 400.0)
    assert integrate_power_j([(0.0, 100.0)]) == 0.0
    assert counter_delta_j(1_000, 3_500) == pytest.approx(2.5)
    assert counter_delta_j(COUNTER_MODULUS - 500, 1_500) == pytest.approx(2.0)  # wrapped
    assert energy_check(0, 1000.0, 1019.0, 10.0, 200).status == PASS
    check = energy_check(0, 1000.0, 1021.0, 10.0, 200)
    assert check.status == FAIL and "+2.10 %" in check.figure
    assert energy_check(0, 0.0, 5.0, 10.0, 3).status == FAIL


def test_power_sampler_covers_the_counters_window() -> None:
    clock = FakeClock()
    gpus = [FakeGpu(power_w=250.0), FakeGpu(power_w=80.0)]
    nv = autospec_nvml(FakeNvml(gpus, clock=clock))
    nv.nvmlInit()
    sampler = PowerSampler(nv, [0, 1], clock=clock)
    sampler.begin()
    for _ in range(40):
        clock.advance(0.05)
        sampler.sample()
    gpus[1].fail_once["nvmlDeviceGetFieldValues"] = pynvml.NVML_ERROR_TIMEOUT  # falls back to ...
    gpus[1].fail_once["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_TIMEOUT  # ... which fails too
    clock.advance(0.05)
    sampler.sample()
    traces = sampler.end()
    assert len(traces[0].samples) == 43 and traces[1].missed == 1
    c0, c1 = traces[0].check(), traces[1].check()
    assert (
        c0.status == PASS and "counter 512.5 J, power integrated 512.5 J over 2.0 s (43 samples)" in c0.figure
    )
    assert c1.status == PASS and c1.detail == "1 samples missed"


def test_overhead() -> None:
    assert overhead_check([996.0, 990.0], [1000.0, 998.0]).status == PASS  # 0.4 %
    over = overhead_check([990.0], [1000.0])
    assert over.status == FAIL and "overhead +1.00 %" in over.figure
    assert overhead_check([], [1000.0]).status == SKIP


@pytest.fixture
def two_ranks() -> Iterator[list[int]]:
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(2)]
    yield [p.pid for p in procs]
    for p in procs:
        p.kill()
        p.wait()


def test_ranks_energy_adds_up_in_the_warehouse(
    home: FootprintHome, tmp_path: Path, two_ranks: list[int]
) -> None:
    outside = 4_000_000
    gpus = [
        FakeGpu(power_w=200.0, processes=[two_ranks[0]], utilization={two_ranks[0]: 90.0}),
        FakeGpu(
            power_w=150.0, processes=[two_ranks[1], outside], utilization={two_ranks[1]: 70.0, outside: 10.0}
        ),
    ]
    (tmp_path / "dev").mkdir()
    (tmp_path / "powercap").mkdir()
    reader = GpuReader(autospec_nvml(FakeNvml(gpus)), dev_root=tmp_path / "dev")
    ledger = Ledger(home, powercap=tmp_path / "powercap", gpus=reader)
    windows = [
        ledger.open(materialization_id="m-train", role="rank", name=f"rank {r}", root_pid=pid, rank=r)[0]
        for r, pid in enumerate(two_ranks)
    ]
    ledger.tick()
    for w in windows:
        ledger.close(w)
    sync(home, wait_s=30.0)
    con = connect(home, read_only=True, wait_s=30.0)
    try:
        good = rank_energy_checks(con, "m-train", {0: gpus[0].uuid, 1: gpus[1].uuid})
        swapped = rank_energy_checks(con, "m-train", {0: gpus[1].uuid, 1: gpus[0].uuid})
        missing = rank_energy_checks(con, "m-other")
    finally:
        con.close()
    assert [c.status for c in good] == [PASS] * 4, format_report(good)
    lines = {c.name: c for c in good}
    assert "device total" in lines["GPU 0 ranks' energy adds up"].figure
    assert lines["rank 1 charged only for its GPU"].figure.startswith(gpus[1].uuid)
    assert statuses(swapped)["rank 0 charged only for its GPU"] == FAIL
    assert [c.status for c in missing] == [FAIL]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_allreduce_worker_on_gloo() -> None:
    """The worker the check runs under torchrun: on CPU, gloo with CPU tensors (the backend's device)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    r = subprocess.run(
        [*cmd, "-m", "metering.gpu_allreduce"], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    [line] = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    got = json.loads(line)
    assert (got["backend"], got["world_size"], got["device"], got["expected"], got["ok"]) == (
        "gloo",
        2,
        "cpu",
        3.0,
        True,
    )


@pytest.mark.slow
@pytest.mark.multiprocess
def test_the_training_runs_of_the_check_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The script's training part as it would run on a GPU machine, here on CPU (gloo, one rank, a tiny
    model) with a fake GPU for the power sampler: the extras training.entry reads, the RunResult it
    prints, the warehouse read-back and the fine-tuning from the pretrained checkpoint."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    gc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gc)
    monkeypatch.setattr(
        gc,
        "SHAPE",
        {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64,
         "max_position_embeddings": 64, "vocab_size": 300},
    )  # fmt: skip
    nv = autospec_nvml(FakeNvml([FakeGpu(power_w=100.0)]))
    nv.nvmlInit()
    args = argparse.Namespace(steps=3, repeats=1, timeout_s=300.0, keep=False)
    corpus, labels = gc.write_inputs(tmp_path, n_train=300, n_eval=60)
    checks, first = gc.pretraining(nv, 1, tmp_path, corpus, [0], args)
    got = {c.name: c for c in checks}
    assert got["pretraining, one rank per GPU"].status == PASS, format_report(checks)
    assert got["GPU 0 energy counter vs power"].status == PASS  # the fake's power is constant
    assert got["metering overhead (throughput)"].status in (PASS, FAIL, SKIP)
    assert first is not None
    result, mid, home = first
    # the ranks' ledger read the real NVML here: no GPU intervals, said as such
    [line] = gc.warehouse_checks(home, mid, {})
    assert (line.status, line.figure) == (FAIL, f"no GPU interval recorded for {mid}")
    fine = gc.finetuning(1, tmp_path, home, corpus, labels, str(result["checkpoint_dir"]), args)
    assert fine.status == PASS, fine
    assert gc.macro_f1({"rows": [["accuracy", 0.9, None], ["f1_macro", 0.75, None]]}) == 0.75
    assert gc.macro_f1({"f1_macro": 0.5}) == 0.5 and gc.macro_f1({}) is None
