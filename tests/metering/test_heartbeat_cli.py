"""Heartbeat survives SIGKILL; `footprint meter` records facts and passes the exit code through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

REPO = Path(__file__).resolve().parents[2]
FOOTPRINT = REPO / ".venv" / "bin" / "footprint"

CHILD = """
import sys
from metering.meter import Meter
from metering.recorder import MaterializationRecorder
from warehouse.home import FootprintHome

home = FootprintHome.resolve(sys.argv[1])
rec = MaterializationRecorder(home, asset_key="hb/killed", run_id="r-hb", materialization_id="m-killed",
                              heartbeat_s=0.2, meter=Meter.default(), sync_after=False)
with rec:
    while True:
        sum(range(20_000))
"""


def energy_batches(home: FootprintHome) -> int:
    """Published batches holding energy readings (not the ones still being written under .tmp-)."""
    return sum(
        1 for p in home.pending_dir.glob("*/energy_reading.parquet") if not p.parent.name.startswith(".")
    )


@pytest.mark.slow
def test_sigkilled_step_keeps_energy_up_to_last_heartbeat(home: FootprintHome) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home.root)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while energy_batches(home) < 2:
            assert child.poll() is None, "the metered child died on its own"
            assert time.monotonic() < deadline, "no heartbeat batches within 60 s"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    sync(home)
    con = connect(home, read_only=True)
    try:
        rows = con.execute(
            """SELECT device_kind, seq, is_final, energy_j, method FROM energy_reading
               WHERE materialization_id = 'm-killed' ORDER BY device_kind, seq"""
        ).fetchall()
        outcomes = con.execute(
            "SELECT count(*) FROM materialization_outcome WHERE materialization_id = 'm-killed'"
        ).fetchall()[0][0]
        started = con.execute(
            "SELECT asset_key FROM materialization WHERE materialization_id = 'm-killed'"
        ).fetchall()
    finally:
        con.close()
    assert started == [("hb/killed",)]
    assert outcomes == 0  # no outcome fact => the view reports it as incomplete
    cpu = [(seq, e) for kind, seq, final, e, method in rows if kind == "cpu"]
    assert len(cpu) >= 2 and not any(final for _, _, final, _, _ in rows)  # heartbeats only
    assert cpu[-1][1] > 0 and [e for _, e in cpu] == sorted(e for _, e in cpu)  # cumulative, growing
    gpu = [(e, method) for kind, _, _, e, method in rows if kind == "gpu"]
    assert gpu and all(e is None and m == "unavailable" for e, m in gpu)  # never a pretend zero


def footprint(home: FootprintHome, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOOTPRINT_HOME": str(home.root)}
    return subprocess.run([str(FOOTPRINT), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_meter_passes_exit_code_and_counts_children(home: FootprintHome) -> None:
    busy = f"{sys.executable} -c 'import time; t=time.process_time()\nwhile time.process_time()-t<0.3: pass'"
    r = footprint(home, "meter", "--json", "--asset", "adhoc/busy", "--", "sh", "-c", f"{busy}; exit 3")
    assert r.returncode == 3, r.stderr
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["exit_code"] == 3 and s["status"] == "failed" and s["asset_key"] == "adhoc/busy"
    assert {"duration_s", "energy_kwh", "devices"} <= set(s)
    cpu = next(d for d in s["devices"] if d["kind"] == "cpu")
    assert set(cpu) >= {"kind", "index", "energy_j", "method", "source"}
    if cpu["source"].startswith("cpu-model"):
        assert float(cpu["source"].split("cpu_s=")[1]) >= 0.3  # the grandchild's CPU time counted
    con = connect(home, read_only=True)
    try:
        status = con.execute(
            "SELECT status FROM materialization_outcome WHERE materialization_id = ?",
            [s["materialization_id"]],
        ).fetchall()
    finally:
        con.close()
    assert status == [("failed",)]


@pytest.mark.slow
def test_meter_success_table_and_missing_command(home: FootprintHome) -> None:
    ok = footprint(home, "meter", "--", "true")
    assert ok.returncode == 0, ok.stderr
    assert "adhoc/true" in ok.stderr and "total" in ok.stderr
    missing = footprint(home, "meter", "--json", "--", "no-such-command-xyz", "arg")
    assert missing.returncode == 127
    assert "command not found: 'no-such-command-xyz'" in missing.stderr
    assert json.loads(missing.stdout)["status"] == "failed"
