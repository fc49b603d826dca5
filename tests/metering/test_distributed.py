"""Two gloo ranks under torchrun inside a step's window: each rank's window nests in the step's, the
torchrun agent (and each rank's start before its window) is the step's, and together they state no
more CPU than the whole job really used."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from metering.ledger import Ledger
from tests.metering.ledger_facts import REPO, Facts, check_conservation
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]


def _cpu_s(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def test_rank_windows_nest_in_the_step_window(home: FootprintHome, tmp_path: Path) -> None:
    env = dict(os.environ)  # keeps the CUDA pin of tests/conftest.py: two ranks on one GPU would collide
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    worker = Path(__file__).with_name("torchrun_worker.py")
    cmd = [str(REPO / ".venv/bin/torchrun"), "--standalone", "--nproc-per-node", "2", str(worker)]
    children0, own0 = _cpu_s(resource.RUSAGE_CHILDREN), _cpu_s(resource.RUSAGE_SELF)
    with Ledger(home).window(
        materialization_id="m-train", role="step", name="train", heartbeat_s=0.5
    ) as step:
        r = subprocess.run(
            [*cmd, str(home.root), "m-train", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    children_s, own_s = _cpu_s(resource.RUSAGE_CHILDREN) - children0, _cpu_s(resource.RUSAGE_SELF) - own0
    assert r.returncode == 0, r.stderr[-3000:]
    rank_ids = json.loads((tmp_path / "windows.json").read_text())
    f = Facts.read(home)
    check_conservation(f)
    ranks = f.windows_named("rank")
    assert sorted(w["window_id"] for w in ranks) == sorted(rank_ids)
    assert sorted(w["rank"] for w in ranks) == [0, 1]
    assert all(
        w["parent_window_id"] == step.window_id and w["materialization_id"] == "m-train" for w in ranks
    )
    assert all(f.ended(w["window_id"]) == {"closed"} for w in ranks)
    rank_s = [f.use(w) for w in rank_ids]
    step_s = f.use(step.window_id)
    print(
        f"ranks {rank_s}, step {step_s:.2f}; really used: children {children_s:.2f}, this process {own_s:.2f}"
    )
    assert all(s >= 0.3 - 0.02 for s in rank_s), "each rank's burn is in its own window"
    assert step_s >= 0.9 * (children_s - sum(rank_s)), "the agent and the ranks' start are the step's"
    assert step_s + sum(rank_s) <= (children_s + own_s) * 1.02 + 0.1, "no CPU second counted twice"
