"""pretrained_model -> finetuned_model through Dagster (in process), each trained by a torchrun job
launched through Pipes: checkpoints, metadata, and the facts beside them in the warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assets.training.finetuned import finetuned_model
from assets.training.pretrained import pretrained_model
from tests.training.helpers import (
    NO_BASELINE,
    annotations_handle,
    fake_upstream,
    handle,
    metadata,
    query,
    run_assets,
    tiny_checkpoint,
    write_annotations,
    write_corpus,
)
from training.save import weights_sha256
from warehouse.artifacts import ArtifactHandle, tree_bytes
from warehouse.home import ENV_HOME, FootprintHome

pytestmark = [pytest.mark.slow]

PRETRAIN = {"max_steps": 30, "log_every_steps": 10, "vocab_size": 300}
FINETUNE = {"max_steps": 40, "log_every_steps": 10, "eval_steps": 20, "save_steps": 10, "learning_rate": 2e-3}


@dataclass
class Pretrained:
    home: FootprintHome
    corpus: ArtifactHandle
    handle: ArtifactHandle
    meta: dict[str, object]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pretrained]:
    root = tmp_path_factory.mktemp("training") / "fp-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_HOME, str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        home = FootprintHome.resolve(root).ensure()
        d = home.artifacts_dir / "clean_corpus" / "m-corpus"
        d.mkdir(parents=True)
        corpus = handle("clean_corpus", write_corpus(d / "clean.parquet"), "m-corpus")
        res = run_assets(
            home, [*fake_upstream(clean_corpus=corpus), pretrained_model], {"pretrained_model": PRETRAIN}
        )
        assert res.success
        yield Pretrained(
            home, corpus, res.output_for_node("pretrained_model"), metadata(res, "pretrained_model")
        )


def test_pretrained_checkpoint_and_metadata(pretrained: Pretrained) -> None:
    h, meta = pretrained.handle, pretrained.meta
    ckpt = Path(h.path)
    assert ckpt == pretrained.home.artifacts_dir / "pretrained_model" / h.materialization_id
    for name in ("config.json", "model.safetensors", "tokenizer.json", "loss_curve.png"):
        assert (ckpt / name).is_file(), name
    assert (ckpt / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["training/steps"] == 30
    for key in ("training/wall_s", "training/samples_per_s", "training/tokens_per_s", "measured/hours"):
        assert float(meta[key]) > 0, key  # type: ignore[arg-type]
    assert "data:image/png;base64," in str(meta["training/loss_curve"])
    assert float(meta["plan/energy_kwh"]) > 0  # type: ignore[arg-type]
    assert float(meta["plan/cost_usd"]) > 0, "the plan is priced by the rate card, like the footprint"  # type: ignore[arg-type]
    # the priced footprint comes from the warehouse (its figures are the pricing suite's business)
    assert {"footprint/energy_kwh", "footprint/cost_usd", "footprint/window_id"} <= set(meta)


def test_pretrained_facts(pretrained: Pretrained) -> None:
    home, mid = pretrained.home, pretrained.handle.materialization_id
    assert query(home, "SELECT status FROM materialization_status WHERE materialization_id = ?", [mid]) == [
        ("success",)
    ]
    [(held,)] = query(
        home, "SELECT bytes_held FROM storage WHERE materialization_id = ? AND kind = 'checkpoint'", [mid]
    )
    assert held == tree_bytes(Path(pretrained.handle.path))
    [(written,)] = query(
        home, "SELECT sum(bytes) FROM transfer WHERE materialization_id = ? AND direction = 'write'", [mid]
    )
    assert written > 0
    windows = query(
        home,
        "SELECT w.window_id, w.role, w.rank, w.parent_window_id, "
        "sum(u.use) FILTER (WHERE u.device_kind = 'cpu'), "
        "list(DISTINCT u.ended) FILTER (WHERE u.ended IS NOT NULL) FROM meter_window w "
        "JOIN window_usage u USING (window_id) WHERE w.materialization_id = ? GROUP BY ALL ORDER BY w.role",
        [mid],
    )
    # the step's window (the orchestrating process, the torchrun agent, each rank's start) and rank
    # 0's window nested in it (the rank from its first statement on); both closed, both used CPU
    [rank, step] = windows
    assert (rank[1], rank[2], step[1], step[2], step[3]) == ("rank", 0, "step", None, None)
    assert rank[3] == step[0] == pretrained.meta["footprint/window_id"]
    assert rank[4] > 0 and step[4] > 0 and rank[5] == step[5] == ["closed"]
    # nested, not double-billed: the run's billed host-seconds fit in its wall time on one host, and
    # the footprint is priced from them (energy and hardware known)
    [(billed_s, wall_s, energy_kwh, hardware_usd, unknown)] = query(
        home,
        "SELECT (SELECT sum(seconds) FROM device_usage WHERE materialization_id = f.materialization_id "
        "AND device_kind = 'cpu'), f.duration_s, f.energy_kwh, f.cost_hardware_usd, f.unknown_parts "
        "FROM asset_footprint f WHERE materialization_id = ?",
        [mid],
    )
    assert 0 < billed_s <= wall_s and energy_kwh > 0 and hardware_usd > 0 and unknown == 0
    assert query(
        home, "SELECT upstream_materialization_id FROM lineage_edge WHERE materialization_id = ?", [mid]
    ) == [("m-corpus",)]
    # the rank's progress: 200 train texts in batches of 32 = 7 steps an epoch (the 7th has 8 texts),
    # so 30 steps = 4 epochs (800) + 2 batches (64)
    progress = query(
        home,
        "SELECT step, samples, rank FROM training_progress WHERE materialization_id = ? ORDER BY recorded_at",
        [mid],
    )
    assert [(p[0], p[2]) for p in progress] == [(0, 0), (10, 0), (20, 0), (30, 0), (30, 0)]
    assert progress[0][1] == 0 and progress[-1][1] == 4 * 200 + 2 * 32
    assert not any((home.artifacts_dir / "checkpoints" / "pretrained_model").iterdir()), (
        "removed after success"
    )


def test_finetune_uses_the_checkpoint_it_was_given(pretrained: Pretrained, tmp_path: Path) -> None:
    home, corpus = pretrained.home, pretrained.corpus
    given = Path(pretrained.handle.path)
    # a NEWER checkpoint beside it: "the newest file" would pick this one
    decoy = tiny_checkpoint(given.parent / "zz-newer", corpus.local_path, seed=7)
    os.utime(decoy, (given.stat().st_mtime + 60,) * 2)
    assert weights_sha256(decoy) != weights_sha256(given)
    ann = annotations_handle(write_annotations(corpus.local_path, tmp_path / "labels.parquet", n=80), "m-ann")
    upstream = fake_upstream(
        clean_corpus=corpus, annotations=ann, pretrained_model=pretrained.handle, baseline_model=NO_BASELINE
    )
    res = run_assets(home, [*upstream, finetuned_model], {"finetuned_model": FINETUNE})
    assert res.success
    out: ArtifactHandle = res.output_for_node("finetuned_model")
    meta = metadata(res, "finetuned_model")
    assert meta["training/init_checkpoint"] == str(given)
    assert out.extra["init_weights_sha256"] == weights_sha256(given)
    assert (Path(out.path) / "config.json").is_file()
    for key in ("quality/accuracy", "quality/f1_macro", "quality/f1/negative", "quality/recall/positive"):
        assert 0.0 <= float(meta[key]) <= 1.0, key  # type: ignore[arg-type]
    mid = out.materialization_id
    metrics = dict(
        query(
            home,
            "SELECT name || coalesce('/' || label, ''), value FROM quality_metric "
            "WHERE materialization_id = ? AND step IS NULL",
            [mid],
        )
    )
    assert metrics["f1_macro"] == pytest.approx(float(meta["quality/f1_macro"]), abs=1e-4)  # type: ignore[arg-type]
    assert {"accuracy", "precision_macro", "recall_macro", "f1/negative", "precision/positive"} <= set(
        metrics
    )
    # cost per F1 point: one query over the footprint view and the quality facts
    [(usd_per_f1_point,)] = query(
        home,
        "SELECT f.cost_usd / nullif(q.value * 100, 0) FROM asset_footprint f JOIN quality_metric q "
        "USING (materialization_id) WHERE q.name = 'f1_macro' AND q.step IS NULL AND materialization_id = ?",
        [mid],
    )
    assert usd_per_f1_point is None or usd_per_f1_point >= 0
    # evaluation during training (every 20 steps): the same names, at their step
    during = query(
        home,
        "SELECT step, name, label, split FROM quality_metric "
        "WHERE materialization_id = ? AND step IS NOT NULL",
        [mid],
    )
    assert {(s, n) for s, n, lbl, _ in during if lbl is None and n == "f1_macro"} == {
        (20, "f1_macro"),
        (40, "f1_macro"),
    }
    assert {(n, lbl) for s, n, lbl, _ in during if s == 40 and lbl} >= {
        ("f1", "negative"),
        ("f1", "positive"),
    }
    assert {split for *_, split in during} == {"eval"}
    # progress of rank 0: at train begin, at each log step, at the end; 80 examples = 5 full batches of 16
    progress = query(
        home,
        "SELECT step, samples, tokens, window_id, loss FROM training_progress WHERE materialization_id = ? "
        "ORDER BY recorded_at",
        [mid],
    )
    assert [p[0] for p in progress] == [0, 10, 20, 30, 40, 40]
    assert progress[-1][1] == 40 * 16 and 0 < progress[-1][2] <= 40 * 16 * 32
    assert progress[0][4] is None and progress[-1][4] is not None
    assert {p[3] for p in progress} == set(str(meta["training/window_ids"]).split(", "))
    assert not any((home.artifacts_dir / "checkpoints" / "finetuned_model").iterdir()), (
        "removed after success"
    )
    edges = set(
        query(
            home,
            "SELECT upstream_materialization_id, relation FROM lineage_edge WHERE materialization_id = ?",
            [mid],
        )
    )
    assert edges == {
        (pretrained.handle.materialization_id, "input"),
        ("m-ann", "input"),
        ("m-corpus", "input"),
        (NO_BASELINE.materialization_id, "compared_with"),
    }
