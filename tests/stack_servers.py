"""Real PostgreSQL and SeaweedFS (S3) servers for the distributed suites, session-scoped.

The servers are the local stack's own classes (pipelines/stack: one definition of how they start,
answer and stop), on free loopback ports, with data in the session's tmp dir and random credentials.

    def test_x(postgres_server, s3_server):
        postgres_server.dsn                      # postgresql://footprint:...@127.0.0.1:PORT/dagster
        postgres_server.restart()                # same port, same data
        bucket = s3_server.create_bucket("b-1")  # idempotent
        s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key
        s3_server.filesystem()                   # pyarrow S3FileSystem with those keys
        s3_server.stop(); ...; s3_server.start() # the store unreachable, then back (same ports)
        client_environment(postgres_server, s3_server, "s3://b-1/run")  # FOOTPRINT_STORE, AWS_*, DSN

A missing PostgreSQL or `weed` FAILS the fixture with what to run (scripts/ci-system-deps.sh,
`make install`): CI must run these suites, never skip them. A test that stops a server brings it
back (the fixtures are shared by the session); teardown stops both and waits for their ports.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.stack.errors import StackError
from pipelines.stack.local import client_environment
from pipelines.stack.ports import free_ports
from pipelines.stack.postgres import PostgresCluster, bin_dir
from pipelines.stack.seaweed import SeaweedPorts, SeaweedServer, weed_binary

__all__ = ["client_environment", "postgres_server", "s3_server"]


def _require(find_binary: Callable[[], Path]) -> None:
    """A missing server binary fails the test with the install hint."""
    try:
        find_binary()
    except StackError as err:
        pytest.fail(f"{err}  (the distributed suites need real servers; they do not skip)")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    _require(bin_dir)
    cluster = PostgresCluster.under(
        tmp_path_factory.mktemp("postgres"), port=free_ports(1)[0], password=secrets.token_hex(16)
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()  # stop, and remove the cluster dir (outside tmp when running as root)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    _require(weed_binary)
    server = SeaweedServer(
        tmp_path_factory.mktemp("seaweed"),
        SeaweedPorts.choose(),
        access_key="FPTEST" + secrets.token_hex(6).upper(),
        secret_key=secrets.token_hex(20),
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
