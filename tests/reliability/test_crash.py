"""Crash: a metered training step killed with SIGKILL, and power-cut style damage to fact batches.

- SIGKILL: the window's use up to its last tick is in the warehouse, the materialization shows as
  `incomplete`, the next tick (the rerun's) closes the killed window as `lost` without adding to it,
  and the rerun (a new materialization) has its own window.
- A truncated Parquet file in a published batch is quarantined (REASON.txt, `quarantined_batch`
  row), reported by `footprint sync` (exit code 3), and never loaded; the good batches beside it load.
- A `.tmp-*` dir left by a writer that died mid-write is never loaded, and removed once stale.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.reliability.helpers import REPO, published_table, rows, run_footprint
from warehouse.batches import TMP_PREFIX, write_batch
from warehouse.facts import FactBatch, Materialization, MaterializationOutcome, WindowUsage, new_id, utcnow
from warehouse.home import FootprintHome
from warehouse.loader import STALE_TMP_S, sync

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ASSET = "reliability/train_step"
HEARTBEAT_S = 0.2
HEARTBEATS_BEFORE_KILL = 4

# A real (tiny) torch training loop under the recorder, as the training stage's ranks run it.
TRAIN_STEP = """
import sys, torch
from metering.recorder import MaterializationRecorder
from warehouse.home import FootprintHome

home, mid, run_id, steps = FootprintHome.resolve(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.manual_seed(0)
torch.set_num_threads(1)
model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(256, 64), torch.randint(0, 2, (256,))
with MaterializationRecorder(home, asset_key=sys.argv[5], run_id=run_id, materialization_id=mid,
                             heartbeat_s=float(sys.argv[6])):
    step = 0
    while steps < 0 or step < steps:  # steps < 0: until killed
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
print("done", step, flush=True)
"""


def _train(home: FootprintHome, mid: str, run_id: str, steps: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_STEP, str(home.root), mid, run_id, str(steps), ASSET, str(HEARTBEAT_S)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ticks(home: FootprintHome, mid: str) -> int:
    """Published ticks that recorded the materialization's window (open tick and heartbeats)."""
    t = published_table(home, "window_usage")
    if t is None:
        return 0
    return len(set(t.filter(pc.equal(t["materialization_id"], mid))["tick_id"].to_pylist()))


def _published_use(home: FootprintHome, mid: str) -> dict[str, float]:
    """Use per device kind over the published ticks (what a crash must leave in the warehouse)."""
    t = published_table(home, "window_usage")
    assert t is not None
    out: dict[str, float] = {}
    for r in t.filter(pc.equal(t["materialization_id"], mid)).to_pylist():
        assert r["ended"] is None, "a killed step cannot have closed its window"
        out[r["device_kind"]] = out.get(r["device_kind"], 0.0) + (r["use"] or 0.0)
    return out


def _warehouse_use(home: FootprintHome, mid: str) -> dict[str, float]:
    return dict(
        rows(
            home,
            "SELECT device_kind, sum(coalesce(use, 0)) FROM window_usage "
            "WHERE materialization_id = ? GROUP BY 1",
            [mid],
        )
    )


def test_sigkilled_training_step_is_incomplete_keeps_its_use_and_is_closed_lost(
    home: FootprintHome,
) -> None:
    killed = f"m-killed-{new_id()[:8]}"
    child = _train(home, killed, "run-crash-1", steps=-1)
    try:
        deadline = time.monotonic() + 90
        while _ticks(home, killed) < HEARTBEATS_BEFORE_KILL:
            assert child.poll() is None, "the training step died on its own"
            assert time.monotonic() < deadline, "no heartbeats within 90 s"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    expected = _published_use(home, killed)  # read before the loader moves the batches away
    assert expected["cpu"] > 0 and expected["ram"] > 0, expected

    result = sync(home, wait_s=30)
    assert result.quarantined == {}, "a SIGKILL between batches must not corrupt a published batch"
    assert _warehouse_use(home, killed) == pytest.approx(expected), "exactly the use up to the last tick"
    [(status,)] = rows(home, "SELECT status FROM asset_footprint WHERE materialization_id = ?", [killed])
    assert status == "incomplete"
    [(window, ended)] = rows(
        home,
        "SELECT w.window_id, list(u.ended) FILTER (WHERE u.ended IS NOT NULL) FROM meter_window w "
        "LEFT JOIN window_usage u USING (window_id) WHERE w.materialization_id = ? GROUP BY 1",
        [killed],
    )
    assert ended is None or ended == [], "nothing has ticked since the kill: the window is still open"

    # The rerun: a new materialization of the same asset, which finishes. Its first tick finds the
    # killed window's process gone and closes that window as lost, adding nothing to it.
    rerun = f"m-rerun-{new_id()[:8]}"
    done = _train(home, rerun, "run-crash-2", steps=30)
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0 and out.startswith("done 30"), out
    sync(home, wait_s=30)
    assert _warehouse_use(home, killed) == pytest.approx(expected), "the lost window's last row adds nothing"
    assert rows(
        home, "SELECT DISTINCT ended FROM window_usage WHERE window_id = ? AND ended IS NOT NULL", [window]
    ) == [("lost",)]
    statuses = rows(
        home, "SELECT materialization_id, status FROM asset_footprint WHERE asset_key = ? ORDER BY 2", [ASSET]
    )
    assert statuses == [(killed, "incomplete"), (rerun, "success")]
    assert _warehouse_use(home, rerun)["cpu"] > 0


def _good_batch(home: FootprintHome, mid: str) -> Path:
    now = utcnow()
    batch = FactBatch().add(
        Materialization(mid, "run-pc", "reliability/power_cut", now, host="h"),
        *[WindowUsage(f"t{i}", f"w-{mid}", mid, "h", "cpu", 0, float(i)) for i in range(50)],
        MaterializationOutcome(mid, "success", now),
    )
    path = write_batch(home, batch)
    assert path is not None
    return path


def test_truncated_parquet_is_quarantined_and_reported_by_sync(home: FootprintHome) -> None:
    bad = _good_batch(home, "m-truncated")
    good = _good_batch(home, "m-intact")
    victim = bad / "window_usage.parquet"
    size = victim.stat().st_size
    with victim.open("r+b") as fh:  # a power cut: the tail of the file never reached the disk
        fh.truncate(size // 2)

    r = run_footprint(home, "sync")
    assert r.returncode == 3, f"footprint sync must exit 3 on a quarantined batch:\n{r.stdout}\n{r.stderr}"
    assert f"quarantined {bad.name}" in r.stdout and "window_usage.parquet is unreadable" in r.stdout
    reason_file = home.quarantine_dir / bad.name / "REASON.txt"
    assert reason_file.is_file() and "window_usage.parquet is unreadable" in reason_file.read_text()
    assert not bad.exists() and not good.exists()
    assert rows(home, "SELECT count(*) FROM quarantined_batch WHERE batch_id = ?", [bad.name]) == [(1,)]
    assert rows(home, "SELECT count(*) FROM loaded_batch WHERE batch_id = ?", [bad.name]) == [(0,)]
    # nothing of the bad batch was loaded (not even its intact materialization file); the good one was
    assert rows(home, "SELECT materialization_id, status FROM asset_footprint ORDER BY 1") == [
        ("m-intact", "success")
    ]
    # a second sync neither re-reports nor loads it
    again = run_footprint(home, "sync")
    assert again.returncode == 0 and "quarantined 0" in again.stdout, again.stdout


def test_tmp_dir_of_a_crashed_write_is_never_loaded_and_removed_when_stale(home: FootprintHome) -> None:
    # A complete-looking batch that never got its atomic rename: the writer died just before it.
    published = _good_batch(home, "m-unpublished")
    fresh_tmp = home.pending_dir / f"{TMP_PREFIX}{published.name}"
    published.rename(fresh_tmp)
    stale_tmp = home.pending_dir / f"{TMP_PREFIX}{new_id()}"
    shutil.copytree(fresh_tmp, stale_tmp)
    (stale_tmp / "MANIFEST").unlink()  # died mid-write: no manifest yet
    old = time.time() - STALE_TMP_S - 60
    for p in [stale_tmp, *stale_tmp.rglob("*")]:
        os.utime(p, (old, old))

    r = run_footprint(home, "sync")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "loaded 0 fact batches" in r.stdout and "removed 1 unpublished batch dirs" in r.stdout, r.stdout
    assert stale_tmp.name in r.stdout
    assert not stale_tmp.exists(), "a stale .tmp-* dir must be cleaned up"
    assert fresh_tmp.is_dir(), "a fresh .tmp-* dir may be a write in progress: it must be left alone"
    assert rows(home, "SELECT count(*) FROM materialization") == [(0,)]
    assert rows(home, "SELECT count(*) FROM quarantined_batch") == [(0,)]
    assert sync(home).loaded_batches == 0
