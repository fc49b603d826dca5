"""RAPL counters: a fake powercap tree driven by hand through real ledger ticks (deltas, a wrap, an
unreadable counter), and the pure delta rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metering.ledger import Ledger
from metering.nvml import GpuReader
from metering.nvml_fake import FakeNvml, autospec_nvml
from metering.rapl import (
    ENV_POWERCAP_ROOT,
    RaplSample,
    counter_delta,
    find_zones,
    interval_energy_j,
    powercap_root,
    rapl_readable,
)
from tests.metering.ledger_facts import Facts, check_conservation
from warehouse.home import FootprintHome

MAX_UJ = 1_000_000


def zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = MAX_UJ) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def test_counter_delta_and_interval_energy() -> None:
    assert counter_delta(900_000, 950_000, MAX_UJ) == 50_000
    assert counter_delta(950_000, 100_000, MAX_UJ) == 150_000  # wrapped once
    two = RaplSample(
        {"intel-rapl:0": 100_000, "intel-rapl:1": 30_000}, {"intel-rapl:0": MAX_UJ, "intel-rapl:1": MAX_UJ}
    )
    energy, note = interval_energy_j({"intel-rapl:0": 950_000, "intel-rapl:1": 10_000}, two)
    assert energy == pytest.approx(0.15 + 0.02) and note is not None and "wrapped" in note
    assert interval_energy_j({}, RaplSample()) == (None, None)  # no RAPL at all
    energy, note = interval_energy_j({"intel-rapl:0": 1}, two)
    assert energy is None and note is not None and "intel-rapl:1" in note  # a zone without a baseline
    broken = RaplSample({"intel-rapl:0": 5}, {"intel-rapl:0": MAX_UJ}, {"intel-rapl:1": "unreadable"})
    energy, note = interval_energy_j({"intel-rapl:0": 1, "intel-rapl:1": 1}, broken)
    assert energy is None and note is not None and note.startswith("gap:")


def test_zones_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zone(tmp_path, "intel-rapl:0", "package-0", 0)
    zone(tmp_path, "intel-rapl:0:0", "core", 0)  # a sub-zone: inside the package figure
    zone(tmp_path, "intel-rapl:1", "package-1", 0)
    assert [z.key for z in find_zones(tmp_path)] == ["intel-rapl:0", "intel-rapl:1"]
    assert rapl_readable(tmp_path) and not rapl_readable(tmp_path / "absent")
    monkeypatch.setenv(ENV_POWERCAP_ROOT, str(tmp_path))
    assert powercap_root() == tmp_path
    monkeypatch.delenv(ENV_POWERCAP_ROOT)
    assert powercap_root() == Path("/sys/class/powercap")


def test_ledger_measures_deltas_wraps_and_estimates_across_an_unreadable_counter(
    home: FootprintHome, tmp_path: Path
) -> None:
    root = tmp_path / "powercap"
    z0 = zone(root, "intel-rapl:0", "package-0", 900_000)
    z1 = zone(root, "intel-rapl:1", "package-1", 10_000)
    ledger = Ledger(home, powercap=root, gpus=GpuReader(autospec_nvml(FakeNvml([])), dev_root=tmp_path))
    wid, _ = ledger.open(materialization_id="m", role="step", name="s")  # baseline

    def tick_energy() -> tuple[float | None, str, str | None]:
        out = ledger.tick()
        assert out is not None
        [cpu] = [r for r in out.batch.rows["device_interval"] if r["device_kind"] == "cpu"]
        return cpu["energy_j"], cpu["method"], cpu["note"]

    (z0 / "energy_uj").write_text("950000\n")
    (z1 / "energy_uj").write_text("20000\n")
    energy, method, _ = tick_energy()
    assert (energy, method) == (pytest.approx(0.05 + 0.01), "measured")
    (z0 / "energy_uj").write_text("100000\n")  # wrapped: 50 000 to the top + 100 000
    energy, method, note = tick_energy()
    assert energy == pytest.approx(0.15) and note is not None and "wrapped" in note
    (z0 / "energy_uj").unlink()
    (z0 / "energy_uj").mkdir()  # a real read error (IsADirectoryError), as root can read any file
    energy, method, note = tick_energy()
    assert (energy, method) == (None, "estimated") and note is not None and "gap:" in note
    shutil.rmtree(z0 / "energy_uj")
    (z0 / "energy_uj").write_text("200000\n")
    energy, method, note = tick_energy()  # no baseline for zone 0 yet: still estimated
    assert (energy, method) == (None, "estimated") and note is not None and "intel-rapl:0" in note
    (z0 / "energy_uj").write_text("300000\n")
    assert tick_energy()[:2] == (pytest.approx(0.1), "measured")
    ledger.close(wid)
    f = Facts.read(home)
    check_conservation(f)
    measured = [d for d in f.intervals if d["device_kind"] == "cpu" and d["method"] == "measured"]
    assert {d["source"] for d in measured} == {"rapl:intel-rapl:0+intel-rapl:1"}
