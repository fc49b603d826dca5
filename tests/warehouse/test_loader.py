"""Loader hardening: quarantine, idempotency, pending counts, lock and missing-warehouse errors."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from tests.warehouse_holder import hold_warehouse
from warehouse.batches import pending_batches, write_batch
from warehouse.connection import WarehouseLockedError, WarehouseMissingError, connect
from warehouse.facts import FactBatch, Materialization, PersonTime
from warehouse.home import FootprintHome
from warehouse.loader import pending_count, sync, try_sync

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def batch(mid: str, n_people: int = 2) -> FactBatch:
    b = FactBatch().add(Materialization(mid, "run", "asset", T0))
    return b.add(*[PersonTime(mid, f"p{i}", "eng", 60.0) for i in range(n_people)])


def count(home: FootprintHome, sql: str) -> int:
    con = connect(home, read_only=True)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def test_corrupt_batches_are_quarantined_and_the_rest_load(home: FootprintHome) -> None:
    good = [write_batch(home, batch(f"ok{i}")) for i in range(3)]
    truncated = write_batch(home, batch("trunc"))
    no_manifest = write_batch(home, batch("nomanifest"))
    bad_manifest = write_batch(home, batch("badmanifest"))
    assert truncated and no_manifest and bad_manifest and all(good)
    data = (truncated / "person_time.parquet").read_bytes()
    (truncated / "person_time.parquet").write_bytes(data[: len(data) // 2])
    (no_manifest / "MANIFEST").unlink()
    (bad_manifest / "MANIFEST").write_text("person_time\tmany\n")
    assert pending_count(home) == 6
    res = sync(home)
    assert res.loaded_batches == 3 and res.loaded_facts == 3 * 3 and res.pending_left == 0
    assert set(res.quarantined) == {truncated.name, no_manifest.name, bad_manifest.name}
    reason = (home.quarantine_dir / truncated.name / "REASON.txt").read_text()
    assert "person_time.parquet is unreadable" in reason
    assert "MANIFEST missing" in (home.quarantine_dir / no_manifest.name / "REASON.txt").read_text()
    assert count(home, "SELECT count(*) FROM quarantined_batch") == 3
    assert count(home, "SELECT count(*) FROM materialization") == 3


def test_renamed_copy_of_a_batch_is_quarantined(home: FootprintHome) -> None:
    path = write_batch(home, batch("a"))
    assert path is not None
    shutil.copytree(path, path.parent / "20990101T000000000000-copy")
    res = sync(home)
    assert res.loaded_batches == 1 and list(res.quarantined) == ["20990101T000000000000-copy"]
    assert "holds facts of batch" in res.quarantined["20990101T000000000000-copy"]


def test_duplicate_materialization_fails_only_its_batch(home: FootprintHome) -> None:
    write_batch(home, batch("same"))
    write_batch(home, batch("same"))
    write_batch(home, batch("other"))
    res = sync(home)
    assert res.loaded_batches == 2 and len(res.quarantined) == 1
    assert "load failed" in next(iter(res.quarantined.values()))
    assert count(home, "SELECT count(*) FROM materialization") == 2


def test_already_loaded_batch_is_skipped(home: FootprintHome, tmp_path: Path) -> None:
    path = write_batch(home, batch("once"))
    assert path is not None
    kept = tmp_path / "copy"
    shutil.copytree(path, kept)
    assert sync(home).loaded_batches == 1
    shutil.copytree(kept, path)  # a crash between commit and retire leaves the batch behind
    res = sync(home)
    assert res.skipped_batches == 1 and res.loaded_batches == 0 and pending_batches(home) == []
    assert count(home, "SELECT count(*) FROM person_time") == 2


def test_missing_warehouse_is_a_clear_error(home: FootprintHome) -> None:
    with pytest.raises(WarehouseMissingError, match="footprint sync"):
        connect(home, read_only=True)


def test_locked_warehouse_keeps_facts_pending(home: FootprintHome) -> None:
    sync(home)
    with hold_warehouse(home.warehouse_path, probe_sql="SELECT count(*) FROM materialization"):
        write_batch(home, batch("later"))
        res = try_sync(home, wait_s=0.2)
        assert res.locked and res.pending_left == 1
        with pytest.raises(WarehouseLockedError, match="locked by another process"):
            sync(home, wait_s=0.2)
    assert sync(home).loaded_batches == 1
