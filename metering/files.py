"""Bytes read and written for files and directories (datasets, checkpoints) -> local transfer and
storage facts. Local I/O gets scope 'local': its energy is already inside the host's CPU/RAM reading.

    files = FileCounter()
    with files.open(path, "rb") as f: data = f.read()       # counted per path, bytes and seconds
    files.record_into(rec)                                  # Transfer(direction='read', scope='local')

    with track_written(rec, ckpt_dir, kind="checkpoint"):   # files new or changed under ckpt_dir
        trainer.save_model(ckpt_dir)                        # -> Transfer 'write' + Storage fact

    record_read(rec, dataset_dir, duration_s=t)             # a whole tree read once
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from warehouse.artifacts import tree_bytes

if TYPE_CHECKING:
    from metering.recorder import MaterializationRecorder


@dataclass(frozen=True)
class FileTraffic:
    path: str
    bytes_read: int = 0
    bytes_written: int = 0
    io_s: float = 0.0  # seconds spent inside read/write calls
    opens: int = 0


class _CountingRaw(io.RawIOBase):
    """A FileIO whose reads and writes are reported to a FileCounter."""

    def __init__(self, path: str, mode: str, counter: FileCounter) -> None:
        self._f = io.FileIO(path, mode)
        self._path = path
        self._counter = counter

    def readinto(self, buf: Any) -> int | None:
        t0 = time.perf_counter()
        n = self._f.readinto(buf)
        self._counter._add(self._path, bytes_read=n or 0, io_s=time.perf_counter() - t0)
        return n

    def write(self, b: Any) -> int | None:
        t0 = time.perf_counter()
        n = self._f.write(b)
        self._counter._add(self._path, bytes_written=n or 0, io_s=time.perf_counter() - t0)
        return n

    def readable(self) -> bool:
        return self._f.readable()

    def writable(self) -> bool:
        return self._f.writable()

    def seekable(self) -> bool:
        return self._f.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def truncate(self, size: int | None = None) -> int:
        return self._f.truncate(size)

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        self._f.close()
        super().close()


class FileCounter:
    """Counts bytes through files opened with `open()`, per path. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[str, FileTraffic] = {}

    def _add(self, path: str, **deltas: float) -> None:
        with self._lock:
            cur = self._by_path.get(path) or FileTraffic(path)
            self._by_path[path] = replace(cur, **{k: getattr(cur, k) + v for k, v in deltas.items()})

    def open(
        self,
        path: str | os.PathLike[str],
        mode: str = "r",
        *,
        encoding: str | None = None,
        newline: str | None = None,
    ) -> IO[Any]:
        """Like built-in `open` (modes r/w/a/x, +, b/t), with the bytes counted."""
        key = str(Path(path).resolve())
        raw_mode = mode.replace("b", "").replace("t", "")
        raw = _CountingRaw(key, raw_mode, self)
        self._add(key, opens=1)
        buffered: io.BufferedIOBase
        if "+" in raw_mode:
            buffered = io.BufferedRandom(raw)
        elif "r" in raw_mode:
            buffered = io.BufferedReader(raw)
        else:
            buffered = io.BufferedWriter(raw)
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", newline=newline)

    def snapshot(self) -> dict[str, FileTraffic]:
        with self._lock:
            return dict(self._by_path)

    def reset(self) -> dict[str, FileTraffic]:
        with self._lock:
            taken, self._by_path = self._by_path, {}
        return taken

    def record_into(self, rec: MaterializationRecorder, *, endpoint_kind: str = "file") -> list[FileTraffic]:
        """Transfer facts (scope 'local'): a 'read' and/or a 'write' per path; counts reset."""
        traffic = list(self.reset().values())
        for t in traffic:
            for direction, n in (("read", t.bytes_read), ("write", t.bytes_written)):
                if n:
                    rec.add_transfer(
                        bytes_=n,
                        duration_s=t.io_s,
                        direction=direction,
                        endpoint_kind=endpoint_kind,
                        scope="local",
                        endpoint=t.path,
                        requests=t.opens,
                    )
        return traffic


def _files(path: Path) -> dict[str, tuple[int, int]]:
    """{file: (size, mtime_ns)} under `path` (or for the file itself)."""
    if path.is_file():
        st = path.stat()
        return {str(path): (st.st_size, st.st_mtime_ns)}
    if not path.exists():
        return {}
    out = {}
    for p in path.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@dataclass
class WrittenTree:
    """Filled in when `track_written` exits."""

    path: str
    bytes_written: int = 0
    bytes_held: int = 0
    duration_s: float = 0.0
    files_changed: int = 0


@contextmanager
def track_written(
    rec: MaterializationRecorder, path: str | os.PathLike[str], *, kind: str, endpoint_kind: str = "file"
) -> Iterator[WrittenTree]:
    """Bytes written under `path` during the block: the full size of every file that is new or whose
    size/mtime changed (a rewritten file counts whole). Records a 'write' Transfer (scope 'local') and
    a Storage fact with what `path` holds afterwards."""
    p = Path(path)
    before = _files(p)
    result = WrittenTree(str(p))
    t0 = time.perf_counter()
    yield result
    result.duration_s = time.perf_counter() - t0
    after = _files(p)
    changed = {f: v for f, v in after.items() if before.get(f) != v}
    result.files_changed = len(changed)
    result.bytes_written = sum(size for size, _ in changed.values())
    rec.add_transfer(
        bytes_=result.bytes_written,
        duration_s=result.duration_s,
        direction="write",
        endpoint_kind=endpoint_kind,
        scope="local",
        endpoint=str(p),
        requests=len(changed),
    )
    result.bytes_held = rec.add_storage(p, kind=kind) if p.exists() else 0


def record_read(
    rec: MaterializationRecorder,
    path: str | os.PathLike[str],
    *,
    duration_s: float = 0.0,
    endpoint_kind: str = "file",
) -> int:
    """A file or tree read once, whole: a 'read' Transfer of its size (scope 'local'). Returns bytes."""
    n = tree_bytes(Path(path))
    rec.add_transfer(
        bytes_=n,
        duration_s=duration_s,
        direction="read",
        endpoint_kind=endpoint_kind,
        scope="local",
        endpoint=str(path),
    )
    return n
