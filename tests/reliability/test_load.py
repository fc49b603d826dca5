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
from warehouse.facts import FACT_SCHEMAS
from warehouse.home import FootprintHome
from warehouse.loader import sync

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.multiprocess]

HERE = Path(__file__).parent
ANALYST = """
import sys, time, duckdb
from pathlib import Path
def published():  # batches published while we hold the file: the runs cannot merge them
    return [p for p in Path(sys.argv[3]).iterdir() if p.is_dir() and not p.name.startswith(".tmp-")]
con = duckdb.connect(sys.argv[1], read_only=True)
t0 = time.monotonic()
print("holding", flush=True)
n = con.execute("select count(*) from materialization").fetchone()[0]
# Hold at least HOLD_S, and on a slow machine on until the runs have reached their steps (8 Dagster
# processes starting on 2 busy cores can take longer than that), so the hold really meets them.
while time.monotonic() - t0 < float(sys.argv[2]) or (not published() and time.monotonic() - t0 < 180):
    time.sleep(0.1)
pending = published()
con.close()
print("released", n, len(pending), round(time.monotonic() - t0, 1), flush=True)
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


def _init_instance(env: dict[str, str]) -> None:
    """Create the Dagster instance's sqlite storage once: 8 runs stamping a fresh DAGSTER_HOME at the
    same moment race on alembic ('more than one head present')."""
    subprocess.run(
        [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().get_runs(limit=1)"],
        env=env,
        check=True,
        timeout=120,
    )


def test_eight_runs_while_analyst_holds_the_warehouse(home: FootprintHome) -> None:
    sync(home)  # create the warehouse so the analyst has a file to hold
    env = _env(home)
    _init_instance(env)
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(home.warehouse_path), str(HOLD_S), str(home.pending_dir)],
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
    for i, (r, out) in enumerate(zip(runs, outputs, strict=True)):
        assert r.returncode == 0, f"run {i} failed although only the warehouse was locked:\n{out[-3000:]}"
    released = analyst.communicate(timeout=120)[0].split()
    assert released[:2] == ["released", "0"], f"analyst saw an unexpected warehouse: {released}"
    pending_at_release, held_s = int(released[2]), float(released[3])
    assert held_s >= HOLD_S
    # The runs wrote their facts while the analyst held the file: they waited as pending batches.
    assert pending_at_release > 0, (
        f"no batch was pending when the analyst let go after {held_s} s: the runs did not overlap the "
        f"hold (runs took {runs_done_s:.0f} s)"
    )

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
        for table in FACT_SCHEMAS:
            assert q(f"select count(*) - count(distinct fact_id) from {table}") == [(0,)], table
        assert q("select count(*) - count(distinct batch_id) from loaded_batch") == [(0,)]
        # by batch: every batch that holds facts was recorded as loaded once, with its exact fact count
        per_batch = " union all ".join(f"select batch_id from {t}" for t in FACT_SCHEMAS)
        diff = q(
            f"with f as (select batch_id, count(*) n from ({per_batch}) group by all) "
            "select count(*) from f full join loaded_batch l using (batch_id) "
            "where f.n is distinct from l.fact_count"
        )
        assert diff == [(0,)], "a batch's facts in the tables disagree with loaded_batch.fact_count"
        assert q("select count(*) from lineage_edge") == [(RUNS,)]
        assert q("select count(*) from transfer") == [(RUNS,)]
        # one meter window per step, each closed at exactly one tick
        assert q("select count(*) from meter_window where role = 'step'") == [(16,)]
        assert q(
            "select count(*) from (select window_id, count(distinct tick_id) n from window_usage "
            "where ended is not null group by all having n <> 1 or any_value(ended) <> 'closed')"
        ) == [(0,)]
        # one row per tick, window and device, but for CPU that arrived late (a child's, through its
        # parent's reaped time) and was placed back into an earlier interval by a later tick: that row
        # is in the later tick's batch. Either way, per tick and device the windows' use never exceeds
        # what the device did.
        assert q(
            "select count(*) from (select tick_id, window_id, device_kind, device_index, count(*) n, "
            "count(distinct batch_id) batches from window_usage group by all "
            "having n > 1 and (device_kind <> 'cpu' or batches <> n))"
        ) == [(0,)]
        assert q(
            "select count(*) from (select tick_id, device_kind, device_index, sum(use) used "
            "from window_usage group by all) u "
            "join device_interval d using (tick_id, device_kind, device_index) "
            "where u.used > d.busy * (1 + 1e-9) + 1e-9"
        ) == [(0,)]
    finally:
        con.close()
    # Loading the same batches again changes nothing (idempotent).
    assert sync(home).loaded_batches == 0
