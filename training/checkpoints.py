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

With a remote store (`FOOTPRINT_STORE`) the next attempt may run on another machine, so the directory
is mirrored in the store at the same key (`artifacts/checkpoints/<asset>/<run key>/`): not after
every save (too heavy), but when an attempt ends (`upload_checkpoints`: the complete checkpoints, each
one's `trainer_state.json` last, so a checkpoint in the store is complete iff that file is there),
failed ones included, and at the start of an attempt the newest complete checkpoint in the store is
downloaded when the local directory has none as new (`download_newest`). After a success the store's
copy is removed too. A step process killed outright uploads nothing: its next attempt resumes from
what an earlier attempt uploaded, or starts afresh. The lock is local: two machines training the
same run at once each train in full.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from warehouse.artifacts import Moved
from warehouse.atomic import atomic_file
from warehouse.facts import utcnow
from warehouse.home import FootprintHome, make_private_dir
from warehouse.redact import redact
from warehouse.store import Store, StoreError

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
    downloaded: Moved | None = None  # the checkpoint fetched from a remote store to resume from

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
    home: FootprintHome,
    *,
    asset_key: str,
    run_key: str,
    materialization_id: str,
    store: Store | None = None,
) -> Iterator[Attempt]:
    """Take the run's checkpoint directory for this materialization: find where a previous attempt
    stopped (here, or in a remote `store`: its newest checkpoint is downloaded), drop checkpoints it
    left half-written, mark the directory as this attempt's."""
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
        downloaded = (
            download_newest(store, checkpoint_key(home, directory), directory) if store is not None else None
        )
        done = complete_checkpoints(directory)
        resume = ResumePoint(done[-1][1], done[-1][0], _previous(directory)) if done else None
        _write_marker(directory, materialization_id, run_key)
        yield Attempt(directory, materialization_id, resume, shared=True, downloaded=downloaded)
    finally:
        os.close(fd)


def _store_checkpoints(store: Store, key: str) -> dict[str, set[str]]:
    """checkpoint name -> its files (relative) in the store, for the complete ones only."""
    found: dict[str, set[str]] = {}
    for file_key, _ in store.list_files(key):
        rel = file_key[len(key.strip("/")) + 1 :]
        name, _, rest = rel.partition("/")
        if _CHECKPOINT.match(name) and rest:
            found.setdefault(name, set()).add(rest)
    return {name: files for name, files in found.items() if STATE_FILE in files}


def download_newest(store: Store, key: str, directory: Path) -> Moved | None:
    """Copy the newest complete checkpoint of the store's `key` (and its marker) into `directory`
    unless `directory` already has one as new. None: nothing downloaded (the local store: the
    directory is the store)."""
    if store.local:
        return None
    t0 = time.perf_counter()
    remote = _store_checkpoints(store, key)
    if not remote:
        return None
    name = max(remote, key=lambda n: int(n.split("-")[1]))
    local = complete_checkpoints(directory)
    if local and local[-1][0] >= int(name.split("-")[1]):
        return None
    target = directory / name
    shutil.rmtree(target, ignore_errors=True)
    files = sorted(remote[name], key=lambda f: f == STATE_FILE)  # trainer_state.json last
    if store.exists(posixpath.join(key, MARKER)):
        files_keys = [(posixpath.join(key, MARKER), directory / MARKER)]
    else:
        files_keys = []
    files_keys += [(posixpath.join(key, name, f), target / f) for f in files]
    for src, dst in files_keys:
        make_private_dir(dst.parent)
        try:
            pafs.copy_files(store.path(src), str(dst), source_filesystem=store.fs)
        except (OSError, pa.ArrowException) as err:  # trainer_state.json comes last: no half checkpoint
            raise StoreError(f"store {store.url}: could not download {src}: {redact(str(err))}") from err
    moved = sum(dst.stat().st_size for _, dst in files_keys)
    url = store.uri(posixpath.join(key, name))
    return Moved("download", url, target, moved, len(files_keys), time.perf_counter() - t0)


def upload_checkpoints(store: Store, key: str, directory: Path) -> Moved | None:
    """Mirror `directory`'s complete checkpoints (and marker) at the store's `key`: the ones missing
    there are uploaded (each one's trainer_state.json last), the ones gone locally (rotated away by
    Trainer) are deleted there. None: the local store."""
    if store.local:
        return None
    t0 = time.perf_counter()
    remote = _store_checkpoints(store, key)
    local = {p.name: p for _, p in complete_checkpoints(directory)}
    sent, files = 0, 0
    for name, path in local.items():
        if name in remote:
            continue  # a checkpoint-<step> is written once
        for f in sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.name == STATE_FILE):
            store.put_file(f, posixpath.join(key, name, f.relative_to(path).as_posix()))
            sent, files = sent + f.stat().st_size, files + 1
    if (directory / MARKER).is_file():
        store.put_file(directory / MARKER, posixpath.join(key, MARKER))
        sent, files = sent + (directory / MARKER).stat().st_size, files + 1
    for name in set(remote) - set(local):
        store.delete_tree(posixpath.join(key, name))
    return Moved("upload", store.uri(key), directory, sent, files, time.perf_counter() - t0)


def checkpoint_key(home: FootprintHome, directory: Path) -> str:
    """The store key of a checkpoint directory: its path below the home."""
    return directory.relative_to(home.root).as_posix()
