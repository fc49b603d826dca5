"""A training job that fails inside its ranks still leaves its metered use in the warehouse, marked
failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.training.finetuned import finetuned_model
from tests.training.helpers import (
    NO_BASELINE,
    fake_upstream,
    query,
    run_assets,
    step_error,
    tiny_checkpoint,
)
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.slow]


def test_failed_training_leaves_its_use_marked_failed(
    home: FootprintHome, corpus: ArtifactHandle, annotations: ArtifactHandle
) -> None:
    ckpt = tiny_checkpoint(home.artifacts_dir / "pretrained_model" / "m-bad", corpus.local_path, seed=3)
    (ckpt / "model.safetensors").write_bytes(b"not a safetensors file")  # passes the pre-checks
    bad = ArtifactHandle("pretrained_model", "m-bad", str(ckpt), 1)
    upstream = fake_upstream(
        clean_corpus=corpus, annotations=annotations, pretrained_model=bad, baseline_model=NO_BASELINE
    )
    res = run_assets(home, [*upstream, finetuned_model], {"finetuned_model": {"max_steps": 5}})
    assert not res.success
    err = step_error(res, "finetuned_model")
    assert "TrainingConfigError" not in err and "External execution process failed" in err, err
    [(mid, status, error)] = query(
        home,
        "SELECT materialization_id, status, error FROM materialization_status "
        "WHERE asset_key = 'finetuned_model'",
    )
    assert status == "failed" and error
    rows = query(
        home,
        "SELECT w.role, w.rank, u.device_kind, sum(u.use), "
        "list(DISTINCT u.ended) FILTER (WHERE u.ended IS NOT NULL) FROM meter_window w "
        "JOIN window_usage u USING (window_id) WHERE w.materialization_id = ? GROUP BY ALL",
        [mid],
    )
    rank0 = {kind: (use, ended) for role, rank, kind, use, ended in rows if role == "rank" and rank == 0}
    assert rank0["cpu"][0] > 0 and rank0["ram"][0] > 0, "the failed rank's window was metered"
    assert rank0["cpu"][1] == ["closed"], "the rank closed its window while failing"
    assert any(role == "step" and kind == "cpu" and use > 0 for role, _, kind, use, _ in rows), (
        "so was the step"
    )
    assert not (Path(home.artifacts_dir) / "finetuned_model" / mid / "config.json").exists()
    # it failed before its first checkpoint: nothing kept for a resume, no disk left behind
    assert not any((home.artifacts_dir / "checkpoints" / "finetuned_model").iterdir())
    assert query(home, "SELECT count(*) FROM storage WHERE materialization_id = ?", [mid]) == [(0,)]
