"""GPUs through an autospec'd fake NVML (no GPU needed) and real processes as the windows that hold
them (the real ledger, its real clock); and the real pynvml error path on this machine. Exact
energies and every NVML failure mode, on a fake clock: test_nvml_attribution.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynvml
import pytest

from metering.gpu_devices import read_process_view
from metering.ledger import Ledger
from metering.nvml import GpuReader
from metering.nvml_fake import COUNTER_MODULUS, FakeGpu, FakeNvml, autospec_nvml
from tests.metering.ledger_facts import Facts, check_conservation
from warehouse.home import FootprintHome

OUTSIDE_PID = 4_000_000  # a pid no window holds (above pid_max: never a real process here)


def sleepers(*cuda_visible: str | None) -> list[subprocess.Popen[bytes]]:
    """One sleeping process per value of CUDA_VISIBLE_DEVICES (None: unset, every GPU visible)."""
    out = []
    for value in cuda_visible:
        env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        if value is not None:
            env["CUDA_VISIBLE_DEVICES"] = value
        out.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env))
    for p in out:  # exec finished: the environment the ledger reads is the child's
        for _ in range(2000):
            if read_process_view(p.pid) is not None:
                break
            time.sleep(0.005)
    return out


@pytest.fixture
def pids() -> Iterator[tuple[int, int]]:
    """Two processes that can see every GPU (by their environment; NVML's process list says which
    GPUs they hold)."""
    procs = sleepers(None, None)
    yield procs[0].pid, procs[1].pid
    for p in procs:
        p.kill()
        p.wait()


def make_ledger(
    home: FootprintHome, tmp_path: Path, gpus: list[FakeGpu], **kw: Any
) -> tuple[Ledger, FakeNvml]:
    fake = FakeNvml(gpus, **kw)
    (tmp_path / "powercap").mkdir(exist_ok=True)
    (tmp_path / "dev").mkdir(exist_ok=True)
    reader = GpuReader(autospec_nvml(fake), dev_root=tmp_path / "dev")
    return Ledger(home, powercap=tmp_path / "powercap", gpus=reader), fake


def open_two(ledger: Ledger, pids: tuple[int, int]) -> tuple[str, str]:
    a, _ = ledger.open(materialization_id="ma", role="rank", name="a", root_pid=pids[0], rank=0)
    b, _ = ledger.open(materialization_id="mb", role="rank", name="b", root_pid=pids[1], rank=1)
    return a, b


def gpu_rows(ledger: Ledger) -> tuple[list[dict[str, Any]], dict[tuple[str, int], dict[str, Any]]]:
    """One tick: its GPU device intervals, and its GPU window usage by (window, device index)."""
    out = ledger.tick()
    assert out is not None
    devices = [r for r in out.batch.rows["device_interval"] if r["device_kind"] == "gpu"]
    usage = {
        (r["window_id"], r["device_index"]): r
        for r in out.batch.rows["window_usage"]
        if r["device_kind"] == "gpu"
    }
    return devices, usage


def test_two_windows_on_one_gpu_split_by_utilization(
    home: FootprintHome, tmp_path: Path, pids: tuple[int, int]
) -> None:
    gpu = FakeGpu(power_w=100.0, processes=[*pids, OUTSIDE_PID], utilization={pids[0]: 60.0, pids[1]: 20.0})
    ledger, fake = make_ledger(home, tmp_path, [gpu])
    a, b = open_two(ledger, pids)
    [d], use = gpu_rows(ledger)
    dur = d["duration_s"]
    assert (d["split"], d["method"], d["source"], d["unit"]) == (
        "utilization",
        "measured",
        "nvml-counter",
        "device_s",
    )
    assert (d["device_index"], d["device_uuid"], d["device_name"]) == (0, gpu.uuid, "Fake GPU")
    assert d["capacity"] == pytest.approx(dur) and d["busy"] == pytest.approx(0.8 * dur)
    assert d["holders"] == 3  # two windows + the process outside every window
    assert use[(a, 0)]["use"] == pytest.approx(0.6 * dur) and use[(b, 0)]["use"] == pytest.approx(0.2 * dur)
    assert use[(a, 0)]["holds"] and use[(b, 0)]["holds"]
    assert d["energy_j"] == pytest.approx(100.0 * dur, rel=0.05, abs=0.2)
    gpu.utilization = {OUTSIDE_PID: 150.0, pids[0]: 50.0}  # sums past 100 %: scaled
    [d], use = gpu_rows(ledger)
    assert d["busy"] == pytest.approx(d["duration_s"]) and "scaled" in d["note"]
    assert use[(a, 0)]["use"] == pytest.approx(0.25 * d["duration_s"]) and use[(b, 0)]["use"] == 0.0
    assert fake.calls["nvmlDeviceGetHandleByUUID"] >= 2  # known devices are read by UUID
    ledger.close(a)
    ledger.close(b)
    check_conservation(Facts.read(home))


@pytest.mark.parametrize(
    ("setup", "split", "busy_is_none", "use_is_none"),
    [
        ({"utilization_supported": False}, "even", True, True),  # the utilisation query fails
        ({"fail_once": {"nvmlDeviceGetProcessUtilization": pynvml.NVML_ERROR_UNKNOWN}}, "even", True, True),
        ({"utilization": {}}, "even", False, False),  # nobody was busy: known zero
        ({"process_list_fails": True}, "unknown", True, True),  # who holds it is unknown
        ({"mig": True}, "even", True, True),  # per-process utilisation is not available under MIG
    ],
    ids=["util-unsupported", "util-transient", "idle", "process-list-fails", "mig"],
)
def test_split_when_nvml_says_less(
    home: FootprintHome,
    tmp_path: Path,
    pids: tuple[int, int],
    setup: dict[str, Any],
    split: str,
    busy_is_none: bool,
    use_is_none: bool,
) -> None:
    gpu = FakeGpu(processes=[pids[0]], utilization={pids[0]: 40.0})
    ledger, _ = make_ledger(home, tmp_path, [gpu])
    a, b = open_two(ledger, pids)
    for key, value in setup.items():
        setattr(gpu, key, value)
    [d], use = gpu_rows(ledger)
    assert d["split"] == split and (d["busy"] is None) == busy_is_none
    assert (use[(a, 0)]["use"] is None) == use_is_none
    if split == "even":  # b holds no process on it: no GPU row for b
        assert d["holders"] == 1 and use[(a, 0)]["holds"] and (b, 0) not in use
    else:  # who holds it is unknown: both windows may (they see every GPU), neither is known to
        assert d["holders"] is None and not use[(a, 0)]["holds"] and use[(b, 0)]["use"] is None
    assert d["method"] == "measured"  # the energy counter still works


def test_a_window_that_sees_no_gpu_is_not_charged_when_holders_are_unknown(
    home: FootprintHome, tmp_path: Path
) -> None:
    """The ledger reads each window's processes' CUDA_VISIBLE_DEVICES (/proc/<pid>/environ) when NVML
    cannot say who holds a GPU: a window pinned to no GPU gets no GPU row, one that sees it a row of
    unknown use."""
    gpu = FakeGpu(process_list_fails=True)
    procs = sleepers("", None, gpu.uuid or "GPU-")
    try:
        ledger, _ = make_ledger(home, tmp_path, [gpu])
        a, _ = ledger.open(materialization_id="ma", role="step", name="a", root_pid=procs[0].pid)
        b, _ = ledger.open(materialization_id="mb", role="step", name="b", root_pid=procs[1].pid)
        [d], use = gpu_rows(ledger)
        assert d["split"] == "unknown" and sorted(use) == [(b, 0)] and use[(b, 0)]["use"] is None
        assert "1 window(s) whose processes cannot use this GPU" in d["note"]
        # a window whose process names this GPU by UUID may use it
        c, _ = ledger.open(materialization_id="mc", role="step", name="c", root_pid=procs[2].pid)
        [_], use = gpu_rows(ledger)
        assert sorted(use) == sorted([(b, 0), (c, 0)])
        for w in (a, b, c):
            ledger.close(w)
        check_conservation(Facts.read(home))
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_refused_handle_makes_only_that_gpu_unavailable(
    home: FootprintHome, tmp_path: Path, pids: tuple[int, int]
) -> None:
    gpus = [FakeGpu(processes=[pids[0]], utilization={pids[0]: 10.0}), FakeGpu(refuse_handle=True)]
    ledger, _ = make_ledger(home, tmp_path, gpus)
    open_two(ledger, pids)
    d0, d1 = gpu_rows(ledger)[0]
    assert d0["method"] == "measured" and d0["split"] == "utilization" and d0["device_uuid"] == gpus[0].uuid
    assert (d1["device_index"], d1["device_uuid"], d1["method"], d1["split"]) == (
        1,
        None,
        "unavailable",
        "unknown",
    )
    assert "NoPermission" in d1["note"] and d1["energy_j"] is None


def test_transient_error_is_a_gap_and_the_counter_is_kept(
    home: FootprintHome, tmp_path: Path, pids: tuple[int, int]
) -> None:
    gpu = FakeGpu(power_w=100.0)
    ledger, _ = make_ledger(home, tmp_path, [gpu])
    open_two(ledger, pids)
    gpu.fail_once["nvmlDeviceGetTotalEnergyConsumption"] = pynvml.NVML_ERROR_UNKNOWN
    [gap], _ = gpu_rows(ledger)
    assert (gap["energy_j"], gap["method"]) == (None, "unavailable") and "gap: energy counter" in gap["note"]
    [after], _ = gpu_rows(ledger)  # resumes from the counter kept at the last good read
    assert after["method"] == "measured" and "apportioned" in after["note"]
    assert after["energy_j"] == pytest.approx(100.0 * after["duration_s"], rel=0.1, abs=0.2)
    [normal], _ = gpu_rows(ledger)
    assert normal["method"] == "measured" and normal["note"] is None


def test_lost_gpu_gets_a_last_row_then_is_no_longer_read(
    home: FootprintHome, tmp_path: Path, pids: tuple[int, int]
) -> None:
    gone, stays = FakeGpu(), FakeGpu()
    ledger, _ = make_ledger(home, tmp_path, [gone, stays])
    open_two(ledger, pids)
    gone.lost = True
    rows, _ = gpu_rows(ledger)
    assert [(r["device_index"], r["method"]) for r in rows] == [(0, "unavailable"), (1, "measured")]
    assert "GPU lost" in rows[0]["note"]
    rows, _ = gpu_rows(ledger)
    assert [r["device_index"] for r in rows] == [1]


def test_counter_wrap_reset_power_fallback_and_legacy_bytes(
    home: FootprintHome, tmp_path: Path, pids: tuple[int, int]
) -> None:
    wraps = FakeGpu(power_w=100.0, legacy_bytes=True, name="Old GPU")
    resets = FakeGpu(power_w=100.0)
    sampled = FakeGpu(power_w=80.0, counter=False)
    nothing = FakeGpu(counter=False, power_supported=False)
    ledger, _ = make_ledger(home, tmp_path, [wraps, resets, sampled, nothing])
    open_two(ledger, pids)
    wraps.set_counter(COUNTER_MODULUS - 1_000)
    resets.set_counter(10_000_000)
    gpu_rows(ledger)  # the counters jumped: these baselines are what the next interval starts from
    wraps.set_counter(500)  # wrapped: 1000 mJ to the top, then 500 (+ what 100 W added meanwhile)
    resets.reset_counter()  # the driver reloaded
    d = {r["device_index"]: r for r in gpu_rows(ledger)[0]}
    assert d[0]["device_name"] == "Old GPU" and d[0]["device_uuid"] == wraps.uuid  # bytes decoded
    assert "wrapped" in d[0]["note"] and d[0]["energy_j"] == pytest.approx(
        1.5, abs=100.0 * d[0]["duration_s"]
    )
    assert "reset" in d[1]["note"] and d[1]["energy_j"] <= 100.0 * d[1]["duration_s"] + 0.2
    assert d[2]["source"] == "nvml-power" and "coarse" in d[2]["note"]
    assert d[2]["energy_j"] == pytest.approx(80.0 * d[2]["duration_s"])
    assert (d[3]["method"], d[3]["energy_j"], d[3]["source"]) == ("unavailable", None, "nvml")


def test_no_library_no_device_nodes_no_gpu_rows(
    home: FootprintHome, tmp_path: Path, pids: tuple[int, int]
) -> None:
    ledger, _ = make_ledger(home, tmp_path, [], library=False)
    open_two(ledger, pids)
    assert gpu_rows(ledger)[0] == []
    other = tmp_path / "other"
    ledger2, _ = make_ledger(FootprintHome.resolve(other / "home").ensure(), other, [], library=False)
    (other / "dev" / "nvidia0").touch()  # a device node, but no library: the GPU is unmetered
    open_two(ledger2, pids)
    [d], use = gpu_rows(ledger2)
    assert (d["method"], d["split"], d["energy_j"], d["busy"]) == ("unavailable", "unknown", None, None)
    assert "LibraryNotFound" in d["note"] and all(u["use"] is None for u in use.values())


def test_real_pynvml_on_this_machine(home: FootprintHome, tmp_path: Path) -> None:
    """The real binding: here NVML is absent (NVMLError_LibraryNotFound) and there is no /dev/nvidia*:
    no GPU rows, no crash."""
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("NVML works on this machine: the no-library path is not what it shows")
    except pynvml.NVMLError_LibraryNotFound:
        pass
    if list(Path("/dev").glob("nvidia[0-9]*")):
        pytest.skip("this machine has NVIDIA device nodes")
    (tmp_path / "powercap").mkdir()
    ledger = Ledger(home, powercap=tmp_path / "powercap")  # the default GpuReader: real pynvml
    with ledger.window(materialization_id="m", role="step", name="s"):
        pass
    assert {d["device_kind"] for d in Facts.read(home).intervals} == {"cpu", "ram"}
