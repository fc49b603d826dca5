"""NVML GPU backend against the autospec'd fake (no GPU needed) and the real pynvml error path."""

from __future__ import annotations

import itertools
import time

import pynvml
import pytest

from metering.meter import Meter, MeterError
from metering.nvml import IDLE_BUSY_NOTE, NvmlGpuBackend, parse_visible_devices
from metering.nvml_fake import COUNTER_MODULUS, FakeGpu, FakeNvml, autospec_nvml

FAST = {"interval_s": 0.01, "counter_poll_s": 0.02}


def backend(gpus: list[FakeGpu], visible: str | None = None, **kw: object) -> NvmlGpuBackend:
    return NvmlGpuBackend(nvml=autospec_nvml(FakeNvml(gpus)), visible_devices=visible, **{**FAST, **kw})  # type: ignore[arg-type]


def run_window(b: NvmlGpuBackend, seconds: float = 0.3, during=None):  # type: ignore[no-untyped-def]
    meter = Meter([b])
    meter.begin_window("w")
    if during is None:
        time.sleep(seconds)
    else:
        during()
    return meter.end_window("w")


def test_counter_path_measures_power_times_time() -> None:
    m = run_window(backend([FakeGpu(power_w=100.0)]))
    (d,) = m.devices
    assert (d.kind, d.index, d.method) == ("gpu", 0, "measured")
    assert d.source.startswith("nvml-counter:uuid=GPU-")
    assert IDLE_BUSY_NOTE in (d.note or "")
    assert d.energy_j == pytest.approx(100.0 * d.duration_s, rel=0.05, abs=0.5)


def test_sampling_path_integrates_power() -> None:
    m = run_window(backend([FakeGpu(power_w=80.0, counter=False)]))
    (d,) = m.devices
    assert d.method == "measured"
    assert d.source.startswith("nvml-sampled:") and "interval_s=0.01" in d.source
    assert d.energy_j == pytest.approx(80.0 * d.duration_s, rel=0.05, abs=0.5)


def test_counter_wrap_is_handled() -> None:
    gpu = FakeGpu(power_w=100.0)
    b = backend([gpu])
    gpu.set_counter(COUNTER_MODULUS - 5_000)  # wraps 50 ms into the window
    (d,) = run_window(b).devices
    assert d.energy_j == pytest.approx(100.0 * d.duration_s, rel=0.05, abs=0.5)
    assert "wrapped" in (d.note or "")


def test_counter_reset_counts_energy_after_reset() -> None:
    gpu = FakeGpu(power_w=100.0, start_counter_mj=10_000_000)

    def during() -> None:
        time.sleep(0.15)
        gpu.reset_counter()
        time.sleep(0.15)

    (d,) = run_window(backend([gpu]), during=during).devices
    assert "reset" in (d.note or "")
    assert d.energy_j is not None
    assert 0.75 * 100.0 * d.duration_s < d.energy_j <= 100.0 * d.duration_s * 1.01


def test_not_supported_on_one_device_falls_back_per_device() -> None:
    gpus = [
        FakeGpu(power_w=100.0),
        FakeGpu(power_w=50.0, counter=False),
        FakeGpu(counter=False, power_supported=False),
    ]
    d0, d1, d2 = run_window(backend(gpus)).devices
    assert d0.source.startswith("nvml-counter") and d1.source.startswith("nvml-sampled")
    assert d1.energy_j == pytest.approx(50.0 * d1.duration_s, rel=0.05, abs=0.5)
    assert (d2.method, d2.energy_j) == ("unavailable", None)
    assert "NotSupported" in (d2.note or "")


@pytest.mark.parametrize("counter", [True, False], ids=["counter", "sampled"])
def test_device_disappearing_mid_window_is_a_recorded_gap(counter: bool) -> None:
    gone, stays = FakeGpu(power_w=100.0, counter=counter), FakeGpu(power_w=100.0, counter=counter)

    def during() -> None:
        time.sleep(0.2)
        gone.lost = True
        time.sleep(0.2)

    d_gone, d_stays = run_window(backend([gone, stays]), during=during).devices
    assert d_gone.method == "measured" and "gap: NVML error NVMLError_GpuIsLost" in (d_gone.note or "")
    assert d_gone.energy_j is not None and d_stays.energy_j is not None
    assert 0.12 * 100 < d_gone.energy_j < 0.3 * 100  # energy up to the gap only (~0.2 s)
    assert d_stays.energy_j == pytest.approx(100.0 * d_stays.duration_s, rel=0.05, abs=0.5)


def test_cuda_visible_devices_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(power_w=10.0 * (i + 1)) for i in range(4)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"2,{fake.gpus[0].uuid[:12]}")
    b = NvmlGpuBackend(nvml=autospec_nvml(fake), **FAST)  # type: ignore[arg-type]
    assert [(g.logical, g.physical) for g in b.gpus] == [(0, 2), (1, 0)]
    m = run_window(b, 0.1)
    assert [d.index for d in m.devices] == [2, 0]
    assert "cuda_index=0" in m.devices[0].source


GPUS_UUIDS = [f"GPU-{i:08d}-fake-{i:04d}-0000-000000000000" for i in range(3)]


@pytest.mark.parametrize(
    "visible",
    [list(p) for r in range(0, 4) for p in itertools.permutations(range(3), r)],
    ids=lambda v: ",".join(map(str, v)) or "empty",
)
def test_every_visible_combination(visible: list[int]) -> None:
    spec = ",".join(map(str, visible))
    assert parse_visible_devices(spec, GPUS_UUIDS) == visible
    uuid_spec = ",".join(GPUS_UUIDS[i] for i in visible)
    assert parse_visible_devices(uuid_spec, GPUS_UUIDS) == visible
    b = backend([FakeGpu() for _ in range(3)], visible=spec)
    assert [g.physical for g in b.gpus] == visible
    if not visible:
        assert b.unavailable_reason is not None and "no GPU visible" in b.unavailable_reason


def test_visible_devices_stop_at_first_invalid_entry() -> None:
    assert parse_visible_devices("1,7,2", GPUS_UUIDS) == [1]
    assert parse_visible_devices(None, GPUS_UUIDS) == [0, 1, 2]
    assert parse_visible_devices("MIG-xyz,0", GPUS_UUIDS) == []


def test_no_gpu_visible_reads_unavailable_not_zero() -> None:
    (d,) = run_window(backend([FakeGpu()], visible=""), 0.02).devices
    assert (d.kind, d.method, d.energy_j) == ("gpu", "unavailable", None)


def test_unknown_device_index_is_a_clear_error() -> None:
    with pytest.raises(MeterError, match=r"unknown GPU index 5: 2 GPU\(s\) visible.*0\.\.1"):
        backend([FakeGpu(), FakeGpu()], devices=[5])


@pytest.mark.parametrize("field", ["interval_s", "counter_poll_s"])
@pytest.mark.parametrize("value", [0, -0.1, float("nan")])
def test_bad_sampling_interval(field: str, value: float) -> None:
    with pytest.raises(MeterError, match="positive number of seconds"):
        backend([FakeGpu()], **{field: value})


def test_fake_library_missing_is_unavailable() -> None:
    b = NvmlGpuBackend(nvml=autospec_nvml(FakeNvml(library=False)), visible_devices=None)
    (d,) = run_window(b, 0.01).devices
    assert d.method == "unavailable" and d.energy_j is None and "LibraryNotFound" in (d.note or "")


def test_real_pynvml_on_this_machine() -> None:
    """The real binding: here NVML is absent (NVMLError_LibraryNotFound) -> 'unavailable', no crash."""
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("NVML works on this machine: the unavailable path is not what it shows")
    except pynvml.NVMLError_LibraryNotFound:
        pass
    b = NvmlGpuBackend(visible_devices=None)
    assert b.unavailable_reason is not None and "NVMLError_LibraryNotFound" in b.unavailable_reason
    (d,) = run_window(b, 0.01).devices
    assert (d.method, d.energy_j, d.source) == ("unavailable", None, "nvml")
