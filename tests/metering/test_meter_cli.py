"""`footprint meter` as real processes: concurrent meters split the host instead of each billing it,
a nested meter counts its command once, exit codes pass through, a killed meter's window is lost."""

from __future__ import annotations

import json
import os
import resource
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from metering.ledger import Ledger
from tests.metering.ledger_facts import (
    FOOTPRINT,
    Facts,
    FakeRapl,
    burn_command,
    burned_s,
    check_conservation,
    footprint_env,
    start_meter,
)
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]
BURN_S = 1.5


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _summaries(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("rapl", [True, False], ids=["fake-rapl", "model"])
def test_concurrent_meters_split_the_host(home: FootprintHome, tmp_path: Path, n: int, rapl: bool) -> None:
    env = {"FOOTPRINT_POWERCAP_ROOT": str(tmp_path / "powercap")}
    fake = FakeRapl(tmp_path / "powercap", watts=50.0) if rapl else None
    if fake is None:
        (tmp_path / "powercap").mkdir()  # an empty powercap tree: no RAPL, the model applies
    t0 = time.monotonic()
    with fake or _Null():
        procs = [
            start_meter(home, ["--heartbeat-s", "0.5", "--", *burn_command(BURN_S)], **env) for _ in range(n)
        ]
        outs = [p.communicate(timeout=180) for p in procs]
    wall_s = time.monotonic() - t0
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    f = Facts.read(home)
    check_conservation(f)
    meters = f.windows_named("meter")
    assert len(meters) == n and all(w["parent_window_id"] is None for w in meters)
    for out, _ in outs:
        [s] = _summaries(out)
        [burned] = burned_s(out)
        use = f.use(s["window_id"])
        print(f"window {s['window_id'][:8]}: cpu use {use:.3f} thread-s, burn used {burned:.3f} CPU-s")
        assert use == pytest.approx(burned, rel=0.10), "a window's CPU is its own command's CPU"
        assert f.ended(s["window_id"]) == {"closed"}
        assert s["devices"][0]["kind"] == "cpu" and s["devices"][0]["use"] == pytest.approx(use)
    billed = f.billed_host_s()
    print(f"{n} meters, wall {wall_s:.2f} s, billed host-seconds {billed:.2f}")
    assert billed <= wall_s, "the windows together are billed at most the host's time"
    cpu = [d for d in f.intervals if d["device_kind"] == "cpu"]
    if rapl:
        assert {d["method"] for d in cpu} <= {"measured", "estimated"}
        measured = [d for d in cpu if d["method"] == "measured"]
        assert measured and all(d["source"] == "rapl:intel-rapl:0" for d in measured)
        span_s = sum(d["duration_s"] for d in measured)
        energy_j = sum(d["energy_j"] for d in measured)
        assert energy_j == pytest.approx(50.0 * span_s, rel=0.05, abs=2.0)  # wraps included
        assert all(d["energy_j"] is None for d in cpu if d["method"] == "estimated")
    else:
        assert {(d["method"], d["energy_j"], d["source"]) for d in cpu} == {("estimated", None, "proc-stat")}
    assert all(d["power_model"] and d["split"] == "capacity" for d in cpu)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_nested_meter_counts_the_command_once(home: FootprintHome) -> None:
    before = _children_cpu_s()
    inner_cmd = [str(FOOTPRINT), "meter", "--json", "--", *burn_command(3.0)]
    r = subprocess.run(
        [str(FOOTPRINT), "meter", "--json", "--", *inner_cmd],
        env=footprint_env(home),
        capture_output=True,
        text=True,
        timeout=180,
    )
    real_s = _children_cpu_s() - before
    assert r.returncode == 0, r.stderr
    inner, outer = _summaries(r.stdout)  # the inner meter prints first
    [burned] = burned_s(r.stdout)
    f = Facts.read(home)
    check_conservation(f)
    assert f.window(inner["window_id"])["parent_window_id"] == outer["window_id"]
    assert f.window(outer["window_id"])["parent_window_id"] is None
    inner_s, outer_s = f.use(inner["window_id"]), f.use(outer["window_id"])
    print(f"inner {inner_s:.3f}, outer {outer_s:.3f}, burn {burned:.3f}, whole tree really used {real_s:.3f}")
    assert inner_s == pytest.approx(burned, rel=0.10)
    assert outer_s < 0.5 * burned, "the outer window holds only the inner meter's own start and exit"
    assert inner_s + outer_s <= real_s * 1.02 + 0.05, "counted once: no more than the tree really used"


def test_exit_codes_failed_status_and_missing_command(home: FootprintHome) -> None:
    r = subprocess.run(
        [str(FOOTPRINT), "meter", "--json", "--asset", "adhoc/busy", "--", "sh", "-c", "exit 3"],
        env=footprint_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stderr
    [s] = _summaries(r.stdout)
    assert (s["exit_code"], s["status"], s["asset_key"]) == (3, "failed", "adhoc/busy")
    assert not home.warehouse_path.exists() and "loader" in s["merge"]  # the meter never merges
    sync(home)  # the loader's job
    con = connect(home, read_only=True)
    try:
        status = con.execute(
            "SELECT status FROM materialization_outcome WHERE materialization_id = ?",
            [s["materialization_id"]],
        ).fetchall()
        roles = con.execute("SELECT role, name FROM meter_window").fetchall()
    finally:
        con.close()
    assert status == [("failed",)] and roles == [("meter", "sh -c 'exit 3'")]

    ok = subprocess.run(
        [str(FOOTPRINT), "meter", "--", "true"], env=footprint_env(home), capture_output=True, text=True
    )
    assert ok.returncode == 0 and "adhoc/true" in ok.stderr and "cpu:0" in ok.stderr, ok.stderr
    missing = subprocess.run(
        [str(FOOTPRINT), "meter", "--json", "--", "no-such-command-xyz", "arg"],
        env=footprint_env(home),
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 127
    assert "command not found: 'no-such-command-xyz'" in missing.stderr
    assert json.loads(missing.stdout)["status"] == "failed"


def test_sigkilled_meter_is_closed_lost_by_the_next_tick_and_keeps_its_use(
    home: FootprintHome, tmp_path: Path
) -> None:
    pidfile = tmp_path / "burn.pid"
    burn = shlex.join(burn_command(60.0))
    cmd = [
        str(FOOTPRINT),
        "meter",
        "--heartbeat-s",
        "0.3",
        "--",
        "sh",
        "-c",
        f"echo $$ > {pidfile}; exec {burn}",
    ]
    # no pipes: the orphaned command must not hold this test's reads open
    p = subprocess.Popen(cmd, env=footprint_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any(u["use"] for u in Facts.read(home).usage if u["device_kind"] == "cpu"):
            assert p.poll() is None and time.monotonic() < deadline, "no heartbeat tick with CPU use"
            time.sleep(0.1)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        if pidfile.exists():  # the command lives on, orphaned (SIGKILL reaches the meter only)
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    [w] = Facts.read(home).windows
    kept = Facts.read(home).use(w["window_id"])
    assert kept > 0
    ledger = Ledger(home)
    assert w["window_id"] in ledger.open_windows()
    out = ledger.tick()  # any tick: here the test's own
    assert out is not None and out.ended == {w["window_id"]: "lost"}
    f = Facts.read(home)
    check_conservation(f)
    assert f.ended(w["window_id"]) == {"lost"}
    assert f.use(w["window_id"]) >= kept, "its use up to its last tick stays"
    assert w["window_id"] not in ledger.open_windows()
    assert ledger.tick() is None  # nothing open any more: no tick


def test_summary_table_says_unknown_instead_of_failing(capsys: pytest.CaptureFixture[str]) -> None:
    from metering.cli import _print_table

    priced = {"duration_s": None, "energy_kwh": None, "energy_method": "estimated", "co2e_kg": None}
    s = {
        "asset_key": "adhoc/x",
        "exit_code": 0,
        "priced": {**priced, "cost_usd": 1.5, "rate_card": "test"},
        "devices": [
            {
                "kind": "cpu",
                "index": 0,
                "name": "AMD EPYC",
                "unit": "thread_s",
                "use": 1.0,
                "unknown_ticks": 0,
            }
            | {"host_share": 0.5, "energy_kwh": None, "method": "estimated"}
        ],
        "materialization_id": "m",
        "status": "success",
        "window_id": "w",
    }
    _print_table(s)
    err = capsys.readouterr().err
    assert "unknown" in err and "1.500000 USD" in err and "1.000 thread_s" in err
    _print_table({**s, "priced": None, "pricing_error": "warehouse busy"})
    assert "not priced: warehouse busy" in capsys.readouterr().err
