"""The Dagster UI in a real browser: `make dev` (scripts/dev.sh -> `dagster dev`) on a temp
FOOTPRINT_HOME, headless Debian Chromium through Playwright, "Materialize all", wait for the run to
succeed (asked through GraphQL, never by grepping logs), then the asset page shows footprint metadata.

Screenshots land in test-artifacts/ui/ (kept by CI as artifacts). Skips only when chromium is absent
(scripts/ci-system-deps.sh installs it); every other problem fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
# The asset whose page must show footprint metadata (override while developing a partial graph).
ASSET_TO_OPEN = os.environ.get("FOOTPRINT_UI_ASSET", "finetuned_model")
METADATA_TEXT = "footprint/energy_kwh"
STARTUP_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = float(os.environ.get("FOOTPRINT_UI_RUN_TIMEOUT_S", "600"))
TERMINAL_FAILURES = {"FAILURE", "CANCELED", "CANCELING"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: run `bash scripts/ci-system-deps.sh` (apt-get install chromium)",
    ),
]


@dataclass
class DagsterDev:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload: dict[str, Any] = json.load(resp)
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        data: dict[str, Any] = payload["data"]
        return data

    def log_tail(self, n_chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (dagster dev, code servers, daemon), then SIGKILL leftovers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
    proc.wait(timeout=10)


@pytest.fixture
def dagster_dev(home: Any, tmp_path: Path) -> Iterator[DagsterDev]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        FOOTPRINT_HOME=str(home.root),
        DAGSTER_PORT=str(port),
        DAGSTER_HOST="127.0.0.1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    log_path = tmp_path / "dagster-dev.log"
    with log_path.open("wb") as log:
        # start_new_session: dagster dev and every child share one process group we can stop at once.
        proc = subprocess.Popen(
            ["bash", "scripts/dev.sh"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    dev = DagsterDev(url, proc, log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"dagster dev exited with {proc.returncode}:\n{dev.log_tail()}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"dagster dev gave no /server_info in {STARTUP_TIMEOUT_S} s:\n{dev.log_tail()}"
                )
            time.sleep(0.5)
        yield dev
    finally:
        _stop_group(proc)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "dagster-dev.log").write_bytes(log_path.read_bytes())


RUNS_QUERY = """
query Runs { runsOrError(limit: 20) { __typename
  ... on Runs { results { runId status } }
  ... on PythonError { message } } }
"""

RUN_STEPS_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status assetMaterializations { assetKey { path } } }
  ... on PythonError { message } } }
"""


def _wait_for_run(dev: DagsterDev) -> str:
    """The run the click launched, once it is SUCCESS; fails on FAILURE/CANCELED or timeout."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = "none launched"
    while time.monotonic() < deadline:
        runs = dev.graphql(RUNS_QUERY)["runsOrError"]
        assert runs["__typename"] == "Runs", runs
        if runs["results"]:
            run = runs["results"][0]
            status = run["status"]
            if status == "SUCCESS":
                return str(run["runId"])
            if status in TERMINAL_FAILURES:
                raise AssertionError(f"run {run['runId']} ended {status}; dagster dev log:\n{dev.log_tail()}")
        time.sleep(2)
    raise AssertionError(
        f"run not successful after {RUN_TIMEOUT_S} s (last status {status}):\n{dev.log_tail()}"
    )


def _skip_community_popup(page: Any) -> None:
    """First visit shows "Join the Dagster community" with a Skip button; later visits may not."""
    skip = page.get_by_role("button", name=re.compile(r"^\s*Skip\s*$"))
    try:
        skip.first.wait_for(state="visible", timeout=8000)
    except Exception:  # Playwright TimeoutError: no pop-up this time
        return
    skip.first.click()
    skip.first.wait_for(state="hidden", timeout=5000)


def test_materialize_all_in_the_ui_shows_footprint_metadata(dagster_dev: DagsterDev) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{dagster_dev.url}/asset-groups", wait_until="domcontentloaded")
            _skip_community_popup(page)
            materialize_all = page.get_by_role("button", name=re.compile("Materialize all"))
            expect(materialize_all.first).to_be_enabled(timeout=60_000)
            # The graph must show the asset we will open, before anything is launched.
            expect(page.get_by_text(ASSET_TO_OPEN, exact=True).first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "01-asset-graph.png"))

            materialize_all.first.click()
            run_id = _wait_for_run(dagster_dev)
            run = dagster_dev.graphql(RUN_STEPS_QUERY, {"runId": run_id})["runOrError"]
            materialized = {"/".join(m["assetKey"]["path"]) for m in run["assetMaterializations"]}
            assert ASSET_TO_OPEN in materialized, f"run {run_id} materialized only {sorted(materialized)}"
            page.screenshot(path=str(ARTIFACTS / "02-after-run.png"))

            page.goto(f"{dagster_dev.url}/assets/{ASSET_TO_OPEN}", wait_until="domcontentloaded")
            _skip_community_popup(page)
            metadata = page.get_by_text(METADATA_TEXT).first
            expect(metadata).to_be_visible(timeout=60_000)
            metadata.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "03-asset-footprint-metadata.png"), full_page=True)
        finally:
            browser.close()
