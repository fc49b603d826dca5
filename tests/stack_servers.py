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

The servers outlive a killed session (they run in sessions of their own), so each is noted in
`$FOOTPRINT_TEST_CACHE/stack-servers/` (no secrets: where it is and its ports) with the session's
pid; the next session stops and removes those whose session is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import psutil
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


def _registry() -> Path:
    cache = Path(os.environ.get("FOOTPRINT_TEST_CACHE") or "~/.cache/footprint-tests").expanduser()
    return cache / "stack-servers"


@contextlib.contextmanager
def _noted(kind: str, where: dict[str, object], owner_pid: int | None = None) -> Iterator[None]:
    """Note a running server of this session (`owner_pid`) for the orphan sweep while the block runs."""
    owner = owner_pid or os.getpid()
    registry = _registry()
    registry.mkdir(parents=True, exist_ok=True)
    note = registry / f"{kind}-{owner}-{secrets.token_hex(4)}.json"
    note.write_text(json.dumps({"kind": kind, "owner_pid": owner, **where}))
    try:
        yield
    finally:
        note.unlink(missing_ok=True)


def _sweep_orphans() -> None:
    """Stop the servers of sessions that were killed before their teardown."""
    for note in sorted(_registry().glob("*.json")):
        try:
            seen = json.loads(note.read_text())
            if psutil.pid_exists(int(seen["owner_pid"])):
                continue
            if seen["kind"] == "postgres":
                PostgresCluster(Path(seen["root"]), int(seen["port"]), password="").destroy()
            else:
                SeaweedServer(Path(seen["root"]), SeaweedPorts(**seen["ports"]), "", "").stop()
        except (OSError, ValueError, KeyError, TypeError, StackError):
            continue  # left for a later sweep; never a reason to fail this session
        note.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    _require(bin_dir)
    _sweep_orphans()
    cluster = PostgresCluster.under(
        tmp_path_factory.mktemp("postgres"), port=free_ports(1)[0], password=secrets.token_hex(16)
    )
    with _noted("postgres", {"root": str(cluster.root), "port": cluster.port}):
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.destroy()  # stop, and remove the cluster dir (outside tmp when running as root)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    _require(weed_binary)
    _sweep_orphans()
    server = SeaweedServer(
        tmp_path_factory.mktemp("seaweed"),
        SeaweedPorts.choose(),
        access_key="FPTEST" + secrets.token_hex(6).upper(),
        secret_key=secrets.token_hex(20),
    )
    with _noted("seaweed", {"root": str(server.root), "ports": asdict(server.ports)}):
        try:
            server.start()
            yield server
        finally:
            server.stop()
