"""The host ledger in-process, with real processes: windows, nesting, ticks, lost windows, the state
file's crash safety."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metering.errors import MeterError
from metering.ledger import Ledger
from metering.nvml import GpuReader
from metering.nvml_fake import FakeNvml, autospec_nvml
from tests.metering.ledger_facts import Facts, burn_command, check_conservation
from warehouse.batches import pending_batches
from warehouse.home import FootprintHome


@pytest.fixture
def ledger(home: FootprintHome, tmp_path: Path) -> Ledger:
    """The real /proc, no RAPL, a GPU-less NVML: what every CI machine can reproduce."""
    (tmp_path / "powercap").mkdir()
    gpus = GpuReader(autospec_nvml(FakeNvml([])), dev_root=tmp_path)
    return Ledger(home, powercap=tmp_path / "powercap", gpus=gpus)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p
    p.kill()
    p.wait()


def test_window_records_its_tree_at_open_heartbeat_and_close(ledger: Ledger, home: FootprintHome) -> None:
    with ledger.window(materialization_id="m1", role="step", name="s", heartbeat_s=0.2) as w:
        subprocess.run(burn_command(0.6), check=True, capture_output=True)
        deadline = time.monotonic() + 60
        while not any((b / "window_usage.parquet").exists() for b in pending_batches(home)):  # a heartbeat
            assert time.monotonic() < deadline, "no heartbeat tick within 60 s"
            time.sleep(0.05)
    assert w.ended == "closed"
    f = Facts.read(home)
    check_conservation(f)
    [mw] = f.windows
    assert (mw["window_id"], mw["materialization_id"], mw["role"], mw["root_pid"]) == (
        w.window_id,
        "m1",
        "step",
        os.getpid(),
    )
    ticks = {u["tick_id"] for u in f.usage}
    assert len(ticks) >= 2, "the close tick and at least one heartbeat"
    assert {d["device_kind"] for d in f.intervals} == {"cpu", "ram"}  # no GPU here: no GPU rows
    assert f.use(w.window_id) >= 0.6 - 0.02  # the child's CPU, reaped by this process
    assert f.use(w.window_id, "ram") > 0
    assert f.ended(w.window_id) == {"closed"}
    cpu = [d for d in f.intervals if d["device_kind"] == "cpu"]
    assert all(d["unit"] == "thread_s" and d["method"] == "estimated" and d["energy_j"] is None for d in cpu)
    assert all(d["capacity"] == pytest.approx(d["duration_s"] * os.cpu_count()) for d in cpu)  # type: ignore[operator]
    assert ledger.tick() is None, "no window open: no tick"


def test_nested_and_taken_over_windows(
    ledger: Ledger, home: FootprintHome, sleeper: subprocess.Popen[bytes]
) -> None:
    outer, parent = ledger.open(materialization_id="m", role="step", name="outer")
    assert parent is None
    inner, parent = ledger.open(
        materialization_id="m", role="rank", name="rank 0", root_pid=sleeper.pid, rank=0
    )
    assert parent == outer
    same, parent = ledger.open(materialization_id="m2", role="meter", name="takeover")  # root: this process
    assert parent == outer
    out = ledger.tick()
    assert out is not None
    for w in (same, inner, outer):
        assert ledger.close(w) == "closed"
    assert ledger.close(outer) is None  # closing twice: nothing open any more
    f = Facts.read(home)
    check_conservation(f)
    assert f.window(inner)["parent_window_id"] == outer and f.window(inner)["rank"] == 0
    assert f.window(same)["parent_window_id"] == outer
    # while `same` was open it held this process: the outer window used nothing of its own then; at
    # most CPU read before (beyond the capacity of the opening ticks' few-ms intervals, 10 ms clock
    # ticks) is carried into it (metering.tick), never a process the taking-over window holds
    mid = [u for u in f.usage if u["tick_id"] == out.tick_id and u["device_kind"] == "cpu"]
    taken = {u["window_id"]: u["use"] for u in mid}
    assert taken[outer] < 0.02


def test_lost_window_closed_by_the_next_tick(ledger: Ledger, home: FootprintHome) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    wid, _ = ledger.open(materialization_id="m", role="service", name="victim", root_pid=victim.pid)
    ledger.tick()
    victim.kill()
    victim.wait()
    out = ledger.tick()
    assert out is not None and out.ended == {wid: "lost"}
    assert ledger.open_windows() == {}
    assert Facts.read(home).ended(wid) == {"lost"}


def test_a_reused_pid_is_another_process(ledger: Ledger, sleeper: subprocess.Popen[bytes]) -> None:
    wid, _ = ledger.open(materialization_id="m", role="window", name="w", root_pid=sleeper.pid)
    data = json.loads(ledger.state_file.path.read_text())
    pid, start = data["state"]["windows"][wid]["root_key"].split(":")
    data["state"]["windows"][wid]["root_key"] = f"{pid}:{int(start) - 1}"  # same pid, earlier process
    ledger.state_file.path.write_text(json.dumps(data))
    out = ledger.tick()
    assert out is not None and out.ended == {wid: "lost"}


def test_heartbeats_skip_when_the_host_ticked_recently(ledger: Ledger) -> None:
    wid, _ = ledger.open(materialization_id="m", role="step", name="s")
    assert ledger.heartbeat(60.0) is None  # the open tick is younger than 0.9 x 60 s
    assert ledger.tick(min_age_s=60.0) is None
    assert ledger.heartbeat(1e-6) is not None
    ledger.close(wid)


def test_misuse_is_a_clear_error(ledger: Ledger, home: FootprintHome) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(MeterError, match=f"process {dead.pid} does not exist"):
        ledger.open(materialization_id="m", role="step", name="s", root_pid=dead.pid)
    with pytest.raises(MeterError, match="window role 'boss'"):
        ledger.open(materialization_id="m", role="boss", name="s")
    with pytest.raises(MeterError, match="heartbeat_s must be a positive number"):
        ledger.window(materialization_id="m", role="step", name="s", heartbeat_s=0)
    assert ledger.open_windows() == {}  # nothing was opened by the calls that failed


def test_a_ticker_killed_before_its_state_commit_leaves_no_trace(
    ledger: Ledger, home: FootprintHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid, _ = ledger.open(materialization_id="m", role="step", name="s")
    before = ledger.state_file.path.read_text()
    n_batches = len(pending_batches(home))

    def killed(*_a: object) -> None:
        raise KeyboardInterrupt("killed while writing the batch")

    monkeypatch.setattr("metering.ledger.write_batch", killed)
    with pytest.raises(KeyboardInterrupt):
        ledger.tick()
    monkeypatch.undo()
    assert ledger.state_file.path.read_text() == before and not ledger.state_file.next_path.exists()
    assert len(pending_batches(home)) == n_batches
    ledger.close(wid)
    check_conservation(Facts.read(home))


def test_prepared_state_is_adopted_only_with_its_batch(ledger: Ledger, home: FootprintHome) -> None:
    wid, _ = ledger.open(materialization_id="m", role="step", name="s")
    state, _ = ledger.state_file.load()
    committed = ledger.state_file.path.read_text()
    # killed after phase 1: the batch never appeared -> the prepared state is discarded
    ledger.state_file.prepare(state, "20000101T000000000000-never-written")
    assert ledger.state_file.load()[0].tick_id == state.tick_id
    assert ledger.state_file.path.read_text() == committed and not ledger.state_file.next_path.exists()
    # killed after phase 2: the batch exists -> the prepared state is adopted
    out = ledger.tick()
    assert out is not None
    state2, _ = ledger.state_file.load()
    state2.next_seq = 99
    published = pending_batches(home)[-1].name
    ledger.state_file.prepare(state2, published)
    assert ledger.state_file.load()[0].next_seq == 99
    ledger.close(wid)


def test_unreadable_state_or_another_boot_start_afresh(
    ledger: Ledger, home: FootprintHome, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.open(materialization_id="m", role="step", name="s")
    ledger.state_file.path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert ledger.tick() is None  # a fresh state has no window open
    assert "unreadable" in caplog.text
    wid, _ = ledger.open(materialization_id="m", role="step", name="s2")
    data = json.loads(ledger.state_file.path.read_text())
    data["state"]["boot_id"] = "another-boot"
    ledger.state_file.path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert ledger.tick() is None
    assert "previous boot dropped" in caplog.text and wid not in ledger.open_windows()
