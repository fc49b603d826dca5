"""The code location's I/O manager: values round-trip through Dagster at `<base_dir>/<asset key>`, a
reader racing a writer in another process only ever sees whole values, and an unpicklable output is
refused with a message that says what to return instead (nothing left behind)."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from upath import UPath

from pipelines.io_manager import AtomicFilesystemIOManager, AtomicPickleIOManager

SIZE = 2_000_000  # large enough that a non-atomic write is caught half-way by a reader


def _writer(base: str, rounds: int) -> None:
    manager = AtomicPickleIOManager(base_path=UPath(base))
    path = UPath(base) / "value"
    for i in range(rounds):
        manager.dump_to_path(None, bytes([i % 251]) * SIZE, path)  # type: ignore[arg-type]


def test_a_reader_racing_a_writer_sees_only_whole_values(tmp_path: Path) -> None:
    manager = AtomicPickleIOManager(base_path=UPath(tmp_path))
    path = UPath(tmp_path) / "value"
    manager.dump_to_path(None, b"\0" * SIZE, path)  # type: ignore[arg-type]
    writer = mp.get_context("spawn").Process(target=_writer, args=(str(tmp_path), 150))
    writer.start()
    reads = 0
    while writer.is_alive() or reads == 0:
        value = manager.load_from_path(None, path)  # type: ignore[arg-type]
        assert len(value) == SIZE and value.count(value[:1]) == SIZE, "read a torn value"
        reads += 1
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert reads > 1
    assert [p.name for p in tmp_path.iterdir()] == ["value"], "temporary files left behind"


def test_values_round_trip_through_dagster_at_the_asset_path(tmp_path: Path) -> None:
    @dg.asset
    def upstream() -> dict[str, int]:
        return {"rows": 3}

    seen: list[dict[str, int]] = []

    @dg.asset
    def downstream(upstream: dict[str, int]) -> int:
        seen.append(upstream)
        return upstream["rows"] * 2

    io = AtomicFilesystemIOManager(base_dir=str(tmp_path))
    result = dg.materialize([upstream, downstream], resources={"io_manager": io})
    assert result.success
    assert seen == [{"rows": 3}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downstream", "upstream"]


def test_an_unpicklable_output_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    lock = threading.Lock()  # cannot be pickled

    @dg.asset
    def holds_a_lock() -> object:
        return lock

    io = AtomicFilesystemIOManager(base_dir=str(tmp_path))
    with pytest.raises(dg.DagsterInvariantViolationError, match=r"cannot be pickled.*ArtifactHandle"):
        dg.materialize([holds_a_lock], resources={"io_manager": io})
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_no_base_dir_and_no_instance_is_a_clear_error() -> None:
    context = SimpleNamespace(instance=None)  # e.g. a resource context built outside any instance
    with pytest.raises(dg.DagsterInvariantViolationError, match="needs base_dir"):
        AtomicFilesystemIOManager().create_io_manager(context)  # type: ignore[arg-type]


def test_default_base_dir_is_the_instance_storage_directory(tmp_path: Path) -> None:
    @dg.asset
    def stored() -> int:
        return 7

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            [stored], instance=instance, resources={"io_manager": AtomicFilesystemIOManager()}
        )
        assert result.success
        assert (Path(instance.storage_directory()) / "stored").is_file()


def test_a_remote_base_path_is_refused_with_what_to_set() -> None:
    manager = AtomicPickleIOManager(base_path=UPath("memory:///storage"))
    with pytest.raises(dg.DagsterInvariantViolationError, match=r"local directory only.*set base_dir"):
        manager.dump_to_path(None, {"rows": 3}, UPath("memory:///storage/value"))  # type: ignore[arg-type]
    assert not UPath("memory:///storage").exists()
