"""`scripts/stack.sh up / env / status / down` in a fresh FOOTPRINT_HOME: real servers come up on
loopback, `env` gives working credentials (and is the only command that prints them), `up` again is
a no-op, `down` frees every port."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg2
import pyarrow.fs as pafs
import pytest

from pipelines.stack.local import StackPaths, open_stack
from pipelines.stack.ports import port_answers

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def _stack(command: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOOTPRINT_HOME": str(home), "PY": sys.executable}
    for key in ("DAGSTER_PG_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FOOTPRINT_STORE"):
        env.pop(key, None)
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "stack.sh"), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        key, _, value = words[1].partition("=")
        found[key] = value
    return found


def test_up_env_status_down_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = _stack("up", home)
    try:
        assert up.returncode == 0, up.stderr
        state = home / "stack"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "credentials.json").stat().st_mode) == 0o600
        secrets = json.loads((state / "credentials.json").read_text())

        env = _stack("env", home)
        assert env.returncode == 0, env.stderr
        exported = _exports(env.stdout)
        assert set(exported) == {
            "FOOTPRINT_STORE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_REQUEST_CHECKSUM_CALCULATION",
            "DAGSTER_PG_URL",
        }
        assert exported["AWS_SECRET_ACCESS_KEY"] == secrets["s3_secret_key"]
        assert exported["FOOTPRINT_STORE"].startswith("s3://footprint/")

        # the exported values reach both servers
        libpq_url = exported["DAGSTER_PG_URL"].replace("postgresql+psycopg2://", "postgresql://")
        with closing(psycopg2.connect(libpq_url)) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        fs = pafs.S3FileSystem(
            endpoint_override=exported["AWS_ENDPOINT_URL"],
            scheme="http",
            access_key=exported["AWS_ACCESS_KEY_ID"],
            secret_key=exported["AWS_SECRET_ACCESS_KEY"],
            region=exported["AWS_REGION"],
        )
        assert fs.get_file_info("footprint").type == pafs.FileType.Directory

        again = _stack("up", home)
        status = _stack("status", home)
        assert again.returncode == 0 and "already running" in again.stdout
        assert status.returncode == 0 and status.stdout.count("answering") == 2
        for said in (up, again, status):
            for secret in secrets.values():
                assert secret not in said.stdout + said.stderr
        assert secrets["s3_secret_key"] not in (state / "seaweed" / "weed.log").read_text()
        opened = open_stack(StackPaths.resolve(state))
        assert opened is not None
        assert secrets["postgres_password"] not in opened.postgres.log.read_text()
        ports = json.loads((state / "stack.json").read_text())
        listening = [ports["postgres_port"], *ports["seaweed_ports"].values()]
        assert all(port_answers(p) for p in listening)
    finally:
        down = _stack("down", home)
        if down.returncode == 0:
            _stack("purge", home)  # the cluster may live outside tmp (as root: under ~postgres)
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not any(port_answers(p) for p in listening)
    after = _stack("env", home)
    assert after.returncode == 1 and "make stack-up" in after.stderr and after.stdout == ""


def test_purge_deletes_data_and_credentials(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = _stack("up", home)
    stack = open_stack(StackPaths.resolve(home / "stack"))
    try:
        assert up.returncode == 0, up.stderr
        assert stack is not None and stack.postgres.initialized()
    finally:
        purged = _stack("purge", home)
    assert purged.returncode == 0, purged.stderr
    assert not (home / "stack").exists()
    assert not stack.postgres.root.exists()
    assert not stack.s3.running() and not port_answers(stack.postgres.port)
