"""The atomic-write helper: a final name holds the old content or the whole new one, never a part;
a failed or killed writer leaves the old content; permissions are exact; everything is fsynced
before the rename publishes it, and the directory after."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse import atomic
from warehouse.atomic import TMP_PREFIX, atomic_dir, atomic_file, fsync_path


class Boom(Exception):
    pass


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)  # a typical permissive umask, whatever the test runner's
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records fsyncs and renames, in order, as (what, path name)."""
    seen: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = atomic.fsync_path, os.replace, os.rename

    def fsync(path: Path) -> None:
        real_fsync(path)
        seen.append(("fsync", Path(path).name))

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_replace(src, dst)
        seen.append(("rename", Path(dst).name))

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_rename(src, dst)
        seen.append(("rename", Path(dst).name))

    monkeypatch.setattr(atomic, "fsync_path", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    return seen


# -- atomic_file -------------------------------------------------------------------------------------
def test_the_final_file_appears_only_complete(tmp_path: Path) -> None:
    final = tmp_path / "state.json"
    final.write_text("old")
    with atomic_file(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(f"{TMP_PREFIX}state.json.")
        with tmp.open("w") as fh:
            fh.write("new, first half")
            fh.flush()
            assert final.read_text() == "old", "the final name changed before the block ended"
            fh.write(" and second half")
        assert final.read_text() == "old"
    assert final.read_text() == "new, first half and second half"
    assert _names(tmp_path) == ["state.json"]


def test_a_new_file_appears_only_when_the_block_ends(tmp_path: Path) -> None:
    final = tmp_path / "new.parquet"
    with atomic_file(final) as tmp:
        tmp.write_bytes(b"x" * 10_000)
        assert not final.exists()
    assert final.read_bytes() == b"x" * 10_000


@pytest.mark.parametrize("mode", [None, 0o600])
def test_an_error_in_the_block_leaves_the_old_file_and_no_temporary(tmp_path: Path, mode: int | None) -> None:
    final = tmp_path / "data.bin"
    final.write_bytes(b"old")
    with pytest.raises(Boom), atomic_file(final, mode=mode) as tmp:
        tmp.write_bytes(b"half")
        raise Boom
    assert final.read_bytes() == b"old"
    assert _names(tmp_path) == ["data.bin"]


def test_an_error_in_the_block_creates_no_new_file(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_file(tmp_path / "data.bin") as tmp:
        tmp.write_bytes(b"half")
        raise Boom
    assert _names(tmp_path) == []


def test_a_block_that_wrote_nothing_publishes_nothing(tmp_path: Path) -> None:
    final = tmp_path / "data.bin"
    final.write_bytes(b"old")
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_file(final):
        pass
    assert final.read_bytes() == b"old"
    assert _names(tmp_path) == ["data.bin"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "taken"
    final.mkdir()  # a directory cannot be replaced by a file
    (final / "inside").write_text("kept")
    with pytest.raises(OSError), atomic_file(final) as tmp:
        tmp.write_text("new")
    assert (final / "inside").read_text() == "kept"
    assert _names(tmp_path) == ["taken"]


def _die_mid_write(final: str) -> None:
    with atomic_file(Path(final)) as tmp:
        tmp.write_text("half of the new")
        os._exit(3)  # killed: no cleanup, no rename


def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    final = tmp_path / "state.json"
    final.write_text("old")
    child = mp.get_context("spawn").Process(target=_die_mid_write, args=(str(final),))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 3
    assert final.read_text() == "old"
    leftovers = [n for n in _names(tmp_path) if n != "state.json"]
    assert len(leftovers) == 1 and leftovers[0].startswith(f"{TMP_PREFIX}state.json.")


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize("umask_bits", [0o022, 0o077, 0o277])
def test_mode_is_exact_from_creation_whatever_the_umask(tmp_path: Path, umask_bits: int) -> None:
    final = tmp_path / "credentials.json"
    final.write_text("old")
    final.chmod(0o644)  # an existing loose file is replaced, not reused
    os.umask(umask_bits)
    with atomic_file(final, mode=0o600) as tmp:
        assert _mode(tmp) == 0o600, "the temporary is readable by others before it holds anything"
        tmp.write_text("secret")
        assert _mode(tmp) == 0o600
    assert _mode(final) == 0o600
    assert final.read_text() == "secret"


@pytest.mark.usefixtures("umask")
def test_without_a_mode_the_writer_creates_the_file_under_the_umask(tmp_path: Path) -> None:
    final = tmp_path / "table.parquet"
    with atomic_file(final) as tmp:
        assert not tmp.exists()
        tmp.write_text("rows")
    assert _mode(final) == 0o644


def test_two_writers_of_one_name_never_share_a_temporary(tmp_path: Path) -> None:
    final = tmp_path / "value"
    with atomic_file(final) as first, atomic_file(final) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert final.read_text() == "first"  # the outer block ends last: its value wins, whole
    assert _names(tmp_path) == ["value"]


def test_the_file_is_fsynced_before_the_rename_and_the_directory_after(
    tmp_path: Path, events: list[tuple[str, str]]
) -> None:
    final = tmp_path / "state.json"
    with atomic_file(final) as tmp:
        tmp.write_text("new")
    assert events == [("fsync", tmp.name), ("rename", "state.json"), ("fsync", tmp_path.name)]


# -- atomic_dir --------------------------------------------------------------------------------------
@pytest.mark.usefixtures("umask")
def test_the_final_directory_appears_only_complete_and_owner_only(tmp_path: Path) -> None:
    final = tmp_path / "batch-1"
    with atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(f"{TMP_PREFIX}batch-1.")
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "a.parquet").write_bytes(b"a")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b").write_bytes(b"b")
        assert not final.exists()
    assert _names(tmp_path) == ["batch-1"]
    assert (final / "a.parquet").read_bytes() == b"a" and (final / "sub" / "b").read_bytes() == b"b"
    assert _mode(final) == 0o700


def test_an_error_in_the_dir_block_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_dir(tmp_path / "batch-1") as tmp:
        (tmp / "a.parquet").write_bytes(b"half")
        raise Boom
    assert _names(tmp_path) == []


def test_a_non_empty_directory_is_not_replaced(tmp_path: Path) -> None:
    final = tmp_path / "batch-1"
    final.mkdir()
    (final / "a.parquet").write_bytes(b"published")
    with pytest.raises(OSError), atomic_dir(final) as tmp:
        (tmp / "a.parquet").write_bytes(b"again")
    assert (final / "a.parquet").read_bytes() == b"published"
    assert _names(tmp_path) == ["batch-1"]


def test_a_caller_may_replace_the_old_directory_at_the_end_of_its_block(tmp_path: Path) -> None:
    final = tmp_path / "report"
    final.mkdir()
    (final / "old.png").write_bytes(b"old")
    with atomic_dir(final) as tmp:
        (tmp / "index.html").write_text("new")
        (final / "old.png").unlink()
        final.rmdir()
    assert _names(final) == ["index.html"]


def test_everything_in_the_directory_is_fsynced_before_the_rename(
    tmp_path: Path, events: list[tuple[str, str]]
) -> None:
    final = tmp_path / "batch-1"
    with atomic_dir(final) as tmp:
        (tmp / "a.parquet").write_bytes(b"a")
        (tmp / "MANIFEST").write_text("a\t1\n")
    *synced, rename, parent = events
    assert sorted(synced) == sorted([("fsync", "a.parquet"), ("fsync", "MANIFEST"), ("fsync", tmp.name)])
    assert synced[-1] == ("fsync", tmp.name), "the directory is fsynced after its files"
    assert rename == ("rename", "batch-1") and parent == ("fsync", tmp_path.name)


# -- fsync_path --------------------------------------------------------------------------------------
def test_fsync_path_takes_a_file_or_a_directory_and_refuses_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    fsync_path(tmp_path / "f")
    fsync_path(tmp_path)
    with pytest.raises(FileNotFoundError):
        fsync_path(tmp_path / "missing")
