"""Shared helpers of the reliability suite: warehouse snapshots, pending-batch reads, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.connection import connect
from warehouse.home import FootprintHome

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FOOTPRINT = BIN / "footprint"


def rows(home: FootprintHome, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Read the warehouse (read-only, no sync)."""
    con = connect(home, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def footprint_snapshot(home: FootprintHome) -> dict[str, dict[str, Any]]:
    """Every column of `asset_footprint`, by materialization id: the numbers analysts see."""
    con = connect(home, read_only=True)
    try:
        cur = con.execute("SELECT * FROM asset_footprint ORDER BY materialization_id")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def published_table(home: FootprintHome, table: str) -> pa.Table | None:
    """All rows of `table` in published pending batches (not `.tmp-*` dirs), or None."""
    files = [
        p for p in sorted(home.pending_dir.glob(f"*/{table}.parquet")) if not p.parent.name.startswith(".")
    ]
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files])


def run_footprint(
    home: FootprintHome, *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOOTPRINT_HOME": str(home.root), "COLUMNS": "200"}
    return subprocess.run(
        [str(FOOTPRINT), *args], env=env, capture_output=True, text=True, timeout=timeout_s, cwd=REPO
    )
