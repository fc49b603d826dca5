"""`footprint labeling-report` in an 80-column terminal: every annotator's name and every header in full,
no line wider than the terminal, the figures beside the right name (the real console script, a state
file written as the `annotations` asset writes it, no server needed)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from labeling.spend import TABLE_HEADER
from labeling.store import SyncState, save_state, state_path
from labeling.sync import AnnotationVersion
from warehouse.home import FootprintHome

T0 = dt.datetime(2026, 11, 5, 9, 0, tzinfo=dt.UTC)
# annotator -> (annotations, seconds active each); all label task i the same way but carol
ANNOTATORS = {
    "alice.longname@example.com": (6, 30.0),
    "bartholomew.evenlongername@annotation-vendor.example.org": (4, 45.0),
    "carol@example.com": (5, 60.0),
}


def _state() -> SyncState:
    state = SyncState(cursor=T0)
    aid = 0
    for who, (n, active_s) in ANNOTATORS.items():
        for task in range(n):
            aid += 1
            label = "negative" if who.startswith("carol") and task % 2 else "positive"
            state.annotations[aid] = AnnotationVersion(
                aid, task, who, active_s, active_s, 300.0, False, label, None, "", T0, T0
            )
    return state


def _footprint() -> str:
    beside = Path(sys.executable).parent / "footprint"
    found = str(beside) if beside.exists() else shutil.which("footprint")
    assert found, "the `footprint` console script is not installed (pip install -e .)"
    return found


@pytest.mark.parametrize("columns", [80, 200])
def test_labeling_report_fits_with_names_and_headers_in_full(home: FootprintHome, columns: int) -> None:
    save_state(state_path(home.labelstudio_dir, "127.0.0.1_8080-p1"), _state())
    proc = subprocess.run(
        [_footprint(), "labeling-report"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    for name, (n, active_s) in ANNOTATORS.items():
        mine = [line for line in lines if name in line]
        assert mine, name  # whole, on a line
        assert any(re.search(rf"│\s+{n}\s+│", line) for line in mine), (name, mine)  # annotations
        assert any(f"{n * active_s / 3600:.3f}" in line for line in mine), (name, mine)  # active h
    for head in TABLE_HEADER:
        assert any(head in line for line in lines), head
    assert "…" not in proc.stdout  # nothing cut short
    assert "synced up to 2026-11-05 09:00:00+00:00" in " ".join(proc.stdout.split())
