"""Dagster on Postgres through deploy/dagster.yaml, with every process on its own 'host' (fresh
DAGSTER_HOME and working dir): the run and its materialization land in Postgres; Postgres restarted
between two steps loses nothing; while it is down a materialize fails with a clear message that
does not hold the DSN's password."""

from __future__ import annotations

import json
import uuid
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from pipelines.stack.postgres import PostgresCluster
from pipelines.stack.seaweed import SeaweedServer
from tests.distributed.dagster_processes import materialize, query_instance
from tests.stack_servers import client_environment

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def _shared(pg: PostgresCluster, s3: SeaweedServer) -> tuple[PostgresCluster, dict[str, str]]:
    """A database of its own on the session's server, a bucket prefix of its own, and the env."""
    name = f"t{uuid.uuid4().hex[:10]}"
    db = pg.with_database(name)
    bucket = s3.create_bucket("dagster-tests")
    return db, client_environment(db, s3, f"s3://{bucket}/{name}")


def _ok(done: object) -> None:
    assert getattr(done, "returncode", None) == 0, (
        f"exit {getattr(done, 'returncode', None)}\n{getattr(done, 'stdout', '')[-3000:]}"
        f"\n{getattr(done, 'stderr', '')[-3000:]}"
    )


def _instance(tmp_path: Path, shared: dict[str, str]) -> dict[str, object]:
    done = query_instance(tmp_path, shared)
    _ok(done)
    parsed: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def test_materialize_records_run_and_event_in_postgres(
    postgres_server: PostgresCluster, s3_server: SeaweedServer, tmp_path: Path
) -> None:
    db, shared = _shared(postgres_server, s3_server)
    done = materialize("numbers", tmp_path, shared)
    _ok(done)
    assert db.password not in done.stdout + done.stderr

    # straight from Postgres, without Dagster
    with closing(psycopg2.connect(db.dsn)) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, status FROM runs")
        runs = cur.fetchall()
        cur.execute(
            "SELECT run_id FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
            "AND asset_key = %s",
            ('["numbers"]',),
        )
        events = cur.fetchall()
    assert [status for _, status in runs] == ["SUCCESS"]
    assert [run_id for (run_id,) in events] == [runs[0][0]]

    # and through the instance, from another fresh host
    seen = _instance(tmp_path, shared)
    assert seen["storage"] == "PostgresRunStorage"
    assert seen["materializations"] == {"numbers": {"run_id": runs[0][0], "rows": 10}}


def test_postgres_restarted_between_steps(
    postgres_server: PostgresCluster, s3_server: SeaweedServer, tmp_path: Path
) -> None:
    db, shared = _shared(postgres_server, s3_server)
    _ok(materialize("numbers", tmp_path, shared))

    db.restart()
    _ok(materialize("doubled", tmp_path, shared))

    seen = _instance(tmp_path, shared)
    runs = seen["runs"]
    assert isinstance(runs, list)
    assert sorted(r["status"] for r in runs) == ["SUCCESS", "SUCCESS"]
    mats = seen["materializations"]
    assert isinstance(mats, dict)
    assert mats["numbers"]["rows"] == 10 and mats["doubled"]["rows"] == 10
    assert {mats["numbers"]["run_id"], mats["doubled"]["run_id"]} == {r["run_id"] for r in runs}


def test_materialize_while_postgres_is_down_fails_clearly(
    postgres_server: PostgresCluster, s3_server: SeaweedServer, tmp_path: Path
) -> None:
    db, shared = _shared(postgres_server, s3_server)
    db.stop()
    try:
        done = materialize("numbers", tmp_path, shared)
    finally:
        db.start()
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"port {db.port} failed: Connection refused" in output, output[-3000:]
    assert db.password not in output
    # nothing was recorded for it, and the instance works again
    seen = _instance(tmp_path, shared)
    assert seen["runs"] == [] and seen["materializations"] == {}


def test_a_long_lived_instance_survives_the_restart(
    postgres_server: PostgresCluster,
    s3_server: SeaweedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the daemon and the webserver are: one process holding the instance across the restart."""
    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    from tests.distributed.dagster_processes import fresh_home

    db, shared = _shared(postgres_server, s3_server)
    monkeypatch.setenv("DAGSTER_PG_URL", shared["DAGSTER_PG_URL"])
    home = fresh_home(tmp_path) / "dagster_home"
    with DagsterInstance.from_config(str(home)) as instance:
        before = instance.add_run(DagsterRun(job_name="before", status=DagsterRunStatus.SUCCESS))
        db.restart()
        after = instance.add_run(DagsterRun(job_name="after", status=DagsterRunStatus.SUCCESS))
        assert {r.run_id for r in instance.get_runs()} == {before.run_id, after.run_id}
