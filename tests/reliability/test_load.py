"""Load: 8 concurrent Dagster runs of metered assets while an analyst holds the warehouse read-only
for 30 s. Every run must succeed (the lock is not their problem), and after the analyst leaves and a
sync, every fact is present exactly once (by batch and by fact id)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from warehouse.batches import pending_batches
from warehouse.home import FootprintHome
from warehouse.loader import sync

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.multiprocess]

HERE = Path(__file__).parent
ANALYST = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
n = con.execute("select count(*) from materialization").fetchone()[0]
time.sleep(float(sys.argv[2]))
con.close()
print("released", n, flush=True)
"""
RUNS = 8
HOLD_S = 30.0


def _env(home: FootprintHome) -> dict[str, str]:
    env = dict(os.environ)
    env["FOOTPRINT_HOME"] = str(home.root)
    env["DAGSTER_HOME"] = str(home.root / "dagster")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parents[1]), env.get("PYTHONPATH", "")])
    (home.root / "dagster").mkdir(parents=True, exist_ok=True)
    return env


def test_eight_runs_while_analyst_holds_the_warehouse(home: FootprintHome) -> None:
    sync(home)  # create the warehouse so the analyst has a file to hold
    env = _env(home)
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(home.warehouse_path), str(HOLD_S)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert analyst.stdout is not None and analyst.stdout.readline().strip() == "holding"
    dagster = str(Path(sys.executable).parent / "dagster")
    t0 = time.monotonic()
    runs = [
        subprocess.Popen(
            [dagster, "asset", "materialize", "-m", "metered_defs", "--select", "*"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=HERE,
        )
        for _ in range(RUNS)
    ]
    outputs = [r.communicate(timeout=600)[0] for r in runs]
    runs_done_s = time.monotonic() - t0
    for r, out in zip(runs, outputs, strict=True):
        assert r.returncode == 0, out[-3000:]
    # The analyst was still there while (most of) the runs finished: their facts must be pending.
    still_holding = analyst.poll() is None
    if still_holding:
        assert pending_batches(home), "runs finished under the analyst's lock but left no pending batch"
    analyst.wait(timeout=120)
    assert runs_done_s > 0

    result = sync(home, wait_s=30)
    assert result.quarantined == {}
    assert not pending_batches(home)
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        # 2 assets x 8 runs, each materialization exactly once, each with one outcome: success.
        assert q("select count(*), count(distinct materialization_id) from materialization") == [(16, 16)]
        assert q("select status, count(*) from materialization_outcome group by all") == [("success", 16)]
        assert q("select count(distinct run_id) from materialization") == [(RUNS,)]
        # every fact once: no fact id twice in any table, no batch loaded twice
        for table in ("materialization", "energy_reading", "transfer", "storage", "lineage_edge"):
            assert q(f"select count(*) - count(distinct fact_id) from {table}") == [(0,)], table
        assert q("select count(*) - count(distinct batch_id) from loaded_batch") == [(0,)]
        assert q("select count(*) from lineage_edge") == [(RUNS,)]
        assert q("select count(*) from transfer") == [(RUNS,)]
        # one final energy reading per window and device
        assert q(
            "select count(*) from (select window_id, device_kind, device_index, count(*) n "
            "from energy_reading where is_final group by all having n > 1)"
        ) == [(0,)]
        assert q("select count(distinct window_id) from energy_reading where is_final") == [(16,)]
    finally:
        con.close()
    # Loading the same batches again changes nothing (idempotent).
    assert sync(home).loaded_batches == 0
