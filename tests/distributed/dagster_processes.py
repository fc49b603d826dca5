"""Dagster processes against deploy/dagster.yaml: each with its own empty DAGSTER_HOME (only that
file in it) and working dir, sharing only the environment (Postgres DSN, store URL, S3 keys)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY_YAML = REPO / "deploy" / "dagster.yaml"
TINY_ASSETS = Path(__file__).with_name("tiny_assets.py")
BIN = Path(sys.executable).parent


def fresh_home(base: Path) -> Path:
    """A new DAGSTER_HOME holding only deploy/dagster.yaml (and a working dir beside it)."""
    home = base / f"host-{uuid.uuid4().hex[:8]}"
    (home / "dagster_home").mkdir(parents=True)
    (home / "cwd").mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster_home" / "dagster.yaml")
    return home


def process_env(home: Path, shared: dict[str, str]) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONDONTWRITEBYTECODE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(shared)
    env["DAGSTER_HOME"] = str(home / "dagster_home")
    env["FOOTPRINT_HOME"] = str(home / "footprint")
    return env


def materialize(
    select: str, base: Path, shared: dict[str, str], timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """`dagster asset materialize -f tiny_assets.py --select SELECT` on a fresh 'host'."""
    home = fresh_home(base)
    return subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-f", str(TINY_ASSETS), "--select", select],
        env=process_env(home, shared),
        cwd=home / "cwd",
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


QUERY = """
import json
from dagster import AssetKey, DagsterInstance
instance = DagsterInstance.get()
runs = [{"run_id": r.run_id, "status": r.status.value} for r in instance.get_runs()]
mats = {}
for key in ("numbers", "doubled"):
    event = instance.get_latest_materialization_event(AssetKey(key))
    if event is not None:
        meta = event.asset_materialization.metadata
        mats[key] = {"run_id": event.run_id, "rows": meta["rows"].value}
print(json.dumps({"storage": type(instance.run_storage).__name__, "runs": runs, "materializations": mats}))
"""


def query_instance(base: Path, shared: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs and latest materializations, read through DagsterInstance.get() on another fresh 'host'."""
    home = fresh_home(base)
    return subprocess.run(
        [sys.executable, "-c", QUERY],
        env=process_env(home, shared),
        cwd=home / "cwd",
        capture_output=True,
        text=True,
        timeout=120,
    )
