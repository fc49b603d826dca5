"""Who is charged for which GPU, tick by tick: `compute_tick` over samples read from the autospec'd
fake NVML, with one fake clock driving both the host's clock and the GPUs' energy counters (nothing
sleeps, so the energies are exact)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pynvml
import pytest

from metering.gpu_devices import CudaView
from metering.host import Clock, CpuStat, MemInfo
from metering.nvml import GpuReader
from metering.nvml_fake import FakeClock, FakeGpu, FakeNvml, autospec_nvml
from metering.processor import ProcessorInfo
from metering.procs import Proc
from metering.rapl import RaplSample
from metering.state import LedgerState
from metering.tick import HostSample, OpenRequest, TickOutcome, compute_tick

TCK = 100
CPU = ProcessorInfo("AuthenticAMD", 25, 1, 1, "AMD EPYC", True, "amd-epyc-milan")
ROOTS = {"a": 10, "b": 20, "c": 30}  # window -> root pid (each window one process)
OUTSIDE = 99  # a process in no window
PROCS = {pid: Proc(pid, 1, 5, 0.0, 0.0, 0) for pid in [1, *ROOTS.values(), OUTSIDE]}


class Host:
    """A host whose GPUs are fake and whose clock is `clock`; `tick()` samples and computes a tick."""

    def __init__(self, tmp_path: Path, gpus: list[FakeGpu], **kw: Any) -> None:
        self.clock = FakeClock()
        official = kw.pop("official", True)
        self.fake = FakeNvml(gpus, clock=self.clock, **kw)
        self.nv = autospec_nvml(self.fake, official=official)
        (tmp_path / "dev").mkdir(exist_ok=True)
        self.reader = GpuReader(self.nv, dev_root=tmp_path / "dev")
        self.state = LedgerState(boot_id="b")
        self.views: dict[str, list[CudaView | None]] = {}

    def tick(self, *, dt_s: float = 2.0, opens: Sequence[OpenRequest] = ()) -> TickOutcome:
        self.clock.advance(dt_s)
        t = self.clock()
        inventory = {k: g.index for k, g in self.state.gpus.items() if not k.startswith("index:")}
        gpus = self.reader.sample(inventory, {k: g.util_ts for k, g in self.state.gpus.items()})
        window_gpus = self.reader.window_gpus(self.views, gpus) if self.views else {}
        s = HostSample(
            clock=Clock(1.8e9 + t, t, int(t * TCK)),
            procs=PROCS,
            cpu=CpuStat(0, 2),
            mem=MemInfo(8_000_000_000, 4_000_000_000),
            rapl=RaplSample(),
            gpus=gpus,
            processor=CPU,
            ticks_per_s=TCK,
            window_gpus=window_gpus,
        )
        out = compute_tick(self.state, s, host="h", opens=opens)
        self.state = out.state
        return out

    def open_all(self) -> None:
        self.tick(opens=[OpenRequest(w, f"m-{w}", "step", w, pid) for w, pid in ROOTS.items()])


def gpu_facts(out: TickOutcome) -> tuple[dict[int, dict[str, Any]], dict[tuple[str, int], dict[str, Any]]]:
    devices = {r["device_index"]: r for r in out.batch.rows["device_interval"] if r["device_kind"] == "gpu"}
    usage = {
        (r["window_id"], r["device_index"]): r
        for r in out.batch.rows["window_usage"]
        if r["device_kind"] == "gpu"
    }
    return devices, usage


def test_a_window_is_charged_only_for_the_gpus_its_processes_use(tmp_path: Path) -> None:
    gpus = [
        FakeGpu(power_w=200.0, processes=[10], utilization={10: 50.0}),
        FakeGpu(power_w=100.0, processes=[20, OUTSIDE], utilization={20: 30.0, OUTSIDE: 10.0}),
    ]
    host = Host(tmp_path, gpus)
    host.open_all()
    d, u = gpu_facts(host.tick(dt_s=4.0))
    assert sorted(u) == [("a", 0), ("b", 1)]  # c (CPU only) has no GPU row; a and b one each
    assert u[("a", 0)]["use"] == pytest.approx(0.5 * 4.0) and u[("a", 0)]["holds"]
    assert u[("b", 1)]["use"] == pytest.approx(0.3 * 4.0)
    assert d[0]["energy_j"] == pytest.approx(800.0) and d[1]["energy_j"] == pytest.approx(400.0)
    assert (d[0]["holders"], d[1]["holders"]) == (1, 2)  # the outside process is a holder of GPU 1
    assert d[1]["busy"] == pytest.approx(0.4 * 4.0)
    assert d[0]["note"] is None and f"pids {OUTSIDE}" in d[1]["note"]
    gpus[1].utilization_supported = False  # now split evenly among the holders
    d, u = gpu_facts(host.tick())
    assert d[1]["split"] == "even" and d[1]["holders"] == 2 and sorted(u) == [("a", 0), ("b", 1)]


def test_unknown_holders_charge_only_the_windows_that_can_see_the_gpu(tmp_path: Path) -> None:
    gpus = [FakeGpu(process_list_fails=True, name="GPU"), FakeGpu()]
    host = Host(tmp_path, gpus)
    host.views = {
        "a": [CudaView((gpus[0].uuid,), pci_order=False)],  # named by UUID: it sees GPU 0
        "b": [CudaView((), pci_order=False)],  # CUDA_VISIBLE_DEVICES="": no GPU at all
        "c": [CudaView(("1",), pci_order=True), None],  # one of its processes cannot be read
    }
    host.open_all()
    d, u = gpu_facts(host.tick())
    assert d[0]["split"] == "unknown" and d[0]["method"] == "measured"
    assert sorted(k for k in u if k[1] == 0) == [("a", 0), ("c", 0)]
    assert u[("a", 0)]["use"] is None and u[("c", 0)]["use"] is None
    assert "1 window(s) whose processes cannot use this GPU" in d[0]["note"]
    host.views["c"] = [CudaView(("1",), pci_order=True)]  # ordinal 1 by PCI bus id: GPU 1, not GPU 0
    d, u = gpu_facts(host.tick())
    assert sorted(k for k in u if k[1] == 0) == [("a", 0)]
    host.views["c"] = [CudaView(("1",), pci_order=False)]  # default order: which GPU is unknown
    d, u = gpu_facts(host.tick())
    assert sorted(k for k in u if k[1] == 0) == [("a", 0), ("c", 0)]


def test_a_refused_handle_makes_only_that_gpu_unavailable(tmp_path: Path) -> None:
    gpus = [FakeGpu(power_w=50.0, processes=[10], utilization={10: 20.0}), FakeGpu(refuse_handle=True)]
    host = Host(tmp_path, gpus)
    host.views = {w: [CudaView((gpus[0].uuid,), pci_order=False)] for w in ROOTS}
    host.open_all()
    for _ in range(2):
        d, u = gpu_facts(host.tick(dt_s=3.0))
        assert (d[0]["method"], d[0]["energy_j"], d[0]["device_uuid"]) == ("measured", 150.0, gpus[0].uuid)
        assert (d[1]["method"], d[1]["split"], d[1]["device_uuid"]) == ("unavailable", "unknown", None)
        assert "NoPermission" in d[1]["note"]
        assert sorted(u) == [("a", 0)]  # the windows see GPU 0 only: none is charged for GPU 1


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_UNKNOWN, pynvml.NVML_ERROR_TIMEOUT])
@pytest.mark.parametrize(
    "call",
    [
        "nvmlDeviceGetTotalEnergyConsumption",
        "nvmlDeviceGetHandleByUUID",
        "nvmlDeviceGetCount",
    ],
)
def test_a_transient_error_is_a_gap_and_the_counter_runs_on(tmp_path: Path, call: str, code: int) -> None:
    gpu = FakeGpu(power_w=100.0, processes=[10], utilization={10: 100.0})
    host = Host(tmp_path, [gpu])
    host.open_all()
    d, _ = gpu_facts(host.tick(dt_s=1.0))
    assert d[0]["energy_j"] == pytest.approx(100.0)
    if call == "nvmlDeviceGetCount":
        host.nv.nvmlDeviceGetCount.side_effect = [pynvml.NVMLError(code), *[len(host.fake.gpus)] * 9]
    else:
        gpu.fail_once[call] = code
    d, _ = gpu_facts(host.tick(dt_s=2.0))
    if call == "nvmlDeviceGetCount":  # the known device is read by its UUID all the same
        assert d[0]["energy_j"] == pytest.approx(200.0)
    else:
        assert (d[0]["energy_j"], d[0]["method"]) == (None, "unavailable")
        assert pynvml.NVMLError(code).__class__.__name__ in d[0]["note"]
        assert d[0]["device_uuid"] == gpu.uuid  # still the same device
    d, _ = gpu_facts(host.tick(dt_s=3.0))  # the counter's last good read is kept: 300 J since
    assert (d[0]["method"], d[0]["energy_j"]) == ("measured", pytest.approx(300.0))
    d, _ = gpu_facts(host.tick(dt_s=1.0))
    assert d[0]["energy_j"] == pytest.approx(100.0) and d[0]["note"] is None


def test_only_a_lost_gpu_stops_being_read(tmp_path: Path) -> None:
    gone, stays = FakeGpu(), FakeGpu(power_w=10.0)
    host = Host(tmp_path, [gone, stays])
    host.open_all()
    gone.fail_once["nvmlDeviceGetTotalEnergyConsumption"] = pynvml.NVML_ERROR_GPU_IS_LOST
    d, _ = gpu_facts(host.tick())
    assert d[0]["method"] == "unavailable" and "GPU lost" in d[0]["note"]
    gone.fail_once.clear()  # even if it answers again, it is no longer metered
    d, _ = gpu_facts(host.tick(dt_s=5.0))
    assert sorted(d) == [1] and d[1]["energy_j"] == pytest.approx(50.0)


def test_mig_parent_counter_is_shared_by_its_mig_devices(tmp_path: Path) -> None:
    mig = FakeGpu(power_w=300.0, mig=True, mig_instances=[[10], [20, OUTSIDE]], mig_parent_refused=True)
    host = Host(tmp_path, [mig])
    host.views = {"c": [CudaView((mig.mig_uuid(0),), pci_order=False)]}
    host.open_all()
    d, u = gpu_facts(host.tick(dt_s=2.0))
    assert (d[0]["method"], d[0]["energy_j"], d[0]["device_uuid"]) == ("measured", 600.0, mig.uuid)
    assert (d[0]["split"], d[0]["holders"]) == ("even", 3)  # a, b and the outside process
    assert sorted(u) == [("a", 0), ("b", 0)] and all(r["holds"] for r in u.values())
    assert "MIG mode" in d[0]["note"] and "shared by its 2 MIG device(s)" in d[0]["note"]
    assert host.fake.calls["nvmlDeviceGetMigDeviceHandleByIndex"] >= 2
    mig.process_list_fails = True  # who holds it unknown: c's MIG device is on this GPU
    d, u = gpu_facts(host.tick())
    assert d[0]["split"] == "unknown" and ("c", 0) in u and u[("c", 0)]["use"] is None


def test_an_unofficial_binding_with_bytes_is_used_and_named(tmp_path: Path, caplog: Any) -> None:
    gpu = FakeGpu(legacy_bytes=True, name="Tesla V100", processes=[10], utilization={10: 40.0})
    host = Host(tmp_path, [gpu], official=False)
    with caplog.at_level(logging.WARNING, logger="metering.nvml"):
        host.open_all()
    assert "not NVIDIA's nvidia-ml-py" in caplog.text
    d, u = gpu_facts(host.tick())
    assert (d[0]["device_name"], d[0]["device_uuid"]) == ("Tesla V100", gpu.uuid)
    assert sorted(u) == [("a", 0)] and d[0]["split"] == "utilization"
    # an old binding without the newer functions: those readings are missing, the rest goes on
    del host.nv.nvmlDeviceGetProcessUtilization, host.nv.nvmlDeviceGetMigMode
    del host.nv.nvmlDeviceGetTotalEnergyConsumption
    d, u = gpu_facts(host.tick(dt_s=2.0))
    assert (d[0]["split"], d[0]["holders"], d[0]["source"]) == ("even", 1, "nvml-power")
    assert d[0]["energy_j"] is None and "first power read" in d[0]["note"] and sorted(u) == [("a", 0)]
    d, _ = gpu_facts(host.tick(dt_s=2.0))
    assert d[0]["energy_j"] == pytest.approx(200.0)  # power at both ticks
