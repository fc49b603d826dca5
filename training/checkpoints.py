"""Resumable checkpoints across materializations.

A run's intermediate checkpoints (Trainer's `checkpoint-<step>/`: weights, optimizer, scheduler, RNG
states, trainer state) go to a directory that is stable across attempts:
`$FOOTPRINT_HOME/artifacts/checkpoints/<asset>/<run key>/`, the run key being what determines the run
(the spec without where it is written, plus the upstream materialization ids it consumes:
`RunSpec.run_key`). A marker file there (`ATTEMPT.json`) names the materialization that last trained
in it. When a materialization starts and a previous attempt left a complete checkpoint (one whose
`trainer_state.json` exists: Trainer writes it last), it resumes from the newest one and is linked
to that attempt by a `resumed_from` lineage edge (the asset records it).

While an attempt trains, it holds an exclusive lock on the directory (released by the kernel if the
process dies): a concurrent materialization of the same run does not share it and checkpoints in a
directory of its own instead. After a successful run the directory is removed (the final model is
in the materialization's own out_dir); after a failed one it stays for the next attempt if it holds
a complete checkpoint (else it is removed too).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warehouse.atomic import atomic_file
from warehouse.facts import utcnow
from warehouse.home import FootprintHome, make_private_dir

MARKER = "ATTEMPT.json"
STATE_FILE = "trainer_state.json"
LOCK_FILE = ".lock"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class ResumePoint:
    checkpoint: Path  # the checkpoint-<step> directory
    step: int
    previous_materialization_id: str | None  # the attempt that trained here last (None: unknown)


@dataclass
class Attempt:
    """One materialization training in a checkpoint directory (see `checkpoint_attempt`)."""

    directory: Path
    materialization_id: str
    resume: ResumePoint | None
    shared: bool  # False: another attempt held the run's directory; this one has its own

    def remove(self) -> None:
        """Nothing here is needed any more (the run succeeded: its final model is in its out_dir; or
        it failed before its first checkpoint)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def run_directory(home: FootprintHome, asset_key: str, run_key: str) -> Path:
    return home.artifacts_dir / "checkpoints" / asset_key.replace("/", "__") / run_key


def complete_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoints Trainer finished writing, oldest first."""
    found = []
    for p in directory.iterdir() if directory.is_dir() else []:
        m = _CHECKPOINT.match(p.name)
        if m and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def _remove_incomplete(directory: Path) -> None:
    for p in directory.iterdir():
        if _CHECKPOINT.match(p.name) and not (p / STATE_FILE).is_file():
            shutil.rmtree(p, ignore_errors=True)  # a save that was killed half-way


def _previous(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / MARKER).read_text())["materialization_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_marker(directory: Path, materialization_id: str, run_key: str) -> None:
    marker = {"materialization_id": materialization_id, "run_key": run_key, "started_at": str(utcnow())}
    with atomic_file(directory / MARKER) as tmp:
        tmp.write_text(json.dumps(marker))


@contextlib.contextmanager
def checkpoint_attempt(
    home: FootprintHome, *, asset_key: str, run_key: str, materialization_id: str
) -> Iterator[Attempt]:
    """Take the run's checkpoint directory for this materialization: find where a previous attempt
    stopped, drop checkpoints it left half-written, mark the directory as this attempt's."""
    directory = run_directory(home, asset_key, run_key)
    make_private_dir(directory.parent.parent)
    make_private_dir(directory.parent)
    make_private_dir(directory)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another attempt of the same run is training now
            own = directory.with_name(f"{run_key}.{materialization_id}")
            make_private_dir(own)
            _write_marker(own, materialization_id, run_key)
            yield Attempt(own, materialization_id, None, shared=False)
            return
        _remove_incomplete(directory)
        done = complete_checkpoints(directory)
        resume = ResumePoint(done[-1][1], done[-1][0], _previous(directory)) if done else None
        _write_marker(directory, materialization_id, run_key)
        yield Attempt(directory, materialization_id, resume, shared=True)
    finally:
        os.close(fd)
