"""On a real NVIDIA GPU (marker `gpu`: skipped where NVML lists none). CUDA work runs in children with
the host's own CUDA_VISIBLE_DEVICES (the test process keeps the CPU pin of tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metering.gpu_devices import CudaView, compare_map, map_cuda_devices
from metering.ledger import Ledger
from metering.nvml import load_pynvml
from tests.conftest import host_cuda_env
from tests.metering.ledger_facts import REPO
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.gpu]

BUSY = """
import sys, time, torch
x = torch.randn(2048, 2048, device="cuda:0")
print("READY", flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    x = (x @ x).clamp_(-1, 1)
torch.cuda.synchronize()
"""


def test_cuda_ordinals_match_nvml_by_uuid() -> None:
    env = host_cuda_env(PYTHONPATH=str(REPO))
    code = "import json; from metering.gpu_devices import runtime_uuids; print(json.dumps(runtime_uuids()))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    runtime = json.loads(r.stdout.splitlines()[-1])
    if not runtime:
        pytest.skip("torch sees no CUDA device (a CPU build?)")
    nv = load_pynvml()
    nv.nvmlInit()
    try:
        rows = compare_map(map_cuda_devices(nv, CudaView.of(env)), runtime)
    finally:
        nv.nvmlShutdown()
    unresolved = [r for r in rows if r.match is None]
    if unresolved and not CudaView.of(env).pci_order:
        pytest.skip(f"CUDA_DEVICE_ORDER is not PCI_BUS_ID: {unresolved[0].problem}")
    assert all(r.match for r in rows), rows


def test_a_cuda_process_is_charged_for_its_gpu_only(home: FootprintHome, tmp_path: Path) -> None:
    env = host_cuda_env(CUDA_DEVICE_ORDER="PCI_BUS_ID")
    p = subprocess.Popen([sys.executable, "-c", BUSY, "6"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
        (tmp_path / "powercap").mkdir()
        ledger = Ledger(home, powercap=tmp_path / "powercap")
        busy, _ = ledger.open(materialization_id="m-gpu", role="step", name="busy", root_pid=p.pid)
        idle, _ = ledger.open(materialization_id="m-cpu", role="step", name="idle")  # this process: no GPU
        time.sleep(2.0)
        out = ledger.tick()
        assert out is not None
        devices = {
            r["device_index"]: r for r in out.batch.rows["device_interval"] if r["device_kind"] == "gpu"
        }
        usage = [r for r in out.batch.rows["window_usage"] if r["device_kind"] == "gpu"]
        assert devices and all(r["device_uuid"] for r in devices.values())
        mine = [r for r in usage if r["window_id"] == busy]
        assert len(mine) == 1 and mine[0]["holds"], usage  # one GPU: the one its cuda:0 is
        assert not [r for r in usage if r["window_id"] == idle]  # a window that uses no GPU: no GPU row
        d = devices[mine[0]["device_index"]]
        assert d["method"] == "measured" and d["energy_j"] > 0
        ledger.close(busy)
        ledger.close(idle)
    finally:
        p.kill()
        p.wait()
