"""The whole graph with every step in its own process and its own EMPTY local directory, sharing only
the store URL (a real S3 server, SeaweedFS) and the Postgres DSN of the Dagster instance; pretraining
on two torchrun ranks; Postgres restarted between two steps. Then one loader, on yet another empty
directory, merges the store's fact batches into its warehouse.

Checked: every step succeeded and its run is in the Postgres instance; every fact is in the warehouse
exactly once and is every fact the store holds; lineage links exactly the materializations the steps
produced; the handles passed between steps name the store, never a step's local path; and the
footprint matches a single-machine run of the same configuration (in-process, one home, no store):
the same assets, lineage shape, rows, training samples and annotations exactly, and energy and CPU
within metering noise (CPU-seconds and memory GB-seconds differ between two runs of one program).
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.pipelines.conftest import TINY_RUN_CONFIG, WholeGraph, run_whole_graph, warehouse_rows
from tests.stack_servers import client_environment
from warehouse.home import FootprintHome

if TYPE_CHECKING:
    from tests.labelstudio_fixtures import LiveLabelStudio

pytestmark = [pytest.mark.distributed, pytest.mark.labelstudio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STEPS = (
    "raw_corpus",
    "clean_corpus",
    "label_tasks",
    "annotations",
    "pretrained_model",
    "baseline_model",
    "finetuned_model",
    "footprint_report",
)
RESTART_POSTGRES_BEFORE = "annotations"
RANKS = 2
CONFIG: dict[str, Any] = copy.deepcopy(TINY_RUN_CONFIG)
CONFIG["ops"]["pretrained_model"]["config"]["nproc_per_node"] = RANKS
# Two runs of one program differ in CPU-seconds (scheduling, caches, the store's client threads) and
# in memory GB-seconds (wall time on a shared 2-core machine): estimated energy within this factor.
NOISE_FACTOR = 3.0


@dataclass
class SeparateRun:
    store_url: str
    loader: FootprintHome
    steps: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    homes: dict[str, Path] = field(default_factory=dict)
    dagster_homes: dict[str, Path] = field(default_factory=dict)
    sync: subprocess.CompletedProcess[str] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def rows(self, sql: str, params: list[object] | None = None) -> list[dict[str, Any]]:
        return warehouse_rows(self.loader, sql, params)


def _step_env(base: dict[str, str], home: Path, dagster_home: Path) -> dict[str, str]:
    env = dict(base)
    env.update(
        FOOTPRINT_HOME=str(home),
        DAGSTER_HOME=str(dagster_home),
        HF_HOME=str(home / "cache" / "huggingface"),
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="module")
def separate(
    tmp_path_factory: pytest.TempPathFactory,
    labelstudio_server: LiveLabelStudio,
    postgres_server: Any,
    s3_server: Any,
) -> Iterator[SeparateRun]:
    root = tmp_path_factory.mktemp("separate")
    bucket = s3_server.create_bucket(f"fp-{uuid.uuid4().hex[:8]}")
    store_url = f"s3://{bucket}/graph"
    title = f"test-separate-{uuid.uuid4().hex[:8]}"
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "CUDA_VISIBLE_DEVICES")
    base = {k: os.environ[k] for k in keep if k in os.environ}
    base.update(client_environment(postgres_server, s3_server, store_url))  # the store and the DSN only
    base.update(
        LABEL_STUDIO_URL=labelstudio_server.url,
        LABEL_STUDIO_API_KEY=labelstudio_server.token,
        FOOTPRINT_TEST_PROJECT=title,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    run = SeparateRun(store_url=store_url, loader=FootprintHome.resolve(root / "loader"), env=base)
    dagster = str(Path(sys.executable).with_name("dagster"))
    try:
        for step in STEPS:
            home, dagster_home = root / step / "home", root / step / "dagster"
            home.mkdir(parents=True)
            dagster_home.mkdir(parents=True)
            shutil.copy(ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
            config = root / step / "run_config.yaml"
            ops = {step: CONFIG["ops"][step]} if step in CONFIG["ops"] else {}
            config.write_text(yaml.safe_dump({"ops": ops} if ops else {}))
            if step == RESTART_POSTGRES_BEFORE:
                postgres_server.restart()
            cmd = [dagster, "asset", "materialize", "-m", "tests.distributed.graph_defs", "--select", step]
            run.steps[step] = subprocess.run(
                [*cmd, "-c", str(config)],
                cwd=ROOT,
                env=_step_env(base, home, dagster_home),
                capture_output=True,
                text=True,
                timeout=900,
            )
            run.homes[step], run.dagster_homes[step] = home, dagster_home
            if run.steps[step].returncode != 0:
                break
        footprint = str(Path(sys.executable).with_name("footprint"))
        run.sync = subprocess.run(
            [footprint, "sync"],
            cwd=ROOT,
            env={**base, "FOOTPRINT_HOME": str(run.loader.root)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        yield run
    finally:
        from tests.pipelines.conftest import _delete_project

        _delete_project(labelstudio_server, title)


@pytest.fixture(scope="module")
def single(
    tmp_path_factory: pytest.TempPathFactory, labelstudio_server: LiveLabelStudio
) -> Iterator[WholeGraph]:
    """The same configuration on one machine: in-process, one home, the local store."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FOOTPRINT_STORE", raising=False)
        with run_whole_graph(
            tmp_path_factory, labelstudio_server, name="single-ranks", run_config=CONFIG
        ) as g:
            yield g


@pytest.fixture(scope="module")
def graph(separate: SeparateRun) -> SeparateRun:
    for step, proc in separate.steps.items():
        assert proc.returncode == 0, f"step {step} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    assert list(separate.steps) == list(STEPS)
    assert separate.sync is not None and separate.sync.returncode == 0, separate.sync and separate.sync.stderr
    return separate


def test_every_step_ran_in_its_own_process_and_its_run_is_in_postgres(graph: SeparateRun) -> None:
    import dagster as dg

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_PG_URL", graph.env["DAGSTER_PG_URL"])
        instance = dg.DagsterInstance.from_config(str(graph.dagster_homes["raw_corpus"]))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            runs = instance.get_runs()
            assert len(runs) == len(STEPS)
            assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
            for step in STEPS:
                event = instance.get_latest_materialization_event(dg.AssetKey(step))
                assert event is not None, f"no materialization of {step} in the Postgres event log"
        finally:
            instance.dispose()


def test_every_fact_is_merged_exactly_once(graph: SeparateRun) -> None:
    from warehouse.facts import FACT_SCHEMAS
    from warehouse.lake import insert_lake
    from warehouse.price_model import open_in_memory
    from warehouse.store import FACTS_PENDING, Store
    from warehouse.upload import reset_for_tests

    assert "pending 0" in graph.sync.stdout if graph.sync else False
    with pytest.MonkeyPatch.context() as mp:
        for k, v in graph.env.items():
            mp.setenv(k, v)
        reset_for_tests()
        store = Store.configured(graph.loader)
        assert list(store.list_files(FACTS_PENDING)) == []
        lake = open_in_memory()
        try:
            insert_lake(lake, graph.loader, store)
            for name, schema in FACT_SCHEMAS.items():
                in_lake = lake.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
                row = graph.rows(f"SELECT count(*) AS n FROM {name}")[0]
                assert row["n"] == in_lake, f"{name}: {row['n']} in the warehouse, {in_lake} in the store"
                if "fact_id" in schema.names:
                    d = graph.rows(f"SELECT count(DISTINCT fact_id) AS d FROM {name}")[0]["d"]
                    assert d == row["n"], f"{name}: {row['n'] - d} facts merged twice"
        finally:
            lake.close()
            reset_for_tests()
    assert graph.rows("SELECT count(*) AS n FROM quarantined_batch")[0]["n"] == 0


def _materializations(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {r["asset_key"]: r["materialization_id"] for r in rows}


def test_lineage_links_exactly_the_steps_materializations(graph: SeparateRun, single: WholeGraph) -> None:
    mids = graph.rows("SELECT asset_key, materialization_id FROM materialization")
    assert sorted(r["asset_key"] for r in mids) == sorted(STEPS), "one materialization per step"
    status = {
        r["asset_key"]: r["status"] for r in graph.rows("SELECT asset_key, status FROM asset_footprint")
    }
    assert status == dict.fromkeys(STEPS, "success")
    by_id = {r["materialization_id"]: r["asset_key"] for r in mids}
    edges = graph.rows("SELECT materialization_id, upstream_materialization_id, relation FROM lineage_edge")
    assert all(e["upstream_materialization_id"] in by_id for e in edges), (
        "an edge names a foreign materialization"
    )
    shape = sorted(
        (by_id[e["materialization_id"]], by_id[e["upstream_materialization_id"]], e["relation"])
        for e in edges
    )
    one = {
        r["materialization_id"]: r["asset_key"]
        for r in single.rows(
            "SELECT asset_key, materialization_id FROM materialization WHERE run_id = ?", [single.run_id]
        )
    }
    single_edges = single.rows(
        "SELECT materialization_id, upstream_materialization_id, relation FROM lineage_edge"
    )
    single_shape = sorted(
        (one[e["materialization_id"]], one[e["upstream_materialization_id"]], e["relation"])
        for e in single_edges
        if e["materialization_id"] in one
    )
    assert shape == single_shape


def test_two_ranks_metered_their_own_windows(graph: SeparateRun) -> None:
    ranks = graph.rows(
        "SELECT DISTINCT w.rank FROM meter_window w JOIN materialization m USING (materialization_id) "
        "WHERE m.asset_key = 'pretrained_model' AND w.role = 'rank' ORDER BY 1"
    )
    assert [r["rank"] for r in ranks] == list(range(RANKS))


def test_handles_between_steps_name_the_store_not_a_local_path(graph: SeparateRun) -> None:
    from warehouse.store import Store
    from warehouse.upload import reset_for_tests

    with pytest.MonkeyPatch.context() as mp:
        for k, v in graph.env.items():
            mp.setenv(k, v)
        reset_for_tests()
        store = Store.configured(graph.loader)
        for step in STEPS:
            handle = pickle.loads(store.get_bytes(f"dagster/storage/{step}"))
            assert handle.path.startswith(graph.store_url + "/"), f"{step} handed on {handle.path}"
        reset_for_tests()


def _per_asset(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["asset_key"]: r for r in rows}


FIGURES = (
    "SELECT m.asset_key, f.energy_kwh, f.cost_hardware_usd, f.duration_s, f.bytes_moved, "
    "(SELECT sum(rows_trained) FROM (SELECT max(samples) AS rows_trained FROM training_progress t "
    "  WHERE t.materialization_id = m.materialization_id GROUP BY t.window_id)) AS samples, "
    "(SELECT count(DISTINCT task_id) FROM annotation_work a "
    "  WHERE a.materialization_id = m.materialization_id) "
    "  AS tasks_annotated, "
    "(SELECT sum(bytes_held) FROM storage s WHERE s.materialization_id = m.materialization_id) "
    "  AS bytes_stored "
    "FROM materialization m JOIN asset_footprint f USING (materialization_id) {where}"
)


def test_the_footprint_matches_the_single_machine_run(graph: SeparateRun, single: WholeGraph) -> None:
    apart = _per_asset(graph.rows(FIGURES.format(where="")))
    together = _per_asset(single.rows(FIGURES.format(where="WHERE m.run_id = ?"), [single.run_id]))
    assert set(apart) == set(together) == set(STEPS)
    out = ROOT / "test-artifacts" / "distributed"
    out.mkdir(parents=True, exist_ok=True)  # the figures side by side, for the record (not asserted)
    (out / "footprint-apart-vs-together.json").write_text(
        json.dumps({"apart": apart, "together": together}, indent=1, default=str)
    )
    for asset in STEPS:
        a, t = apart[asset], together[asset]
        if asset != "finetuned_model":  # its labels are the simulated annotators' majority (see below)
            assert a["samples"] == t["samples"], (
                f"{asset}: trained on {a['samples']} vs {t['samples']} samples"
            )
        # the simulated annotators' overlap is seeded by Label Studio's task id (another project here):
        # the same tasks are annotated, each by 1 or 2 simulated people
        assert a["tasks_annotated"] == t["tasks_annotated"], asset
        if asset in ("raw_corpus", "clean_corpus"):  # later datasets hold Label Studio task ids
            assert a["bytes_stored"] == t["bytes_stored"], (
                f"{asset}: {a['bytes_stored']} vs {t['bytes_stored']} bytes"
            )
        for figure in ("energy_kwh",):
            x, y = a[figure], t[figure]
            assert x is not None and y is not None and x > 0 and y > 0, (asset, figure, x, y)
            if asset in ("pretrained_model", "finetuned_model", "baseline_model"):
                assert 1 / NOISE_FACTOR <= x / y <= NOISE_FACTOR, (
                    f"{asset} {figure}: {x} apart vs {y} together"
                )
