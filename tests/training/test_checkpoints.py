"""The run key and the checkpoint directory a materialization trains in: where a previous attempt
stopped, what it left half-written, who trained there last, and a concurrent attempt of the same run;
with a remote store (file:///<tmp>/store), an attempt on another machine resuming from the
checkpoints a failed attempt uploaded."""

from __future__ import annotations

import json
import shutil
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from training.checkpoints import (
    MARKER,
    STATE_FILE,
    Attempt,
    checkpoint_attempt,
    checkpoint_key,
    complete_checkpoints,
    run_directory,
    upload_checkpoints,
)
from training.config import RunSpec
from warehouse.artifacts import tree_bytes
from warehouse.home import FootprintHome
from warehouse.store import Store

SPEC = RunSpec(task="pretrain", out_dir="/a/m1", corpus_path="/c/clean.parquet")


def test_the_run_key_is_what_determines_the_run() -> None:
    key = SPEC.run_key(["m-corpus"])
    placed = replace(SPEC, out_dir="/a/m2", checkpoint_dir="/ck", resume_from="/ck/checkpoint-10")
    assert placed.run_key(["m-corpus"]) == key, "where it is written is not what it computes"
    copy = replace(SPEC, corpus_path="/other-machine/cache/clean.parquet")
    assert copy.run_key(["m-corpus"]) == key, "another machine's copy of the same upstream: the same run"
    assert replace(SPEC, max_steps=SPEC.max_steps + 1).run_key(["m-corpus"]) != key
    assert replace(SPEC, mlm_probability=0.2).run_key(["m-corpus"]) != key
    assert SPEC.run_key(["m-corpus-2"]) != key, "other upstream materializations: another run"
    assert SPEC.run_key(["b", "a"]) == SPEC.run_key(["a", "b"])


def _attempt(home: FootprintHome, materialization_id: str) -> AbstractContextManager[Attempt]:
    return checkpoint_attempt(
        home, asset_key="pretrained_model", run_key="k1", materialization_id=materialization_id
    )


def _checkpoint(directory: Path, step: int, *, complete: bool) -> Path:
    d = directory / f"checkpoint-{step}"
    d.mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"w" * 10)
    if complete:
        (d / STATE_FILE).write_text(json.dumps({"global_step": step}))
    return d


def test_a_fresh_run_has_nothing_to_resume(home: FootprintHome) -> None:
    with _attempt(home, "m1") as a:
        assert a.resume is None and a.shared
        assert a.directory == run_directory(home, "pretrained_model", "k1")
        assert json.loads((a.directory / MARKER).read_text())["materialization_id"] == "m1"
        a.remove()
    assert not a.directory.exists()


def test_the_next_attempt_resumes_from_the_newest_complete_checkpoint(home: FootprintHome) -> None:
    with _attempt(home, "m1") as a:
        _checkpoint(a.directory, 10, complete=True)
        _checkpoint(a.directory, 20, complete=True)
        half = _checkpoint(a.directory, 30, complete=False)  # killed while saving
    with _attempt(home, "m2") as b:
        assert b.resume is not None
        assert (b.resume.step, b.resume.checkpoint.name, b.resume.previous_materialization_id) == (
            20,
            "checkpoint-20",
            "m1",
        )
        assert not half.exists(), "a half-written checkpoint is removed"
        assert json.loads((b.directory / MARKER).read_text())["materialization_id"] == "m2"
    with _attempt(home, "m3") as c:
        assert c.resume is not None and c.resume.previous_materialization_id == "m2", "a chain of attempts"


def test_a_concurrent_attempt_of_the_same_run_does_not_share_the_directory(home: FootprintHome) -> None:
    with _attempt(home, "m1") as a:
        _checkpoint(a.directory, 10, complete=True)
        with checkpoint_attempt(
            home, asset_key="pretrained_model", run_key="k1", materialization_id="m2"
        ) as b:
            assert not b.shared and b.resume is None and b.directory != a.directory
            assert b.directory.name == "k1.m2"
        assert (a.directory / "checkpoint-10").is_dir(), "the first attempt's checkpoints untouched"
    with _attempt(home, "m3") as c:
        assert c.shared, "the lock went with the first attempt"


def _store(tmp_path: Path) -> Store:
    return Store.from_url(f"file://{tmp_path}/store")


def test_with_a_remote_store_the_next_attempt_resumes_on_another_machine(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a_home = FootprintHome.resolve(tmp_path / "a").ensure()
    b_home = FootprintHome.resolve(tmp_path / "b").ensure()  # another machine: its own empty home
    kw = {"asset_key": "pretrained_model", "run_key": "k1", "store": store}
    with checkpoint_attempt(a_home, materialization_id="m1", **kw) as a:  # type: ignore[arg-type]
        assert a.downloaded is None and a.resume is None
        _checkpoint(a.directory, 10, complete=True)
        _checkpoint(a.directory, 20, complete=True)
        _checkpoint(a.directory, 30, complete=False)  # killed while saving: never uploaded
        key = checkpoint_key(a_home, a.directory)
        up = upload_checkpoints(store, key, a.directory)
    assert key == "artifacts/checkpoints/pretrained_model/k1"
    in_store = sorted(k for k, _ in store.list_files(key))
    assert in_store == [f"{key}/{MARKER}"] + [
        f"{key}/checkpoint-{s}/{f}" for s in (10, 20) for f in ("model.safetensors", STATE_FILE)
    ]
    assert up is not None and up.files == 5 and up.bytes == sum(s for _, s in store.list_files(key))

    with checkpoint_attempt(b_home, materialization_id="m2", **kw) as b:  # type: ignore[arg-type]
        assert b.resume is not None and b.downloaded is not None
        assert (b.resume.step, b.resume.previous_materialization_id) == (20, "m1")
        assert [p.name for _, p in complete_checkpoints(b.directory)] == ["checkpoint-20"], "the newest only"
        assert b.downloaded.bytes == tree_bytes(b.directory / "checkpoint-20") + len(
            store.get_bytes(f"{key}/{MARKER}")
        )
        assert b.downloaded.files == 3
        shutil.rmtree(b.directory / "checkpoint-20")  # Trainer rotated it away after saving 30
        _checkpoint(b.directory, 30, complete=True)
        upload_checkpoints(store, key, b.directory)
    names = {k.split("/")[4] for k, _ in store.list_files(key)}
    assert names == {MARKER, "checkpoint-30"}, "what rotated away locally is deleted from the store"
    assert json.loads(store.get_bytes(f"{key}/{MARKER}"))["materialization_id"] == "m2"

    with checkpoint_attempt(a_home, materialization_id="m3", **kw) as c:  # type: ignore[arg-type]
        assert c.resume is not None and (c.resume.step, c.resume.previous_materialization_id) == (30, "m2")


def test_a_local_checkpoint_as_new_as_the_stores_is_not_downloaded(tmp_path: Path) -> None:
    store = _store(tmp_path)
    home = FootprintHome.resolve(tmp_path / "a").ensure()
    kw = {"asset_key": "pretrained_model", "run_key": "k1", "store": store}
    with checkpoint_attempt(home, materialization_id="m1", **kw) as a:  # type: ignore[arg-type]
        _checkpoint(a.directory, 10, complete=True)
        upload_checkpoints(store, checkpoint_key(home, a.directory), a.directory)
    with checkpoint_attempt(home, materialization_id="m2", **kw) as b:  # type: ignore[arg-type]
        assert b.downloaded is None and b.resume is not None and b.resume.step == 10
