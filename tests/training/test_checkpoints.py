"""The run key and the checkpoint directory a materialization trains in: where a previous attempt
stopped, what it left half-written, who trained there last, and a concurrent attempt of the same run."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from training.checkpoints import MARKER, STATE_FILE, Attempt, checkpoint_attempt, run_directory
from training.config import RunSpec
from warehouse.home import FootprintHome

SPEC = RunSpec(task="pretrain", out_dir="/a/m1", corpus_path="/c/clean.parquet")


def test_the_run_key_is_what_determines_the_run() -> None:
    key = SPEC.run_key(["m-corpus"])
    placed = replace(SPEC, out_dir="/a/m2", checkpoint_dir="/ck", resume_from="/ck/checkpoint-10")
    assert placed.run_key(["m-corpus"]) == key, "where it is written is not what it computes"
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
