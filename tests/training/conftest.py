"""Fixtures for the training suite: small synthetic Parquet inputs and the handles that point at them.

The hub is never touched: HF_HUB_OFFLINE=1 for every test here (and for the processes it starts).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome

POSITIVE = ["good", "great", "lovely", "superb", "warm", "funny", "bright", "moving", "clever", "fine"]
NEGATIVE = ["bad", "dull", "awful", "boring", "cold", "flat", "weak", "messy", "tired", "poor"]
FILLER = ["the", "film", "was", "a", "story", "and", "plot", "acting", "really", "quite", "cast", "ending"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def sentence(rng: random.Random, label: str) -> str:
    words = rng.sample(FILLER, 5) + rng.sample(POSITIVE if label == "positive" else NEGATIVE, 2)
    rng.shuffle(words)
    return " ".join(words)


def write_corpus(path: Path, *, n_train: int = 200, n_eval: int = 40, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = []
    for i in range(n_train + n_eval):
        label = "positive" if i % 2 else "negative"
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


def handle(asset_key: str, path: Path, materialization_id: str) -> ArtifactHandle:
    return ArtifactHandle(asset_key, materialization_id, str(path), path.stat().st_size)


@pytest.fixture
def corpus(home: FootprintHome) -> Iterator[ArtifactHandle]:
    d = home.artifacts_dir / "clean_corpus" / "m-corpus"
    d.mkdir(parents=True)
    yield handle("clean_corpus", write_corpus(d / "clean.parquet"), "m-corpus")


@pytest.fixture
def annotations(home: FootprintHome, corpus: ArtifactHandle) -> Iterator[ArtifactHandle]:
    d = home.artifacts_dir / "annotations" / "m-ann"
    d.mkdir(parents=True)
    yield handle("annotations", write_annotations(corpus.local_path, d / "labels.parquet"), "m-ann")
