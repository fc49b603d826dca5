"""Two ranks under torchrun (gloo, CPU), launched by the asset through Pipes: every rank meters what
it owns, rank 0 aggregates, and no CPU second is counted by two windows (neither by two ranks nor
by a rank and the orchestrating step, whose own window excludes its children)."""

from __future__ import annotations

import psutil
import pytest

from assets.training.pretrained import pretrained_model
from tests.training.helpers import fake_upstream, metadata, query, run_assets, source_cpu_s
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]


def _cpu_s() -> tuple[float, float]:
    t = psutil.Process().cpu_times()
    return t.user + t.system, t.children_user + t.children_system


def test_two_ranks_aggregate_without_double_counting(home: FootprintHome, corpus: ArtifactHandle) -> None:
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

    rows = query(
        home,
        "SELECT window_id, rank, device_kind, energy_j, method, source FROM energy_reading "
        "WHERE materialization_id = ? AND is_final",
        [mid],
    )
    rank_rows = [r for r in rows if r[1] is not None]
    orch_rows = [r for r in rows if r[1] is None]
    assert {r[0] for r in rank_rows} <= set(window_ids)
    assert {r[0] for r in orch_rows}.isdisjoint(window_ids)
    # CPU and RAM once per node (local rank 0, the torchrun agent's tree); the absent GPU said once
    assert sorted((r[1], r[2]) for r in rank_rows) == [(0, "cpu"), (0, "gpu"), (0, "ram")]
    assert [r[4] for r in rank_rows if r[2] == "gpu"] == ["unavailable"]

    # rank 0's aggregate (reported through Pipes) is exactly what the ranks wrote
    written_j = sum(r[3] for r in rank_rows if r[3] is not None)
    assert float(meta["training/ranks_energy_j"]) == pytest.approx(written_j, rel=1e-3, abs=1e-3)  # type: ignore[arg-type]

    # no double counting: all windows together state no more CPU seconds than were really used
    # (this process + its reaped torchrun tree), and rank 0's window covers BOTH ranks' training
    rank_cpu_s = sum(source_cpu_s(r[5]) for r in rank_rows if r[2] == "cpu")
    orch_cpu_s = sum(source_cpu_s(r[5]) for r in orch_rows if r[2] == "cpu")
    real_children_s, real_own_s = children1 - children0, own1 - own0
    print(f"cpu_s: ranks {rank_cpu_s:.2f}, orchestrator {orch_cpu_s:.2f}; ", end="")
    print(f"really used: children {real_children_s:.2f}, own {real_own_s:.2f}")
    assert rank_cpu_s <= real_children_s * 1.02 + 0.2
    assert orch_cpu_s <= real_own_s * 1.02 + 0.2
    assert rank_cpu_s >= 0.55 * real_children_s, "rank 0's window must cover every local rank"
