"""Helpers for the `footprint` CLI tests: run the console script, build small warehouses, hold locks."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from warehouse.batches import write_batch
from warehouse.facts import (
    EnergyReading,
    FactBatch,
    LineageEdge,
    Materialization,
    MaterializationOutcome,
    PersonTime,
    Transfer,
)
from warehouse.home import FootprintHome

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def footprint_exe() -> str:
    beside = Path(sys.executable).parent / "footprint"
    found = str(beside) if beside.exists() else shutil.which("footprint")
    assert found, "the `footprint` console script is not installed (pip install -e .)"
    return found


def run_cli(
    *args: str, timeout_s: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `footprint ARGS` in a subprocess (FOOTPRINT_HOME comes from the `home` fixture's env)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [footprint_exe(), *args], capture_output=True, text=True, timeout=timeout_s, env=full_env, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("footprint: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _energy(mid: str, joules: float, seconds: float) -> EnergyReading:
    return EnergyReading(
        materialization_id=mid,
        window_id=f"w-{mid}",
        seq=1,
        is_final=True,
        device_kind="cpu",
        device_index=0,
        device_name="test-cpu",
        host="h1",
        energy_j=joules,
        duration_s=seconds,
        method="estimated",
        source="cpu-model:tdp_w=85",
        measured_at=T0,
    )


def materialization_facts(
    batch: FactBatch,
    mid: str,
    run_id: str,
    asset: str,
    start: dt.datetime,
    *,
    seconds: float,
    joules: float,
    upstream: list[tuple[str, str]] | None = None,
) -> FactBatch:
    batch.add(
        Materialization(mid, run_id, asset, start, host="h1"),
        _energy(mid, joules, seconds),
        Transfer(mid, 1_000_000, 0.5, "download", "hub", "network", start),
        PersonTime(mid, "ada", "engineer", 1800.0),
        MaterializationOutcome(mid, "success", start + dt.timedelta(seconds=seconds)),
    )
    for up_mid, up_asset in upstream or []:
        batch.add(LineageEdge(mid, up_mid, up_asset))
    return batch


@dataclass(frozen=True)
class SmallWarehouse:
    home: FootprintHome
    old_run: str = "run-old"
    new_run: str = "run-new"


def write_small_facts(home: FootprintHome) -> None:
    """Run `run-old`: raw_corpus. Run `run-new` (later): raw_corpus -> clean_corpus (lineage)."""
    old = materialization_facts(
        FactBatch(), "m-old-raw", "run-old", "raw_corpus", T0, seconds=60, joules=3.6e6
    )
    write_batch(home, old)
    later = T0 + dt.timedelta(hours=1)
    new = FactBatch()
    materialization_facts(new, "m-new-raw", "run-new", "raw_corpus", later, seconds=120, joules=7.2e6)
    materialization_facts(
        new,
        "m-new-clean",
        "run-new",
        "clean_corpus",
        later + dt.timedelta(minutes=5),
        seconds=30,
        joules=1.8e6,
        upstream=[("m-new-raw", "raw_corpus")],
    )
    write_batch(home, new)


@pytest.fixture
def small_warehouse(home: FootprintHome) -> SmallWarehouse:
    from warehouse.loader import sync

    write_small_facts(home)
    result = sync(home, wait_s=10)
    assert result.loaded_batches == 2 and not result.quarantined
    return SmallWarehouse(home)


@contextmanager
def holding_lock(home: FootprintHome, *, read_only: bool) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the warehouse file (read-write or read-only) until the block ends."""
    code = (
        "import sys, duckdb\n"
        f"con = duckdb.connect({str(home.warehouse_path)!r}, read_only={read_only!r})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Test modules cannot import this conftest under --import-mode=importlib: hand the helpers out as fixtures.
@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli


@pytest.fixture
def one_line_error():  # type: ignore[no-untyped-def]
    return assert_one_line_error


@pytest.fixture
def lock_holder():  # type: ignore[no-untyped-def]
    return holding_lock


@pytest.fixture
def facts():  # type: ignore[no-untyped-def]
    """Namespace of fact-writing helpers."""

    class _Facts:
        t0 = T0
        add_materialization = staticmethod(materialization_facts)
        write_small = staticmethod(write_small_facts)

    return _Facts
