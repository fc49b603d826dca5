"""`footprint sql`: read-only by parsing and by opening the file read-only; csv/json/table output."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest

from warehouse.cli.errors import CliError
from warehouse.cli.sql import read_only_statements

WRITES = [
    "INSERT INTO person_time VALUES ('f', 'b', 'm', 'p', 'r', 1, '')",
    "insert into person_time select * from person_time",
    "WITH x AS (SELECT * FROM person_time) INSERT INTO person_time SELECT * FROM x",
    "select 1; drop table materialization",
    "UPDATE materialization SET asset_key = 'x'",
    "delete from materialization",
    "CREATE TABLE t (a INT)",
    "create or replace view v as select 1",
    "DROP VIEW IF EXISTS asset_footprint",
    "ALTER TABLE materialization ADD COLUMN x INT",
    "ATTACH '/tmp/other.duckdb' AS other",
    "COPY materialization TO '/tmp/out.csv'",
    "INSTALL httpfs",
    "load httpfs",
    "SET threads = 1",
    "EXPORT DATABASE '/tmp/dump'",
    "CHECKPOINT",
    "explain analyze insert into person_time select * from person_time",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.csv'",
    "PRAGMA enable_profiling",
    "-- sneaky\nDELETE FROM materialization",
    "BEGIN TRANSACTION",
    "VACUUM",
]
READS = [
    "SELECT 1",
    "with x as (select 1 as a) select * from x",
    "FROM materialization",
    "VALUES (1), (2)",
    "DESCRIBE materialization",
    "SHOW TABLES",
    "SUMMARIZE materialization",
    "EXPLAIN SELECT * FROM materialization",
    "PRAGMA show_tables",
    "pragma table_info('materialization')",
    "/* a comment */ SELECT 2; SELECT 3",
]


@pytest.mark.parametrize("query", WRITES)
def test_guard_refuses_writing_statements(query: str) -> None:
    with pytest.raises(CliError, match="read-only") as info:
        read_only_statements(query)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("query", READS)
def test_guard_lets_reads_through(query: str) -> None:
    assert read_only_statements(query)


def test_guard_rejects_garbage_with_a_parse_message() -> None:
    with pytest.raises(CliError, match="cannot parse"):
        read_only_statements("SELEC 1")


def test_cli_refuses_writes_and_changes_nothing(cli, one_line_error, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    for query in (
        "insert into person_time select * from person_time",
        "WITH x AS (SELECT * FROM materialization) DELETE FROM materialization",
        "SELECT count(*) FROM materialization; DROP TABLE materialization",
        "COPY materialization TO 'leak.csv'",
    ):
        proc = cli("sql", query)
        one_line_error(proc, "read-only")
        assert proc.returncode == 2
    after = cli("sql", "SELECT count(*) AS n FROM materialization", "--format", "json")
    assert json.loads(after.stdout) == [{"n": 3}]


def test_refusal_comes_before_opening_the_warehouse(cli, one_line_error, home) -> None:  # type: ignore[no-untyped-def]
    proc = cli("sql", "DROP TABLE materialization")
    one_line_error(proc, "DROP")
    assert proc.returncode == 2
    assert not home.warehouse_path.exists()


def test_csv_and_json_formats(cli, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    query = "SELECT asset_key, run_id, started_at, fact_id FROM materialization ORDER BY started_at"
    as_csv = cli("sql", query, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["asset_key"] for r in rows] == ["raw_corpus", "raw_corpus", "clean_corpus"]
    as_json = cli("sql", query, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    assert [r["run_id"] for r in records] == ["run-old", "run-new", "run-new"]
    assert records[0]["started_at"].startswith("2026-11-01")
    # fact ids (DuckDB UUIDs) print in their canonical form in both formats
    assert [str(uuid.UUID(r["fact_id"])) for r in records] == [r["fact_id"] for r in rows]


def test_table_format_and_bad_sql(cli, one_line_error, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    proc = cli("sql", "SELECT asset_key, count(*) AS n FROM materialization GROUP BY 1 ORDER BY 1")
    assert proc.returncode == 0, proc.stderr
    assert "clean_corpus" in proc.stdout and "raw_corpus" in proc.stdout
    missing = cli("sql", "SELECT * FROM no_such_table")
    one_line_error(missing, "query failed", "no_such_table")


def test_missing_warehouse(cli, one_line_error, home) -> None:  # type: ignore[no-untyped-def]
    proc = cli("sql", "SELECT 1")
    one_line_error(proc, str(home.warehouse_path), "footprint sync")
    assert proc.returncode == 1
