"""Another process holding the warehouse file, as an analyst's session (read-only) or a second writer
does: DuckDB then refuses every writer. Used by the suites that check nothing is lost meanwhile."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
if sys.argv[3]:
    con.execute(sys.argv[3]).fetchall()
print("ready", flush=True)
sys.stdin.read()
con.close()
"""


@contextmanager
def hold_warehouse(path: Path, *, read_only: bool = True, probe_sql: str = "") -> Iterator[None]:
    """Hold `path` open in a child process for the duration of the block (after `probe_sql`, if
    given, ran there); released when the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path), "ro" if read_only else "rw", probe_sql],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
