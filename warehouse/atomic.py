"""Writing a file or a directory atomically: the one helper every package uses.

    with atomic_file(final, mode=0o600) as tmp:   # tmp: a fresh path beside `final`
        tmp.write_text(text)                      # or pq.write_table(t, tmp), COPY ... TO tmp, ...
    # here `final` holds the whole new content, durably; on an error it still holds the old one

    with atomic_dir(final) as tmp:                # tmp: a new empty directory (0700) beside `final`
        (tmp / "a.parquet").write_bytes(data)

Publication is a rename within one directory, so a reader sees the old content or the new, never
a part. The temporary is fsynced before the rename and the directory after it, so a crash never
publishes a name whose content is missing. A block that raises leaves `final` untouched and
removes its temporary. Temporaries are named `.tmp-<final name>.<pid>-<random>` (`TMP_PREFIX`):
hidden, unique per writer (two writers of one name never share one), and recognisable as leftovers.

Only the standard library: the recipe is `os.open`/`os.fsync`/`os.replace` (POSIX rename
semantics; the project runs on Linux) in a few lines. A package such as `atomicwrites` (archived by
its author) wraps the same calls around a file object, while our writers need a path (pyarrow,
DuckDB `COPY ... TO`, a pickle through `UPath.open`) or a whole directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by path (a directory's fsync makes its entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _beside(final: Path) -> Path:
    return final.with_name(f"{TMP_PREFIX}{final.name}.{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_file(final: Path, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `final`; when the block succeeds it replaces `final`.

    `mode` None: the block creates the file (its writer's umask applies, as with `open`); a block
    that wrote nothing raises FileNotFoundError. `mode` given (e.g. 0o600): the file is created
    empty with exactly that mode before the block, so its content is never readable by others.
    On success the file is fsynced, renamed over `final` and the directory fsynced; on any error
    the temporary is removed and the error re-raised."""
    tmp = _beside(final)
    try:
        if mode is not None:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
            finally:
                os.close(fd)
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(final.parent)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a new empty directory (0700) beside `final`; when the block succeeds it becomes `final`.

    On success everything in it is fsynced, it is renamed to `final` and the parent fsynced. The
    rename does not replace a non-empty `final` (OSError): a caller that means to replace one
    removes it at the end of its block. On any error the temporary directory is removed and the
    error re-raised."""
    tmp = _beside(final)
    tmp.mkdir(mode=0o700)
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if not path.is_symlink():
                fsync_path(path)
        fsync_path(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_path(final.parent)
