"""The fixtures' servers really serve: a Parquet round trip through S3 with the fixture's keys,
wrong keys refused without the secret in the error, Postgres answering with the DSN's password."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from contextlib import closing
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from pipelines.stack.ports import free_ports, port_answers
from pipelines.stack.postgres import PostgresCluster
from pipelines.stack.seaweed import REGION, SeaweedServer

pytestmark = pytest.mark.distributed


def test_parquet_round_trip_through_s3(s3_server: SeaweedServer) -> None:
    bucket = s3_server.create_bucket(f"t-{uuid.uuid4().hex[:12]}")
    table = pa.table({"batch_id": [f"b{i}" for i in range(5000)], "energy_j": [i * 0.5 for i in range(5000)]})
    fs = pafs.S3FileSystem(
        endpoint_override=s3_server.endpoint_url,
        scheme="http",
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        region=REGION,
    )
    pq.write_table(table, f"{bucket}/facts/part-0.parquet", filesystem=fs)
    assert pq.read_table(f"{bucket}/facts/part-0.parquet", filesystem=fs).equals(table)
    listed = fs.get_file_info(pafs.FileSelector(f"{bucket}/facts"))
    assert [info.base_name for info in listed] == ["part-0.parquet"]


def test_wrong_secret_is_refused_without_leaking_it(s3_server: SeaweedServer) -> None:
    bucket = s3_server.create_bucket(f"t-{uuid.uuid4().hex[:12]}")
    wrong = "wrong" + s3_server.secret_key[5:]
    fs = pafs.S3FileSystem(
        endpoint_override=s3_server.endpoint_url,
        scheme="http",
        access_key=s3_server.access_key,
        secret_key=wrong,
        region=REGION,
    )
    with pytest.raises(OSError) as denied:
        pq.write_table(pa.table({"x": [1]}), f"{bucket}/x.parquet", filesystem=fs)
    text = str(denied.value)
    assert "SIGNATURE_DOES_NOT_MATCH" in text or "ACCESS_DENIED" in text
    assert wrong not in text and s3_server.secret_key not in text
    assert not s3_server.filesystem().get_file_info(f"{bucket}/x.parquet").is_file


def test_unknown_access_key_is_refused(s3_server: SeaweedServer) -> None:
    fs = pafs.S3FileSystem(
        endpoint_override=s3_server.endpoint_url,
        scheme="http",
        access_key="NOSUCHKEY0000",
        secret_key=s3_server.secret_key,
        region=REGION,
    )
    with pytest.raises(OSError, match=r"ACCESS_DENIED|INVALID_ACCESS_KEY_ID") as denied:
        fs.get_file_info(pafs.FileSelector("/"))
    assert s3_server.secret_key not in str(denied.value)


def test_postgres_answers_with_the_dsn_and_refuses_a_wrong_password(postgres_server: PostgresCluster) -> None:
    with closing(psycopg2.connect(postgres_server.dsn)) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_user")
        assert cur.fetchone() == (postgres_server.database, postgres_server.user)
    wrong = postgres_server.dsn.replace(postgres_server.password, "not-the-password")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed") as refused:
        psycopg2.connect(wrong)
    assert postgres_server.password not in str(refused.value)


def test_postgres_restart_keeps_data_and_port(postgres_server: PostgresCluster) -> None:
    table = f"t_{uuid.uuid4().hex[:10]}"
    with closing(psycopg2.connect(postgres_server.dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (42)")
    postgres_server.restart()
    with closing(psycopg2.connect(postgres_server.dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(f"SELECT n FROM {table}")
        assert cur.fetchone() == (42,)
        cur.execute(f"DROP TABLE {table}")


def test_s3_stop_makes_the_store_unreachable_and_start_brings_it_back(s3_server: SeaweedServer) -> None:
    bucket = s3_server.create_bucket(f"t-{uuid.uuid4().hex[:12]}")
    fs = s3_server.filesystem()
    pq.write_table(pa.table({"x": [1, 2]}), f"{bucket}/kept.parquet", filesystem=fs)
    s3_server.stop()
    try:
        assert not s3_server.answers()
        down = pafs.S3FileSystem(
            endpoint_override=s3_server.endpoint_url,
            scheme="http",
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
            region=REGION,
            connect_timeout=1,
            request_timeout=2,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        )
        with pytest.raises(OSError) as unreachable:
            down.get_file_info(f"{bucket}/kept.parquet")
        assert s3_server.secret_key not in str(unreachable.value)
    finally:
        s3_server.start()
    back = pq.read_table(f"{bucket}/kept.parquet", filesystem=s3_server.filesystem())
    assert back.column("x").to_pylist() == [1, 2]


def test_servers_of_a_killed_session_are_stopped_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.stack_servers import _noted, _sweep_orphans

    monkeypatch.setenv("FOOTPRINT_TEST_CACHE", str(tmp_path / "cache"))
    orphan = PostgresCluster.under(tmp_path / "pg", port=free_ports(1)[0], password=secrets.token_hex(8))
    orphan.start()
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        with _noted("postgres", {"root": str(orphan.root), "port": orphan.port}, owner_pid=dead.pid):
            _sweep_orphans()
            assert not orphan.running() and not orphan.root.exists()
            assert not port_answers(orphan.port)
    finally:
        orphan.destroy()
