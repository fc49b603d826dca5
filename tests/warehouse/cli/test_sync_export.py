"""`footprint sync` (quarantine, lock, many batches) and `footprint export --parquet`."""

from __future__ import annotations

import pyarrow.parquet as pq

from warehouse.batches import write_batch
from warehouse.facts import FactBatch


def test_sync_quarantines_a_corrupt_batch_and_loads_the_rest(cli, home, facts) -> None:  # type: ignore[no-untyped-def]
    facts.write_small(home)
    bad = write_batch(
        home,
        facts.add_materialization(
            FactBatch(), "m-bad", "run-bad", "raw_corpus", facts.t0, seconds=1, joules=1.0
        ),
    )
    assert bad is not None
    (bad / "energy_reading.parquet").write_bytes(b"not parquet at all")
    proc = cli("sync")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "loaded 2 fact batches" in proc.stdout
    assert f"quarantined {bad.name}: energy_reading.parquet is unreadable" in proc.stdout
    assert (home.quarantine_dir / bad.name / "REASON.txt").exists()
    again = cli("sync")
    assert again.returncode == 0 and "loaded 0 fact batches" in again.stdout


def test_sync_many_batches_with_progress(cli, home, facts) -> None:  # type: ignore[no-untyped-def]
    for i in range(12):
        start = facts.t0.replace(minute=i)
        write_batch(
            home,
            facts.add_materialization(
                FactBatch(), f"m{i}", f"run{i}", "raw_corpus", start, seconds=1, joules=1.0
            ),
        )
    proc = cli("sync")
    assert proc.returncode == 0, proc.stderr
    assert "loaded 12 fact batches (60 facts)" in proc.stdout
    assert "pending 0" in proc.stdout


def test_sync_against_a_locked_warehouse(cli, one_line_error, small_warehouse, lock_holder, facts) -> None:  # type: ignore[no-untyped-def]
    home = small_warehouse.home
    write_batch(
        home,
        facts.add_materialization(FactBatch(), "m-x", "run-x", "raw_corpus", facts.t0, seconds=1, joules=1.0),
    )
    with lock_holder(home, read_only=True):
        proc = cli("sync", "--wait", "0.3")
    one_line_error(proc, "locked by another process", "1 fact batches pending", "--wait")
    assert proc.returncode == 1
    assert len(list(home.pending_dir.iterdir())) == 1  # nothing lost, nothing half-loaded


def test_export_writes_every_table_and_view(cli, small_warehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "export"
    proc = cli("export", "--parquet", str(out))
    assert proc.returncode == 0, proc.stderr
    written = {p.stem for p in out.glob("*.parquet")}
    for name in (
        "materialization",
        "energy_reading",
        "transfer",
        "lineage_edge",
        "person_time",
        "rate_card_version",
        "rate",
        "asset_footprint",
        "end_to_end_footprint",
    ):
        assert name in written, sorted(written)
    assert pq.read_table(out / "materialization.parquet").num_rows == 3
    footprint = pq.read_table(out / "asset_footprint.parquet")
    assert footprint.num_rows == 3 and "cost_usd" in footprint.column_names
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_export_without_a_warehouse(cli, one_line_error, home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = cli("export", "--parquet", str(tmp_path / "x"))
    one_line_error(proc, str(home.warehouse_path))
    assert proc.returncode == 1
