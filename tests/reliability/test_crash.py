"""Crash: a metered training step killed with SIGKILL, and power-cut style damage to fact batches.

- SIGKILL: the energy up to the last heartbeat is in the warehouse, the materialization shows as
  `incomplete` in `asset_footprint`, and a rerun (a new materialization) leaves the old one exactly
  as it was: totals = old partial + new.
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

from tests.reliability.helpers import REPO, footprint_snapshot, published_table, rows, run_footprint
from warehouse.batches import TMP_PREFIX, write_batch
from warehouse.facts import EnergyReading, FactBatch, Materialization, MaterializationOutcome, new_id, utcnow
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
                             heartbeat_s=float(sys.argv[6]), sync_after=False):
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


def _heartbeats(home: FootprintHome, mid: str) -> int:
    t = published_table(home, "energy_reading")
    if t is None:
        return 0
    mine = t.filter(pc.equal(t["materialization_id"], mid))
    return len(set(mine["seq"].to_pylist()))


def _last_heartbeat_j(home: FootprintHome, mid: str) -> dict[tuple[str, int], float | None]:
    """Energy of the newest published heartbeat per device (what a crash must leave in the warehouse)."""
    t = published_table(home, "energy_reading")
    assert t is not None
    newest: dict[tuple[str, int], tuple[int, float | None]] = {}
    for r in t.filter(pc.equal(t["materialization_id"], mid)).to_pylist():
        assert not r["is_final"], "a killed step cannot have published a final reading"
        key = (r["device_kind"], r["device_index"])
        if key not in newest or r["seq"] > newest[key][0]:
            newest[key] = (r["seq"], r["energy_j"])
    return {k: j for k, (_, j) in newest.items()}


def test_sigkilled_training_step_is_incomplete_with_energy_and_rerun_adds_not_doubles(
    home: FootprintHome,
) -> None:
    killed = f"m-killed-{new_id()[:8]}"
    child = _train(home, killed, "run-crash-1", steps=-1)
    try:
        deadline = time.monotonic() + 90
        while _heartbeats(home, killed) < HEARTBEATS_BEFORE_KILL:
            assert child.poll() is None, "the training step died on its own"
            assert time.monotonic() < deadline, "no heartbeats within 90 s"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    expected = _last_heartbeat_j(home, killed)  # read before the loader moves the batches away
    assert expected[("cpu", 0)] and expected[("cpu", 0)] > 0, expected

    result = sync(home, wait_s=30)
    assert result.quarantined == {}, "a SIGKILL between batches must not corrupt a published batch"
    latest = dict(
        ((kind, idx), j)
        for kind, idx, j in rows(
            home,
            "SELECT device_kind, device_index, energy_j FROM energy_reading_latest "
            "WHERE materialization_id = ?",
            [killed],
        )
    )
    assert latest == expected, "the warehouse must hold exactly the last heartbeat of every device"
    [(status, device_kwh, duration_s)] = rows(
        home,
        "SELECT status, device_kwh, duration_s FROM asset_footprint WHERE materialization_id = ?",
        [killed],
    )
    assert status == "incomplete"
    assert device_kwh == pytest.approx(sum(j or 0.0 for j in expected.values()) / 3.6e6, rel=1e-9)
    assert duration_s >= (HEARTBEATS_BEFORE_KILL - 1) * HEARTBEAT_S, "duration runs to the last heartbeat"
    before = footprint_snapshot(home)

    # The rerun: a new materialization of the same asset, which finishes.
    rerun = f"m-rerun-{new_id()[:8]}"
    done = _train(home, rerun, "run-crash-2", steps=30)
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0 and out.startswith("done 30"), out
    sync(home, wait_s=30)
    after = footprint_snapshot(home)
    assert after[killed] == before[killed], "the rerun changed the crashed materialization's numbers"
    assert after[rerun]["status"] == "success"
    [(n, total_kwh, statuses)] = rows(
        home,
        "SELECT count(*), sum(energy_kwh), list(status ORDER BY status) FROM asset_footprint "
        "WHERE asset_key = ?",
        [ASSET],
    )
    assert n == 2 and statuses == ["incomplete", "success"]
    old_kwh, new_kwh = after[killed]["energy_kwh"], after[rerun]["energy_kwh"]
    assert total_kwh == pytest.approx(old_kwh + new_kwh, rel=1e-12), "totals = old partial + new, no double"
    assert rows(
        home, "SELECT count(*) FROM energy_reading_latest WHERE materialization_id = ?", [killed]
    ) == [(len(expected),)]


def _good_batch(home: FootprintHome, mid: str) -> Path:
    now = utcnow()
    batch = FactBatch().add(
        Materialization(mid, "run-pc", "reliability/power_cut", now, host="h"),
        *[
            EnergyReading(
                mid, f"w-{mid}", i, i == 49, "cpu", 0, "cpu", "h", float(i), 1.0, "estimated", "t", now
            )
            for i in range(50)
        ],
        MaterializationOutcome(mid, "success", now),
    )
    path = write_batch(home, batch)
    assert path is not None
    return path


def test_truncated_parquet_is_quarantined_and_reported_by_sync(home: FootprintHome) -> None:
    bad = _good_batch(home, "m-truncated")
    good = _good_batch(home, "m-intact")
    victim = bad / "energy_reading.parquet"
    size = victim.stat().st_size
    with victim.open("r+b") as fh:  # a power cut: the tail of the file never reached the disk
        fh.truncate(size // 2)

    r = run_footprint(home, "sync")
    assert r.returncode == 3, f"footprint sync must exit 3 on a quarantined batch:\n{r.stdout}\n{r.stderr}"
    assert f"quarantined {bad.name}" in r.stdout and "energy_reading.parquet is unreadable" in r.stdout
    reason_file = home.quarantine_dir / bad.name / "REASON.txt"
    assert reason_file.is_file() and "energy_reading.parquet is unreadable" in reason_file.read_text()
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
