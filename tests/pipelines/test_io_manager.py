"""The code location's I/O manager: values round-trip through Dagster at `<base_dir>/<asset key>`, a
reader racing a writer in another process only ever sees whole values, and an unpicklable output is
refused with a message that says what to return instead (nothing left behind). With a remote store
(here file:///<tmp>/store) the values live in the store, read from another home, with the same
whole-value guarantee."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from upath import UPath

from pipelines.io_manager import AtomicFilesystemIOManager, AtomicPickleIOManager, StorePickleIOManager
from pipelines.resources import FootprintHomeResource
from warehouse.store import StoreError

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


def _pair() -> tuple[dg.AssetsDefinition, dg.AssetsDefinition, list[dict[str, int]]]:
    """`upstream` -> `downstream`, and the values downstream was handed."""

    @dg.asset
    def upstream() -> dict[str, int]:
        return {"rows": 3}

    seen: list[dict[str, int]] = []

    @dg.asset
    def downstream(upstream: dict[str, int]) -> int:
        seen.append(upstream)
        return upstream["rows"] * 2

    return upstream, downstream, seen


def test_values_round_trip_through_dagster_at_the_asset_path(tmp_path: Path) -> None:
    upstream, downstream, seen = _pair()
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


def _store_io(tmp_path: Path, home: str = "h") -> AtomicFilesystemIOManager:
    footprint = FootprintHomeResource(root=str(tmp_path / home), store_url=f"file://{tmp_path}/store")
    return AtomicFilesystemIOManager(footprint=footprint)


def test_with_a_remote_store_values_live_in_the_store(tmp_path: Path) -> None:
    upstream, downstream, seen = _pair()
    result = dg.materialize([upstream], resources={"io_manager": _store_io(tmp_path, "a")})
    assert result.success
    pickles = tmp_path / "store" / "dagster" / "storage"
    assert sorted(p.name for p in pickles.iterdir()) == ["upstream"]
    # another home (another machine): the input comes from the store
    result = dg.materialize(
        [upstream, downstream], selection=[downstream.key], resources={"io_manager": _store_io(tmp_path, "b")}
    )
    assert result.success and seen == [{"rows": 3}]
    assert sorted(p.name for p in pickles.iterdir()) == ["downstream", "upstream"]
    meta = result.asset_materializations_for_node("downstream")[0].metadata
    assert meta["pickle"].value == f"file://{tmp_path}/store/dagster/storage/downstream"


def _store_writer(tmp_path: str, rounds: int) -> None:
    manager = StorePickleIOManager(_store_io(Path(tmp_path)).footprint.store())  # type: ignore[union-attr]
    for i in range(rounds):
        context = dg.build_output_context(asset_key=dg.AssetKey("value"))
        manager.handle_output(context, bytes([i % 251]) * SIZE)


def test_a_store_reader_racing_a_writer_sees_only_whole_values(tmp_path: Path) -> None:
    manager = StorePickleIOManager(_store_io(tmp_path).footprint.store())  # type: ignore[union-attr]
    manager.handle_output(dg.build_output_context(asset_key=dg.AssetKey("value")), b"\0" * SIZE)
    writer = mp.get_context("spawn").Process(target=_store_writer, args=(str(tmp_path), 100))
    writer.start()
    reads = 0
    while writer.is_alive() or reads == 0:
        value = manager.load_input(dg.build_input_context(asset_key=dg.AssetKey("value")))
        assert len(value) == SIZE and value.count(value[:1]) == SIZE, "read a torn value"
        reads += 1
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert reads > 1
    assert [p.name for p in (tmp_path / "store/dagster/storage").iterdir()] == ["value"], "temp files left"


def test_a_value_missing_from_the_store_says_where(tmp_path: Path) -> None:
    manager = StorePickleIOManager(_store_io(tmp_path).footprint.store())  # type: ignore[union-attr]
    with pytest.raises(StoreError, match=r"dagster/storage/nothing_here does not exist.*FOOTPRINT_STORE"):
        manager.load_input(dg.build_input_context(asset_key=dg.AssetKey("nothing_here")))
