"""Two ranks under torchrun (gloo, CPU), launched by the asset through Pipes: each rank's window nests
in the step's window, the step's window holds the orchestrator and the torchrun agent, no CPU second
is counted by two windows, and each rank records its own progress."""

from __future__ import annotations

import psutil
import pytest

from assets.training.pretrained import pretrained_model
from tests.training.helpers import fake_upstream, metadata, query, run_assets
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]


def _cpu_s() -> tuple[float, float]:
    t = psutil.Process().cpu_times()
    return t.user + t.system, t.children_user + t.children_system


def test_rank_windows_nest_in_the_step_window(home: FootprintHome, corpus: ArtifactHandle) -> None:
    own0, children0 = _cpu_s()
    res = run_assets(
        home,
        [*fake_upstream(clean_corpus=corpus), pretrained_model],
        {"pretrained_model": {"nproc_per_node": 2, "max_steps": 12, "batch_size": 16, "log_every_steps": 4}},
    )
    own1, children1 = _cpu_s()
    assert res.success
    meta = metadata(res, "pretrained_model")
    mid = res.output_for_node("pretrained_model").materialization_id
    assert meta["training/world_size"] == 2
    window_ids = str(meta["training/window_ids"]).split(", ")
    assert len(set(window_ids)) == 2, "one window per rank"
    step = str(meta["footprint/window_id"])

    rows = query(
        home,
        "SELECT w.window_id, w.role, w.rank, w.parent_window_id, sum(u.use) FROM meter_window w "
        "JOIN window_usage u USING (window_id) WHERE w.materialization_id = ? AND u.device_kind = 'cpu' "
        "GROUP BY ALL",
        [mid],
    )
    ranks = {r[0]: r for r in rows if r[1] == "rank"}
    [step_row] = [r for r in rows if r[1] == "step"]
    assert set(ranks) == set(window_ids) and sorted(r[2] for r in ranks.values()) == [0, 1]
    assert all(r[3] == step for r in ranks.values()) and step_row[0] == step and step_row[3] is None

    rank_cpu_s = sum(r[4] for r in ranks.values())
    step_cpu_s = step_row[4]
    real_children_s, real_own_s = children1 - children0, own1 - own0
    print(f"cpu_s: ranks {rank_cpu_s:.2f}, step {step_cpu_s:.2f}; ", end="")
    print(f"really used: children {real_children_s:.2f}, own {real_own_s:.2f}")
    # the step's window holds this process too (in-process Dagster), so together they are bounded by
    # everything really used; each rank's training is in its own window
    assert rank_cpu_s + step_cpu_s <= (real_children_s + real_own_s) * 1.02 + 0.2, "no double counting"
    assert rank_cpu_s <= real_children_s * 1.02 + 0.1
    assert step_cpu_s >= 0.9 * (real_children_s - rank_cpu_s), "the torchrun agent is the step's"
    assert all(r[4] > 0.1 for r in ranks.values())

    # each rank recorded its own progress in its own window (FootprintCallback, no collective); with
    # two ranks accelerate keeps every batch full (the epoch's last one is topped up from its start),
    # so 12 steps = 12 x 16 texts a rank
    progress = query(
        home,
        "SELECT rank, step, samples, window_id FROM training_progress WHERE materialization_id = ? "
        "ORDER BY rank, recorded_at",
        [mid],
    )
    for rank in (0, 1):
        mine = [p for p in progress if p[0] == rank]
        assert [p[1] for p in mine] == [0, 4, 8, 12, 12], mine
        assert mine[-1][2] == 12 * 16 and {p[3] for p in mine} == {
            w for w, r in ranks.items() if r[2] == rank
        }
