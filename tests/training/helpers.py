"""Helpers for the training suite: synthetic Parquet inputs, handles, fake upstream assets, warehouse
queries and tiny checkpoints."""

from __future__ import annotations

import random
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

POSITIVE = ["good", "great", "lovely", "superb", "warm", "funny", "bright", "moving", "clever", "fine"]
NEGATIVE = ["bad", "dull", "awful", "boring", "cold", "flat", "weak", "messy", "tired", "poor"]
NEUTRAL = ["average", "okay", "plain", "middling", "so-so", "fair", "usual", "mild", "even", "modest"]
WORDS = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}
FILLER = ["the", "film", "was", "a", "story", "and", "plot", "acting", "really", "quite", "cast", "ending"]


def sentence(rng: random.Random, label: str) -> str:
    words = rng.sample(FILLER, 5) + rng.sample(WORDS[label], 2)
    rng.shuffle(words)
    return " ".join(words)


def write_corpus(
    path: Path,
    *,
    n_train: int = 200,
    n_eval: int = 40,
    seed: int = 0,
    labels: tuple[str, ...] = ("negative", "positive"),
) -> Path:
    """A clean_corpus Parquet: rows of `labels` in turn, each with two words of its class."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_train + n_eval):
        label = labels[i % len(labels)]
        rows.append(
            {
                "row_id": i,
                "text": sentence(rng, label),
                "split": "train" if i < n_train else "eval",
                "gold_label": label,
            }
        )
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_annotations(corpus: Path, path: Path, *, n: int = 60, labels: list[str] | None = None) -> Path:
    """The first `n` train rows of `corpus`, labelled with their gold label (or `labels` cycled)."""
    table = pq.read_table(corpus).to_pylist()
    rows = []
    for i, r in enumerate([r for r in table if r["split"] == "train"][:n]):
        label = labels[i % len(labels)] if labels else r["gold_label"]
        rows.append({"row_id": r["row_id"], "text": r["text"], "label": label})
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


CHOICES = ["negative", "positive"]  # the label set label_tasks would have created


def handle(asset_key: str, path: Path, materialization_id: str, **extra: object) -> ArtifactHandle:
    return ArtifactHandle(asset_key, materialization_id, str(path), path.stat().st_size, extra=dict(extra))


def annotations_handle(
    path: Path, materialization_id: str, choices: list[str] | None = None
) -> ArtifactHandle:
    """An annotations handle as the annotations asset makes it: it carries label_tasks' label set."""
    return handle("annotations", path, materialization_id, choices=list(choices or CHOICES))


def query(home: FootprintHome, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """Merge pending facts, then read the warehouse."""
    from warehouse.connection import connect
    from warehouse.loader import sync

    sync(home, wait_s=10.0)
    con = connect(home, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# finetuned_model is compared with a baseline_model materialization; one never recorded is enough here
# (its comparison metadata then says it is not priced; the comparison is tested in tests/assets).
NO_BASELINE = ArtifactHandle("baseline_model", "m-no-baseline", "", 0)


def fake_upstream(**handles: ArtifactHandle) -> list[dg.AssetsDefinition]:
    """Assets named like the real upstreams that just return the given handles."""

    def make(name: str, h: ArtifactHandle) -> dg.AssetsDefinition:
        @dg.asset(name=name)
        def _upstream() -> ArtifactHandle:
            return h

        return _upstream

    return [make(name, h) for name, h in handles.items()]


def run_assets(
    home: FootprintHome, assets: list[dg.AssetsDefinition], ops_config: dict[str, dict[str, object]]
) -> dg.ExecuteInProcessResult:
    from pipelines.resources import FootprintHomeResource

    return dg.materialize(
        assets,
        resources={"footprint": FootprintHomeResource(root=str(home.root), heartbeat_s=2.0)},
        run_config={"ops": {k: {"config": v} for k, v in ops_config.items()}},
        raise_on_error=False,
    )


def step_error(result: dg.ExecuteInProcessResult, step: str) -> str:
    failures = [e for e in result.get_step_failure_events() if e.step_key == step]
    assert failures, f"step {step} did not fail"
    info = failures[0].step_failure_data.error
    text = []
    while info is not None:
        text.append(info.message)
        info = info.cause
    return "\n".join(text)


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    assert events, f"{asset} was not materialized"
    md = events[-1].materialization.metadata
    return {k: getattr(v, "value", v) for k, v in md.items()}


def tiny_checkpoint(out_dir: Path, corpus: Path, *, seed: int, max_positions: int = 64) -> Path:
    """A real (untrained) tiny MLM checkpoint + tokenizer, made in-process with save_pretrained."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from training.data import pretrain_texts
    from training.tokenizer import train_wordpiece

    tok = train_wordpiece(pretrain_texts(str(corpus)), 200)
    torch.manual_seed(seed)
    model = BertForMaskedLM(
        BertConfig(
            vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=max_positions, pad_token_id=tok.pad_token_id,
        )
    )  # fmt: skip
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
