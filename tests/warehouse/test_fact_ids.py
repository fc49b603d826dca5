"""Fact ids are UUIDs (DuckDB's 16-byte type): new facts, a warehouse written when they were 32-character
hex strings (upgraded in place), and batches of that version still pending (cast on load)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.batches import write_batch
from warehouse.connection import WarehouseError, connect, schema_sql
from warehouse.facts import FACT_SCHEMAS, FactBatch, Materialization, PersonTime
from warehouse.home import FootprintHome
from warehouse.loader import sync

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _batch(mid: str) -> FactBatch:
    return FactBatch().add(Materialization(mid, "run", "asset", T0), PersonTime(mid, "ana", "eng", 60.0))


def _rows(home: FootprintHome, sql: str) -> list[tuple[object, ...]]:
    con = connect(home, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _legacy(path: Path, ids: list[str] | None = None) -> None:
    """Rewrite a batch file as the previous version wrote it: fact_id as a string column, by default
    each id as 32 hex characters."""
    table = pq.read_table(path)
    i = table.schema.get_field_index("fact_id")
    hex_ids = pa.array(ids if ids is not None else [u.hex for u in table.column(i).to_pylist()])
    field = pa.field("fact_id", pa.string(), nullable=False)
    pq.write_table(table.set_column(i, field, hex_ids), path)


def _old_warehouse(home: FootprintHome, fact_ids: list[str]) -> None:
    """A warehouse created by the previous schema (fact_id VARCHAR), holding person_time facts."""
    home.ensure()
    con = duckdb.connect(str(home.warehouse_path))
    try:
        con.execute(schema_sql().replace("fact_id UUID", "fact_id VARCHAR"))
        for i, fid in enumerate(fact_ids):
            con.execute(
                "INSERT INTO person_time VALUES (?, 'old', ?, 'ana', 'eng', 60.0, '')", [fid, f"m{i}"]
            )
    finally:
        con.close()


def test_new_facts_get_distinct_uuid_ids(home: FootprintHome) -> None:
    write_batch(home, _batch("a"))
    write_batch(home, _batch("b"))
    sync(home)
    rows = _rows(
        home,
        "SELECT typeof(fact_id), fact_id FROM person_time UNION ALL "
        "SELECT typeof(fact_id), fact_id FROM materialization",
    )
    assert {r[0] for r in rows} == {"UUID"}
    ids = [r[1] for r in rows]
    assert (
        len(ids) == 4 and len(set(ids)) == 4 and all(isinstance(i, uuid.UUID) and i.version == 4 for i in ids)
    )
    assert FACT_SCHEMAS["person_time"].field("fact_id").type == pa.uuid()


def test_older_warehouse_is_upgraded_in_place_keeping_its_ids(home: FootprintHome) -> None:
    old = [uuid.uuid4().hex for _ in range(3)]
    _old_warehouse(home, old)
    write_batch(home, _batch("new"))
    res = sync(home)
    assert res.loaded_batches == 1
    types = _rows(home, "SELECT DISTINCT data_type FROM duckdb_columns() WHERE column_name = 'fact_id'")
    assert types == [("UUID",)]
    got = {r[0] for r in _rows(home, "SELECT fact_id FROM person_time WHERE batch_id = 'old'")}
    assert got == {uuid.UUID(h) for h in old}
    assert _rows(home, "SELECT count(*) FROM person_time") == [(4,)]


def test_upgrade_refuses_a_hand_written_id_and_changes_nothing(home: FootprintHome) -> None:
    _old_warehouse(home, [uuid.uuid4().hex, "not-a-uuid"])
    write_batch(home, _batch("new"))
    with pytest.raises(
        WarehouseError, match=r"cannot upgrade the warehouse's fact tables .*person_time.* unchanged"
    ):
        sync(home)
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    try:
        types = con.execute(
            "SELECT DISTINCT data_type FROM duckdb_columns() WHERE column_name = 'fact_id'"
        ).fetchall()
    finally:
        con.close()
    assert types == [("VARCHAR",)]  # every table, not only the ones before person_time
    assert len(list(home.pending_dir.iterdir())) == 1  # the new batch waits, untouched


def test_pending_batch_of_the_previous_version_loads_with_its_ids(home: FootprintHome) -> None:
    path = write_batch(home, _batch("legacy"))
    fresh = write_batch(home, _batch("fresh"))
    assert path is not None and fresh is not None
    expected = set(pq.read_table(path / "person_time.parquet").column("fact_id").to_pylist())
    _legacy(path / "person_time.parquet")
    _legacy(path / "materialization.parquet")
    res = sync(home)
    assert res.loaded_batches == 2 and not res.quarantined
    got = _rows(home, "SELECT fact_id FROM person_time WHERE materialization_id = 'legacy'")
    assert {r[0] for r in got} == expected and len(expected) == 1


def test_pending_batch_with_a_malformed_id_is_quarantined_and_others_load(home: FootprintHome) -> None:
    bad = write_batch(home, _batch("bad"))
    good = write_batch(home, _batch("good"))
    assert bad is not None and good is not None
    _legacy(bad / "person_time.parquet", ids=["zz"])
    res = sync(home)
    assert res.loaded_batches == 1 and list(res.quarantined) == [bad.name]
    assert "load failed" in res.quarantined[bad.name] and "UUID" in res.quarantined[bad.name]
    assert _rows(home, "SELECT materialization_id FROM materialization") == [("good",)]
