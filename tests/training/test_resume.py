"""A pretraining killed after its first checkpoint (SIGKILL of the whole torchrun tree: the agent and
its rank) resumes from that checkpoint on the next materialization: the new attempt trains only the
steps left, is linked to the killed one by a 'resumed_from' lineage edge, and the end-to-end footprint
of the model holds both attempts' metered use."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest

from assets.training.pretrained import pretrained_model
from pipelines.resources import FootprintHomeResource
from tests.training.helpers import fake_upstream, metadata, query, run_assets
from training.checkpoints import MARKER, complete_checkpoints
from warehouse.artifacts import ArtifactHandle, publish, tree_bytes
from warehouse.home import FootprintHome
from warehouse.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

MAX_STEPS, SAVE_STEPS, BATCH = 400, 10, 8  # 200 train texts: 25 full batches an epoch
CONFIG = {
    "max_steps": MAX_STEPS, "save_steps": SAVE_STEPS, "log_every_steps": 10, "batch_size": BATCH,
    "hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32, "vocab_size": 200,
}  # fmt: skip


class TreeKiller:
    """Watches for the first complete checkpoint, then SIGKILLs every torchrun process under this one."""

    def __init__(self, home: FootprintHome) -> None:
        self.root = home.artifacts_dir / "checkpoints" / "pretrained_model"
        self.killed: list[int] = []
        self.first_step: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            done = [c for d in self.root.glob("*") for c in complete_checkpoints(d)]
            if not done:
                continue
            self.first_step = min(step for step, _ in done)
            tree = psutil.Process().children(recursive=True)
            training = [p for p in tree if _is_training(p)]
            for p in training:
                p.send_signal(signal.SIGKILL)
            self.killed = [p.pid for p in training]
            return

    def __enter__(self) -> TreeKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _is_training(p: psutil.Process) -> bool:
    try:
        line = " ".join(p.cmdline())
    except psutil.Error:
        return False
    return "training.entry" in line


@pytest.fixture
def killed_then_resumed(home: FootprintHome, corpus: ArtifactHandle) -> Iterator[tuple[object, ...]]:
    assets = [*fake_upstream(clean_corpus=corpus), pretrained_model]
    with TreeKiller(home) as killer:
        first = run_assets(home, assets, {"pretrained_model": CONFIG})
    assert killer.killed, "the first attempt finished before it could be killed"
    assert not first.success
    [run_dir] = list(killer.root.iterdir())
    killed_mid = json.loads((run_dir / MARKER).read_text())["materialization_id"]
    second = run_assets(home, assets, {"pretrained_model": CONFIG})
    assert second.success
    yield killed_mid, second, run_dir, killer


def test_a_killed_pretraining_resumes_from_its_last_checkpoint(
    home: FootprintHome, killed_then_resumed: tuple[object, ...]
) -> None:
    killed_mid, second, run_dir, killer = killed_then_resumed
    assert isinstance(killer, TreeKiller) and isinstance(run_dir, Path)
    mid = second.output_for_node("pretrained_model").materialization_id  # type: ignore[attr-defined]
    meta = metadata(second, "pretrained_model")  # type: ignore[arg-type]
    resumed = int(meta["training/resumed_from_step"])  # type: ignore[call-overload]
    assert resumed > 0 and resumed % SAVE_STEPS == 0 and resumed >= (killer.first_step or 0)
    assert str(meta["training/resumed_from_checkpoint"]).endswith(f"checkpoint-{resumed}")
    # the second attempt trains only the steps left
    assert meta["training/steps"] == MAX_STEPS - resumed and meta["training/global_step"] == MAX_STEPS
    progress = query(
        home,
        "SELECT materialization_id, step, samples FROM training_progress "
        "WHERE materialization_id IN (?, ?) ORDER BY recorded_at",
        [killed_mid, mid],
    )
    mine = [(step, samples) for m, step, samples in progress if m == mid]
    assert mine[0] == (resumed, 0), "its first row says where it resumed"
    assert mine[-1] == (MAX_STEPS, (MAX_STEPS - resumed) * BATCH), "no finished step trained again"
    before = [step for m, step, _ in progress if m == killed_mid]
    assert before and before[0] == 0 and max(before) < MAX_STEPS, "the killed attempt kept its progress"
    # linked, and both attempts' footprints are in the warehouse and in the model's end-to-end footprint
    edges = query(
        home,
        "SELECT upstream_materialization_id, relation FROM lineage_edge WHERE materialization_id = ?",
        [mid],
    )
    assert set(edges) == {("m-corpus", "input"), (killed_mid, "resumed_from")}
    status = dict(
        query(
            home,
            "SELECT materialization_id, status FROM materialization_status "
            "WHERE materialization_id IN (?, ?)",
            [killed_mid, mid],
        )
    )
    assert status == {killed_mid: "failed", mid: "success"}
    ranks = query(
        home,
        "SELECT w.materialization_id, sum(u.use), list(DISTINCT u.ended) FILTER (WHERE u.ended IS NOT NULL) "
        "FROM meter_window w JOIN window_usage u USING (window_id) "
        "WHERE w.role = 'rank' AND u.device_kind = 'cpu' AND w.materialization_id IN (?, ?) GROUP BY ALL",
        [killed_mid, mid],
    )
    by_mid = {m: (use, ended) for m, use, ended in ranks}
    assert by_mid[killed_mid][0] > 0 and by_mid[killed_mid][1] == ["lost"], "the killed rank's use is kept"
    assert by_mid[mid][0] > 0 and by_mid[mid][1] == ["closed"]
    own = dict(
        query(
            home,
            "SELECT materialization_id, energy_kwh_at_least FROM asset_footprint "
            "WHERE materialization_id IN (?, ?)",
            [killed_mid, mid],
        )
    )
    assert own[killed_mid] > 0 and own[mid] > 0
    [(e2e_kwh,)] = query(home, "SELECT energy_kwh_at_least FROM end_to_end_footprint_of(?)", [mid])
    assert e2e_kwh == pytest.approx(own[killed_mid] + own[mid], rel=1e-9), "both attempts, each once"
    # disk: the killed attempt recorded what it left; the success removed the checkpoints
    [(kind, held)] = query(
        home, "SELECT kind, bytes_held FROM storage WHERE materialization_id = ?", [killed_mid]
    )
    assert kind == "resume_checkpoint" and held > 0
    assert not run_dir.exists()
    assert not any(psutil.pid_exists(pid) and _alive(pid) for pid in killer.killed)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_new_materialization_of_a_finished_run_trains_afresh(
    home: FootprintHome, corpus: ArtifactHandle
) -> None:
    config = {**CONFIG, "max_steps": 20}
    assets = [*fake_upstream(clean_corpus=corpus), pretrained_model]
    first, second = (run_assets(home, assets, {"pretrained_model": config}) for _ in range(2))
    assert first.success and second.success
    for res in (first, second):
        meta = metadata(res, "pretrained_model")
        assert meta["training/resumed_from_step"] == 0 and meta["training/steps"] == 20
    assert query(home, "SELECT count(*) FROM lineage_edge WHERE relation = 'resumed_from'") == [(0,)]
    assert os.listdir(home.artifacts_dir / "checkpoints" / "pretrained_model") == []


def test_with_a_store_a_killed_pretraining_resumes_on_another_machine(
    home: FootprintHome, corpus: ArtifactHandle, tmp_path: Path
) -> None:
    """The killed attempt uploads its complete checkpoints when it fails; the next one, in an empty
    home of its own (another machine), downloads the newest and resumes from it."""
    url = f"file://{tmp_path}/store"
    store = Store.from_url(url)
    shared = dataclasses.replace(corpus, path=publish(store, home.root, corpus.local_path).url)
    assets = [*fake_upstream(clean_corpus=shared), pretrained_model]

    def run(on: FootprintHome) -> dg.ExecuteInProcessResult:
        footprint = FootprintHomeResource(root=str(on.root), store_url=url, heartbeat_s=2.0)
        return dg.materialize(
            assets,
            resources={"footprint": footprint},
            run_config={"ops": {"pretrained_model": {"config": CONFIG}}},
            raise_on_error=False,
        )

    with TreeKiller(home) as killer:
        first = run(home)
    assert killer.killed and not first.success
    [run_dir] = list(killer.root.iterdir())
    killed_mid = json.loads((run_dir / MARKER).read_text())["materialization_id"]
    key = f"artifacts/checkpoints/pretrained_model/{run_dir.name}"
    uploaded = {k.split("/")[4] for k, _ in store.list_files(key)}
    steps = sorted(int(n.split("-")[1]) for n in uploaded if n.startswith("checkpoint-"))
    assert steps and MARKER in uploaded, "the failed attempt uploaded its complete checkpoints"
    assert steps == [s for s, _ in complete_checkpoints(run_dir)]
    uploaded_bytes = sum(size for _, size in store.list_files(key))
    marker_bytes = len(store.get_bytes(f"{key}/{MARKER}"))

    other = FootprintHome.resolve(tmp_path / "other").ensure()
    second = run(other)
    assert second.success
    meta = metadata(second, "pretrained_model")
    assert meta["training/resumed_from_step"] == steps[-1]
    assert meta["training/steps"] == MAX_STEPS - steps[-1]
    mid = second.output_for_node("pretrained_model").materialization_id
    sql = "SELECT upstream_materialization_id, relation FROM lineage_edge WHERE materialization_id = ?"
    edges = query(other, sql, [mid])
    assert (killed_mid, "resumed_from") in set(edges)
    [(down,)] = query(
        other,
        "SELECT sum(bytes) FROM transfer WHERE materialization_id = ? AND endpoint_kind = 'object-store' "
        "AND direction = 'download' AND endpoint LIKE '%/checkpoint-%'",
        [mid],
    )
    assert down == tree_bytes(run_dir / f"checkpoint-{steps[-1]}") + marker_bytes, "the newest only"
    [(up,)] = query(
        home,
        "SELECT sum(bytes) FROM transfer WHERE materialization_id = ? AND endpoint_kind = 'object-store' "
        "AND direction = 'upload'",
        [killed_mid],
    )
    assert up == uploaded_bytes
    assert list(store.list_files(key)) == [], "the success removed the store's checkpoints"
