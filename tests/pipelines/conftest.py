"""The whole graph, run ONCE per pytest session on a tiny configuration (fixture `whole_graph`).

`defs()`'s assets and main job, in-process, against the real Label Studio of the session fixture,
with a temporary FOOTPRINT_HOME and a temporary Dagster instance under it. The demo annotators are a
SIMULATION (labeling/replay.py) switched on through `AnnotationPolicy.simulate_annotators`; they
label ~40 tasks so fine-tuning gets at least `FinetuneConfig.min_labelled` (20) examples.

Session-scoped so tests/pipelines/test_readme_sql.py queries the warehouse this run produced. The
environment (FOOTPRINT_HOME, DAGSTER_HOME, HF offline) is set only while the job runs, so other
suites of the same session see theirs unchanged.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from warehouse.home import ENV_HOME, FootprintHome

if TYPE_CHECKING:
    import duckdb

    from tests.labelstudio_fixtures import LiveLabelStudio

ASSETS = (
    "raw_corpus",
    "clean_corpus",
    "label_tasks",
    "annotations",
    "pretrained_model",
    "finetuned_model",
    "footprint_report",
)
SIMULATED_TASKS = 40  # FinetuneConfig.min_labelled is 20; some tasks are skipped or tied
# Smallest configuration the assets accept: a few hundred rows, a handful of optimiser steps.
TINY_RUN_CONFIG: dict[str, Any] = {
    "ops": {
        "raw_corpus": {"config": {"source": "demo", "rows": 400, "seed": 42}},
        "pretrained_model": {
            "config": {
                "max_steps": 5,
                "log_every_steps": 5,
                "batch_size": 8,
                "vocab_size": 200,
                "hidden_size": 16,
                "num_heads": 2,
                "intermediate_size": 32,
                "num_layers": 1,
                "plan_startup_s": 5.0,
            }
        },
        "finetuned_model": {
            "config": {"max_steps": 5, "log_every_steps": 5, "batch_size": 8, "plan_startup_s": 5.0}
        },
    }
}


@dataclass
class WholeGraph:
    """What the tiny run left behind: the home (warehouse, reports), the run and its outcome."""

    home: FootprintHome
    run_id: str
    success: bool
    failures: dict[str, str]
    materialized: list[str]
    pending_after_sync: int
    project_title: str
    skipped: list[str] = field(default_factory=list)
    step_s: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset -> its last metadata values

    def connect(self) -> duckdb.DuckDBPyConnection:
        """The warehouse, read-only (as an analyst opens it)."""
        from warehouse.connection import connect

        return connect(self.home, read_only=True)

    def rows(self, sql: str, params: list[object] | None = None) -> list[dict[str, Any]]:
        return warehouse_rows(self.home, sql, params)


def warehouse_rows(home: FootprintHome, sql: str, params: list[object] | None = None) -> list[dict[str, Any]]:
    """Rows of `sql` in `home`'s warehouse, opened read-only (as an analyst opens it), as dicts."""
    from warehouse.connection import connect

    con = connect(home, read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _failures(result: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            err = event.step_failure_data.error
            text = []
            while err is not None:
                text.append(err.message.strip())
                err = err.cause
            out[str(event.step_key)] = "\n".join(text)
    return out


def _delete_project(labelstudio: LiveLabelStudio, title: str) -> None:
    from labeling.client import LabelStudioClient

    with LabelStudioClient(labelstudio.url, labelstudio.token) as client:
        found = client.find_project(title)
        if found is not None:
            client.request("DELETE", f"/api/projects/{found['id']}/")


@contextlib.contextmanager
def run_whole_graph(
    tmp_path_factory: pytest.TempPathFactory,
    labelstudio_server: LiveLabelStudio,
    *,
    name: str,
    run_config: dict[str, Any],
    simulate_tasks: int = SIMULATED_TASKS,
) -> Iterator[WholeGraph]:
    """The product's own asset list (assets + checks) and main job, run in-process with `run_config`
    against the real Label Studio server under a fresh home; the project is deleted afterwards."""
    import dagster as dg

    from labeling.resource import AnnotationPolicy, LabelStudioResource
    from pipelines.definitions import defs
    from pipelines.jobs import MAIN_JOB, main_job
    from pipelines.resources import FootprintHomeResource
    from warehouse.loader import pending_count, sync

    home = FootprintHome.resolve(tmp_path_factory.mktemp(name) / "fp-home").ensure()
    home.dagster_home.mkdir(mode=0o700, exist_ok=True)
    title = f"test-{name}-{uuid.uuid4().hex[:8]}"
    resources = {
        "footprint": FootprintHomeResource(root=str(home.root), heartbeat_s=2.0),
        "labelstudio": LabelStudioResource(
            url=labelstudio_server.url, api_key=labelstudio_server.token, home_root=str(home.root)
        ),
        # no choices: label_tasks derives the label set from the corpus
        "annotation_policy": AnnotationPolicy(
            project_title=title, simulate_annotators=True, simulate_tasks=simulate_tasks
        ),
    }
    product = defs()
    job = (
        dg.Definitions(assets=list(product.assets or []), jobs=[main_job()], resources=resources)
        .resolve_job_def(MAIN_JOB)
    )  # fmt: skip
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(ENV_HOME, str(home.root))
            mp.setenv("DAGSTER_HOME", str(home.dagster_home))
            mp.setenv("HF_HOME", str(home.cache_dir / "huggingface"))
            for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
                mp.setenv(var, "1")
            mp.delenv("FOOTPRINT_RATE_CARD", raising=False)
            with dg.DagsterInstance.local_temp(tempdir=str(home.dagster_home)) as instance:
                result = job.execute_in_process(
                    run_config=run_config, instance=instance, raise_on_error=False
                )
                step_s = {
                    s.step_key: (s.end_time or 0) - (s.start_time or 0)
                    for s in instance.get_run_step_stats(result.run_id)
                    if s.start_time and s.end_time
                }
            sync(home, wait_s=30.0)
            metadata = {
                e.asset_key.to_user_string(): {
                    k: getattr(v, "value", v)
                    for k, v in e.step_materialization_data.materialization.metadata.items()
                }
                for e in result.all_events
                if e.is_step_materialization and e.asset_key is not None
            }
            graph = WholeGraph(
                home=home,
                run_id=result.run_id,
                success=result.success,
                failures=_failures(result),
                materialized=sorted(metadata),
                pending_after_sync=pending_count(home),
                project_title=title,
                skipped=sorted(str(e.step_key) for e in result.all_events if e.is_step_skipped),
                step_s=step_s,
                metadata=metadata,
            )
        yield graph
    finally:
        _delete_project(labelstudio_server, title)


@pytest.fixture(scope="session")
def whole_graph(
    tmp_path_factory: pytest.TempPathFactory, labelstudio_server: LiveLabelStudio
) -> Iterator[WholeGraph]:
    with run_whole_graph(
        tmp_path_factory, labelstudio_server, name="whole-graph", run_config=TINY_RUN_CONFIG
    ) as graph:
        yield graph


def readme_path() -> Path:
    return Path(__file__).resolve().parents[2] / "README.md"
