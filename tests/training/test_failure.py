"""A training job that fails inside its ranks still leaves its energy in the warehouse, marked failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.training.finetuned import finetuned_model
from tests.training.helpers import fake_upstream, query, run_assets, step_error, tiny_checkpoint
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.slow]


def test_failed_training_leaves_energy_marked_failed(
    home: FootprintHome, corpus: ArtifactHandle, annotations: ArtifactHandle
) -> None:
    ckpt = tiny_checkpoint(home.artifacts_dir / "pretrained_model" / "m-bad", corpus.local_path, seed=3)
    (ckpt / "model.safetensors").write_bytes(b"not a safetensors file")  # passes the pre-checks
    bad = ArtifactHandle("pretrained_model", "m-bad", str(ckpt), 1)
    upstream = fake_upstream(clean_corpus=corpus, annotations=annotations, pretrained_model=bad)
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
        "SELECT rank, device_kind, energy_j FROM energy_reading WHERE materialization_id = ? AND is_final",
        [mid],
    )
    rank0 = {kind: j for rank, kind, j in rows if rank == 0}
    assert rank0["cpu"] > 0 and rank0["ram"] > 0, "the failed rank wrote its energy"
    assert any(rank is None and kind == "cpu" for rank, kind, _ in rows), "so did the orchestrator"
    assert not (Path(home.artifacts_dir) / "finetuned_model" / mid / "config.json").exists()
