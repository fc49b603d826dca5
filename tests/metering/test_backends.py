"""RAPL with a fake sysfs tree, the CPU and RAM models, backend choice and meter misuse."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from metering.backends import cpu_backend, default_backends
from metering.cpu_model import CpuModelBackend
from metering.meter import Meter, MeterError
from metering.ram import RamModelBackend
from metering.rapl import RaplBackend, rapl_readable


def zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 1_000_000) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def test_rapl_counts_deltas_and_wraps(tmp_path: Path) -> None:
    z0 = zone(tmp_path, "intel-rapl:0", "package-0", 900_000)
    z1 = zone(tmp_path, "intel-rapl:1", "package-1", 10_000)
    zone(tmp_path, "intel-rapl:0:0", "core", 5)  # sub-zone: inside the package figure, not added
    b = RaplBackend(tmp_path, poll_s=60.0)
    assert [z.name for z in b.zones] == ["package-0", "package-1"]
    w = b.open_window()
    (z0 / "energy_uj").write_text("950000\n")
    (z1 / "energy_uj").write_text("20000\n")
    d0, d1 = w.read()
    assert d0.energy_j == pytest.approx(0.05) and d1.energy_j == pytest.approx(0.01)
    (z0 / "energy_uj").write_text("100000\n")  # wrapped: 50 000 to the top + 100 000
    d0, _ = w.close()
    assert d0.energy_j == pytest.approx(0.2)
    assert (d0.kind, d0.index, d0.method, d0.source) == ("cpu", 0, "measured", "rapl:intel-rapl:0")
    assert "idle and busy" in (d0.note or "")
    assert w.read() == [d0, _]  # closed windows keep their final reading


def test_rapl_unreadable_file_mid_window_is_a_gap(tmp_path: Path) -> None:
    z0 = zone(tmp_path, "intel-rapl:0", "package-0", 0)
    w = RaplBackend(tmp_path, poll_s=60.0).open_window()
    (z0 / "energy_uj").write_text("300000\n")
    w.read()
    (z0 / "energy_uj").unlink()
    (d,) = w.close()
    assert d.energy_j == pytest.approx(0.3) and "gap:" in (d.note or "")


def test_no_rapl_falls_back_to_the_model(tmp_path: Path) -> None:
    assert not rapl_readable(tmp_path / "absent")
    zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (tmp_path / "intel-rapl:0" / "energy_uj").unlink()  # as when readable by root only
    assert not rapl_readable(tmp_path)
    assert isinstance(cpu_backend(powercap_root=tmp_path), CpuModelBackend)
    with pytest.raises(MeterError, match="no readable RAPL"):
        RaplBackend(tmp_path)
    good = tmp_path / "good"
    zone(good, "intel-rapl:0", "package-0", 0)
    assert isinstance(cpu_backend(powercap_root=good), RaplBackend)


def test_cpu_model_charges_tdp_per_core_for_cpu_seconds() -> None:
    meter = Meter([CpuModelBackend(tdp_w=100.0, cores=4)])
    meter.begin_window("w")
    t = time.process_time()
    # the process tree's CPU time comes from /proc in clock ticks (10 ms), read at both ends of the
    # window: burn one tick more than the bound so truncation cannot take the figure under it
    tick_s = 1.0 / os.sysconf("SC_CLK_TCK")
    while time.process_time() - t < 0.2 + tick_s:
        pass
    (d,) = meter.end_window("w").devices
    cpu_s = float(d.source.split("cpu_s=")[1])
    assert cpu_s >= 0.2
    assert d.energy_j == pytest.approx(cpu_s * 100.0 / 4, rel=0.01)
    assert d.method == "estimated" and "tdp_w=100;cores=4" in d.source


def test_ram_model_integrates_rss(monkeypatch: pytest.MonkeyPatch) -> None:
    from metering import proctree

    monkeypatch.setattr(proctree.ProcessTree, "rss_bytes", lambda self: 2_000_000_000)
    meter = Meter([RamModelBackend(w_per_gb=0.5, interval_s=0.05)])
    meter.begin_window("w")
    time.sleep(0.3)
    (d,) = meter.end_window("w").devices
    assert d.energy_j == pytest.approx(1.0 * d.duration_s, rel=0.05)  # 2 GB x 0.5 W/GB = 1 W
    assert "w_per_gb=0.5" in d.source and d.method == "estimated"


def test_default_backends_here_are_model_model_unavailable() -> None:
    meter = Meter(default_backends())
    meter.begin_window("w")
    m = meter.end_window("w")
    kinds = {(d.kind, d.method) for d in m.devices}
    assert ("ram", "estimated") in kinds
    assert any(k == "cpu" for k, _ in kinds)
    assert any(k == "gpu" for k, _ in kinds)
    assert m.method in ("estimated", "measured", "mixed")


def test_meter_misuse_is_a_clear_error() -> None:
    meter = Meter([CpuModelBackend()])
    with pytest.raises(MeterError, match="'never' is not open"):
        meter.end_window("never")
    meter.begin_window("w")
    with pytest.raises(MeterError, match="already open"):
        meter.begin_window("w")
    meter.end_window("w")
    with pytest.raises(MeterError, match=r"'w' is not open.*already ended"):
        meter.end_window("w")
    with pytest.raises(MeterError, match="not open"):
        meter.read_window("w")


@pytest.mark.parametrize("bad", [0, -1.0])
def test_bad_intervals_and_constants(bad: float, tmp_path: Path) -> None:
    with pytest.raises(MeterError, match="RAM sampling interval"):
        RamModelBackend(interval_s=bad)
    with pytest.raises(MeterError, match="RAPL poll interval"):
        RaplBackend(tmp_path, poll_s=bad)
    with pytest.raises(MeterError, match="TDP"):
        CpuModelBackend(tdp_w=bad)


def test_bad_env_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOTPRINT_CPU_TDP_W", "lots")
    with pytest.raises(MeterError, match="FOOTPRINT_CPU_TDP_W='lots' is not a number"):
        cpu_backend(powercap_root=Path("/nonexistent"))
