"""Fixtures for the training suite (helpers in tests/training/helpers.py).

The hub is never touched: HF_HUB_OFFLINE=1 for every test here (and for the processes it starts).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.training.helpers import annotations_handle, handle, write_annotations, write_corpus
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def corpus(home: FootprintHome) -> Iterator[ArtifactHandle]:
    d = home.artifacts_dir / "clean_corpus" / "m-corpus"
    d.mkdir(parents=True)
    yield handle("clean_corpus", write_corpus(d / "clean.parquet"), "m-corpus")


@pytest.fixture
def annotations(home: FootprintHome, corpus: ArtifactHandle) -> Iterator[ArtifactHandle]:
    d = home.artifacts_dir / "annotations" / "m-ann"
    d.mkdir(parents=True)
    yield annotations_handle(write_annotations(corpus.local_path, d / "labels.parquet"), "m-ann")
