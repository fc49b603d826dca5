"""pretrained_model -> finetuned_model with a remote store (file:///<tmp>/store) and a different empty
FOOTPRINT_HOME per step: each step downloads its inputs before torchrun starts (the ranks read local
files), publishes the model directory rank 0 wrote once torchrun has returned, and leaves no resume
checkpoints in the store after a success."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import pytest

from assets.training.finetuned import finetuned_model
from assets.training.pretrained import pretrained_model
from pipelines.resources import FootprintHomeResource
from tests.training.helpers import (
    NO_BASELINE,
    annotations_handle,
    fake_upstream,
    handle,
    query,
    write_annotations,
    write_corpus,
)
from warehouse.artifacts import ArtifactHandle, publish
from warehouse.home import FootprintHome
from warehouse.store import Store

pytestmark = [pytest.mark.slow]

PRETRAIN = {"max_steps": 10, "log_every_steps": 5, "save_steps": 5, "vocab_size": 200, "hidden_size": 16,
            "num_layers": 1, "num_heads": 2, "intermediate_size": 32}  # fmt: skip
FINETUNE = {"max_steps": 10, "log_every_steps": 5, "eval_steps": 0, "save_steps": 5}


def _run(
    root: Path, url: str, assets: list[dg.AssetsDefinition], ops: dict[str, object]
) -> dg.ExecuteInProcessResult:
    home = FootprintHome.resolve(root).ensure()
    return dg.materialize(
        assets,
        resources={"footprint": FootprintHomeResource(root=str(home.root), store_url=url, heartbeat_s=2.0)},
        run_config={"ops": {k: {"config": v} for k, v in ops.items()}},
    )


def _downloads(root: Path, mid: str) -> int:
    [(n,)] = query(
        FootprintHome.resolve(root),
        "SELECT coalesce(sum(bytes), 0) FROM transfer WHERE materialization_id = ? "
        "AND endpoint_kind = 'object-store' AND direction = 'download'",
        [mid],
    )
    return int(n)  # type: ignore[call-overload]


def test_training_steps_on_separate_homes_share_models_through_the_store(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    store = Store.from_url(url)
    producer = FootprintHome.resolve(tmp_path / "producer").ensure()  # made the corpus and labels
    d = producer.artifacts_dir / "clean_corpus"
    d.mkdir(parents=True)
    corpus_file = write_corpus(d / "m-corpus.parquet")
    (producer.artifacts_dir / "annotations").mkdir()
    ann_file = write_annotations(corpus_file, producer.artifacts_dir / "annotations" / "m-ann.parquet")

    def published(h: ArtifactHandle) -> ArtifactHandle:
        return dataclasses.replace(h, path=publish(store, producer.root, Path(h.path)).url)

    corpus = published(handle("clean_corpus", corpus_file, "m-corpus"))
    annotations = published(annotations_handle(ann_file, "m-ann"))

    assets = [*fake_upstream(clean_corpus=corpus), pretrained_model]
    res = _run(tmp_path / "a", url, assets, {"pretrained_model": PRETRAIN})
    pre: ArtifactHandle = res.output_for_node("pretrained_model")
    key = f"artifacts/pretrained_model/{pre.materialization_id}"
    assert pre.path == f"{url}/{key}"
    held = {k.removeprefix(key + "/") for k, _ in store.list_files(key)}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= held
    assert list(store.list_files("artifacts/checkpoints")) == [], "resume checkpoints removed after success"
    assert _downloads(tmp_path / "a", pre.materialization_id) == corpus.bytes

    upstream = fake_upstream(
        pretrained_model=pre, annotations=annotations, clean_corpus=corpus, baseline_model=NO_BASELINE
    )
    res = _run(tmp_path / "b", url, [*upstream, finetuned_model], {"finetuned_model": FINETUNE})
    fin: ArtifactHandle = res.output_for_node("finetuned_model")
    assert fin.path == f"{url}/artifacts/finetuned_model/{fin.materialization_id}"
    assert fin.extra["init_checkpoint"] == pre.path, "the pretrained model's URL, not a local copy"
    assert store.exists(f"artifacts/finetuned_model/{fin.materialization_id}/model.safetensors")
    pre_bytes = sum(s for _, s in store.list_files(key))
    assert _downloads(tmp_path / "b", fin.materialization_id) == corpus.bytes + annotations.bytes + pre_bytes
