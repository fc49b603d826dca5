"""CUDA devices -> NVML GPUs by UUID (metering/gpu_devices.py), against the autospec'd fake NVML:
CUDA ordinals are not NVML indices, UUIDs and MIG devices resolve to the physical GPU, one refused
handle hides only that GPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from metering.gpu_devices import (
    CudaView,
    compare_map,
    list_gpus,
    map_cuda_devices,
    parse_visible,
    read_process_view,
    uuid_body,
    visible_uuids,
)
from metering.nvml_fake import FakeGpu, FakeNvml, autospec_nvml


def started(p: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """`p` once its exec has finished: its /proc environ reads non-empty (not yet, just after Popen)."""
    for _ in range(1000):
        if read_process_view(p.pid) is not None:
            return p
        time.sleep(0.005)
    raise AssertionError(f"process {p.pid} did not start")


def nvml(gpus: list[FakeGpu], **kw: Any) -> tuple[Any, FakeNvml]:
    fake = FakeNvml(gpus, **kw)
    nv = autospec_nvml(fake)
    nv.nvmlInit()
    return nv, fake


def three_gpus() -> list[FakeGpu]:
    """NVML indices 0, 1, 2 whose PCI bus ids sort as 1, 2, 0 (NVML's order is not assumed)."""
    return [
        FakeGpu(name="A100", pci_bus_id="00000000:30:00.0"),
        FakeGpu(name="A100", pci_bus_id="00000000:10:00.0"),
        FakeGpu(name="A100", pci_bus_id="00000000:20:00.0"),
    ]


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        (None, None),  # unset: every device
        ("", ()),  # empty: none
        ("0,1", ("0", "1")),
        (" 2 , 0 ", ("2", "0")),
        ("1gpu,3", ("1", "3")),  # read like strtoul
        ("0,-1,2", ("0",)),  # a negative ordinal ends the list
        ("0,x,2", ("0",)),  # so does anything invalid
        ("0,0", ()),  # a repeated entry makes it empty
        ("GPU-abc,MIG-def", ("GPU-abc", "MIG-def")),
        ("MIG-GPU-abc/1/0", ("MIG-GPU-abc/1/0",)),
    ],
)
def test_parse_visible_as_cuda_does(value: str | None, tokens: tuple[str, ...] | None) -> None:
    assert parse_visible(value) == tokens


def test_cuda_ordinals_are_not_nvml_indices() -> None:
    nv, _ = nvml(three_gpus())
    gpus = list_gpus(nv)
    pci = map_cuda_devices(nv, CudaView(("2", "0"), pci_order=True), gpus)
    # ordinal 0 = the third device by PCI bus id = NVML index 0; ordinal 1 = the first = NVML index 1
    assert [(d.ordinal, d.nvml_index, d.how) for d in pci] == [
        (0, 0, "pci-bus-order"),
        (1, 1, "pci-bus-order"),
    ]
    assert [d.uuid for d in pci] == [gpus[0].uuid, gpus[1].uuid]
    default = map_cuda_devices(nv, CudaView(("2", "0"), pci_order=False), gpus)
    assert all(d.uuid is None and d.how == "unresolved" for d in default)
    assert default[0].problem is not None and "CUDA_DEVICE_ORDER" in default[0].problem
    every = map_cuda_devices(nv, CudaView(None, pci_order=True), gpus)
    assert [d.nvml_index for d in every] == [1, 2, 0]
    beyond = map_cuda_devices(nv, CudaView(("5",), pci_order=True), gpus)
    assert beyond[0].uuid is None and "no such device" in (beyond[0].problem or "")


def test_uuids_resolve_through_nvml_by_uuid() -> None:
    nv, fake = nvml(three_gpus())
    gpus = list_gpus(nv)
    u = [g.uuid or "" for g in gpus]
    devices = map_cuda_devices(nv, CudaView((u[2], u[0][:14]), pci_order=False), gpus)
    assert [(d.uuid, d.nvml_index, d.how) for d in devices] == [(u[2], 2, "uuid"), (u[0], 0, "uuid")]
    assert fake.calls["nvmlDeviceGetHandleByUUID"] == 2  # the prefix was tried, then matched
    ambiguous = map_cuda_devices(nv, CudaView(("GPU-0000",), pci_order=False), gpus)
    assert ambiguous[0].uuid is None and "NotFound" in (ambiguous[0].problem or "")


def test_mig_device_resolves_to_its_parent() -> None:
    parent = FakeGpu(mig=True, mig_instances=[[], []])
    nv, _ = nvml([FakeGpu(), parent])
    gpus = list_gpus(nv)
    mig = parent.mig_uuid(1)
    [d] = map_cuda_devices(nv, CudaView((mig,), pci_order=False), gpus)
    assert (d.uuid, d.nvml_index, d.mig_uuid, d.how) == (parent.uuid, 1, mig, "mig-parent")
    [old] = map_cuda_devices(nv, CudaView((f"MIG-{parent.uuid}/1/0",), pci_order=False), gpus)
    assert (old.uuid, old.how) == (parent.uuid, "mig-parent")  # the pre-R470 name carries the parent
    assert visible_uuids(nv, CudaView((mig,), pci_order=False), gpus) == frozenset({parent.uuid})


def test_refused_handle_hides_only_that_gpu() -> None:
    gpus_ = three_gpus()
    gpus_[1].refuse_handle = True
    nv, _ = nvml(gpus_)
    gpus = list_gpus(nv)
    assert [g.uuid is None for g in gpus] == [False, True, False]
    assert "NoPermission" in (gpus[1].problem or "")
    [d] = map_cuda_devices(nv, CudaView((gpus_[2].uuid,), pci_order=False), gpus)
    assert d.uuid == gpus_[2].uuid
    assert visible_uuids(nv, CudaView((gpus_[2].uuid,), pci_order=False), gpus) == {gpus_[2].uuid}
    # every device, one of them unidentified: not known which
    assert visible_uuids(nv, CudaView(None, pci_order=True), gpus) is None


def test_visible_sets() -> None:
    gpus_ = [FakeGpu(), FakeGpu()]
    nv, _ = nvml(gpus_)
    gpus = list_gpus(nv)
    both = frozenset(g.uuid for g in gpus_)
    assert visible_uuids(nv, CudaView((), pci_order=False), gpus) == frozenset()
    assert visible_uuids(nv, CudaView(None, pci_order=False), gpus) == both
    assert visible_uuids(nv, CudaView(("1", "0"), pci_order=False), gpus) == both  # covers all: order moot
    assert visible_uuids(nv, CudaView(("1",), pci_order=False), gpus) is None  # which one is unknown
    assert visible_uuids(nv, CudaView(("1",), pci_order=True), gpus) == {gpus_[1].uuid}


def test_legacy_binding_bytes_are_decoded() -> None:
    nv, _ = nvml([FakeGpu(legacy_bytes=True), FakeGpu(legacy_bytes=True)], driver="450.00")
    gpus = list_gpus(nv)
    assert all(isinstance(g.uuid, str) and g.uuid.startswith("GPU-") for g in gpus)
    assert [g.pci_bus_id for g in gpus] == ["00000000:10:00.0", "00000000:11:00.0"]
    [d] = map_cuda_devices(nv, CudaView(("1",), pci_order=True), gpus)
    assert d.uuid == gpus[1].uuid


def test_compare_map_with_the_cuda_runtime() -> None:
    nv, _ = nvml(three_gpus())
    devices = map_cuda_devices(nv, CudaView(None, pci_order=True), list_gpus(nv))
    runtime = [uuid_body(d.uuid or "") for d in devices]  # torch prints UUIDs without 'GPU-'
    assert [r.match for r in compare_map(devices, runtime)] == [True, True, True]
    swapped = [runtime[1], runtime[0], runtime[2]]
    assert [r.match for r in compare_map(devices, swapped)] == [False, False, True]
    short = compare_map(devices, runtime[:2])
    assert short[0].how == "count" and short[0].match is False and "2 device(s)" in (short[0].problem or "")
    assert [r.match for r in compare_map(devices, None)] == [None, None, None]


def test_a_process_view_is_read_from_its_environment(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "GPU-abc,1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    p = started(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env))
    try:
        assert read_process_view(p.pid) == CudaView(("GPU-abc", "1"), pci_order=True)
    finally:
        p.kill()
        p.wait()
    assert read_process_view(os.getpid()) is not None
    assert read_process_view(4_000_000) is None  # no such process: not known
    fake_proc = tmp_path / "proc" / "7"
    fake_proc.mkdir(parents=True)
    (fake_proc / "environ").write_bytes(b"PATH=/bin\0CUDA_VISIBLE_DEVICES=\0")
    assert read_process_view(7, tmp_path / "proc") == CudaView((), pci_order=False)
    (fake_proc / "environ").write_bytes(b"")  # in exec: not known yet
    assert read_process_view(7, tmp_path / "proc") is None


def test_cpu_tests_run_with_cuda_hidden() -> None:
    """tests/conftest.py pins CUDA_VISIBLE_DEVICES="" for this process and the processes it starts, so
    a GPU on the host cannot change what a CPU test sees (torch in a child sees no CUDA device)."""
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    p = started(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    try:
        view = read_process_view(p.pid)
        assert view is not None and view.hides_all
    finally:
        p.kill()
        p.wait()
    code = "import torch; print(torch.cuda.device_count())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "0", r.stderr
