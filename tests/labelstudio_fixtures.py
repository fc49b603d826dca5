"""Label Studio fixtures shared by every suite (registered in tests/conftest.py as a plugin, so one
session starts ONE server). `labelstudio_server` is session-scoped.
The server is shared by the labeling, reliability and UI suites.

The real server runs from `$FOOTPRINT_LABELSTUDIO_VENV` or `$FOOTPRINT_TEST_CACHE/labelstudio/venv`
(default cache ~/.cache/footprint-tests; installed once by scripts/labelstudio-install.sh or here),
on a free loopback port, with a data dir kept in the cache so later sessions restart warm (~5 s
instead of ~40 s of migrations). A concurrent session that finds the data dir locked uses a fresh
temporary one. The server is stopped at session end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from labeling.client import LabelStudioClient


@dataclass(frozen=True)
class LiveLabelStudio:
    url: str
    token: str
    paths: object  # labeling.server.ServerPaths


def _test_cache() -> Path:
    return Path(os.environ.get("FOOTPRINT_TEST_CACHE") or "~/.cache/footprint-tests").expanduser()


@pytest.fixture(scope="session")
def labelstudio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLabelStudio]:
    from labeling.install import ensure_venv
    from labeling.server import ServerPaths, down, free_port, read_token, up
    from warehouse.home import FootprintHome

    cache = _test_cache()
    venv = Path(os.environ.get("FOOTPRINT_LABELSTUDIO_VENV") or cache / "labelstudio" / "venv")
    ensure_venv(venv)
    root = cache / "labelstudio" / "server"
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        lock = stack.enter_context((cache / "labelstudio" / "server.lock").open("a"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another session owns the warm data dir
            root = tmp_path_factory.mktemp("labelstudio")
        paths = ServerPaths.under(root, venv)
        down(paths)  # a server left by a killed session
        # the server's service window goes to a ledger of its own (not the suites' homes, not ./var)
        ledger_home = FootprintHome.resolve(tmp_path_factory.mktemp("labelstudio-ledger"))
        info = up(paths, port=free_port(), wait_s=300.0, ledger_home=ledger_home)
        stack.callback(down, paths)
        token = read_token(paths)
        assert token is not None
        yield LiveLabelStudio(info.url, token, paths)


@pytest.fixture
def project_title(labelstudio_server: LiveLabelStudio) -> Iterator[str]:
    """A unique project title; the project is deleted after the test (the data dir stays small)."""
    from labeling.client import LabelStudioClient

    title = f"test-{uuid.uuid4().hex[:10]}"
    yield title
    with LabelStudioClient(labelstudio_server.url, labelstudio_server.token) as client:
        found = client.find_project(title)
        if found is not None:
            client.request("DELETE", f"/api/projects/{found['id']}/")


@dataclass
class AnnotationPipeline:
    """`clean_corpus` (a fixed Parquet) -> label_tasks -> annotations, materialized in-process with a
    filesystem IO manager, so `run(["annotations"])` re-syncs without re-importing."""

    home: object  # warehouse.home.FootprintHome
    corpus_path: Path
    io_dir: Path
    resources: dict[str, object]
    corpus_extra: dict[str, object] = field(default_factory=dict)  # the clean_corpus handle's extra

    def run(self, selection: list[str] | None = None, *, raise_on_error: bool = True) -> object:
        import dagster as dg

        from assets.annotation.annotations import annotation_budget, annotations
        from assets.annotation.label_tasks import label_tasks
        from warehouse.artifacts import ArtifactHandle
        from warehouse.facts import new_id

        corpus_path, extra = self.corpus_path, dict(self.corpus_extra)

        @dg.asset(name="clean_corpus")
        def clean_corpus():  # type: ignore[no-untyped-def]  # (no string annotation: dagster resolves hints)
            return ArtifactHandle(
                "clean_corpus", new_id(), str(corpus_path), corpus_path.stat().st_size, None, extra
            )

        from warehouse.loader import sync

        result = dg.materialize(
            [clean_corpus, label_tasks, annotations, annotation_budget],
            resources={**self.resources, "io_manager": dg.FilesystemIOManager(base_dir=str(self.io_dir))},
            selection=selection or ["clean_corpus", "label_tasks", "annotations"],
            raise_on_error=raise_on_error,
        )
        sync(self.home)  # what the loader (sensor, `footprint sync`) does after the run: steps never merge
        return result


def write_corpus(path: Path, n_train: int, n_eval: int = 3) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for i in range(n_train + n_eval):
        text = f"sample text number {i} that is {'good' if i % 2 else 'bad'}"
        rows.append(
            {
                "row_id": f"row-{i:05d}",
                "text": text,
                "split": "train" if i < n_train else "eval",
                "gold_label": "positive" if i % 2 else "negative",
                "source_label": None,
                "text_chars": len(text),
            }
        )
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def pipeline(
    home: object, tmp_path: Path, labelstudio_server: LiveLabelStudio, project_title: str
) -> AnnotationPipeline:
    from labeling.resource import AnnotationPolicy, LabelStudioResource
    from pipelines.resources import FootprintHomeResource

    root = str(home.root)  # type: ignore[attr-defined]
    return AnnotationPipeline(
        home=home,
        corpus_path=write_corpus(tmp_path / "clean.parquet", n_train=12),
        io_dir=tmp_path / "io",
        resources={
            "footprint": FootprintHomeResource(root=root, heartbeat_s=60.0),
            "labelstudio": LabelStudioResource(
                url=labelstudio_server.url, api_key=labelstudio_server.token, home_root=root, backoff_s=0.05
            ),
            "annotation_policy": AnnotationPolicy(
                project_title=project_title, import_batch_size=5, budget_usd=1.0
            ),
        },
    )


def latest_metadata(result: Any, asset: str) -> dict[str, Any]:
    """The metadata values of `asset`'s last materialization in an in-process result."""
    mats = result.asset_materializations_for_node(asset)
    return {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}


def pipeline_client(pipeline: Any) -> LabelStudioClient:
    """A client of the `pipeline` fixture's Label Studio server."""
    from labeling.client import LabelStudioClient

    ls = pipeline.resources["labelstudio"]
    return LabelStudioClient(ls.url, ls.api_key)
