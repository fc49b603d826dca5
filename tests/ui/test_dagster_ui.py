"""The Dagster UI in a real browser: `make dev` (scripts/dev.sh -> `dagster dev`) on a temp
FOOTPRINT_HOME, headless Debian Chromium through Playwright, "Materialize all", wait for the run to
succeed (asked through GraphQL, never by grepping logs), then the asset page shows footprint metadata.

The graph's annotation stage talks to the real Label Studio (the session fixture of tests/labeling).
Fine-tuning needs labelled tasks, so before the click the test does what `make demo` does: it
materializes the stages up to `label_tasks` from the CLI on the same instance and lets the SIMULATED
replay annotators label some tasks; "Materialize all" then re-imports nothing new and syncs them.

Screenshots land in test-artifacts/ui/ (kept by CI as artifacts). Skips only when chromium is absent
(scripts/ci-system-deps.sh installs it); every other problem fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.labelstudio_fixtures import LiveLabelStudio

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
# The asset whose page must show footprint metadata (override while developing a partial graph).
ASSET_TO_OPEN = os.environ.get("FOOTPRINT_UI_ASSET", "finetuned_model")
METADATA_TEXT = "footprint/energy_kwh"
REPORT_ASSET = "footprint_report"
# Stages materialized from the CLI before the click, so the replay annotators have tasks to label.
PREPARE_ASSETS = ("raw_corpus", "clean_corpus", "label_tasks")
REPLAY_TASKS = 40  # fine-tuning needs at least FinetuneConfig.min_labelled (20) labelled tasks
VENV_BIN = Path(sys.executable).parent
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
    env: dict[str, str]

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


def _dev_env(home: Any, labelstudio: LiveLabelStudio, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FOOTPRINT_HOME=str(home.root),
        DAGSTER_HOME=str(home.dagster_home),
        DAGSTER_PORT=str(port),
        DAGSTER_HOST="127.0.0.1",
        VENV_BIN=str(VENV_BIN),
        LABEL_STUDIO_URL=labelstudio.url,
        LABEL_STUDIO_API_KEY=labelstudio.token,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        # this test labels 40 tasks with the replay tool before the click (fewer than make dev's 240)
        FOOTPRINT_SIMULATE_ANNOTATORS="0",
    )
    return env


@pytest.fixture
def dagster_dev(home: Any, tmp_path: Path, labelstudio_server: LiveLabelStudio) -> Iterator[DagsterDev]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _dev_env(home, labelstudio_server, port)
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
    dev = DagsterDev(url, proc, log_path, env)
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
query Runs { runsOrError(limit: 50) { __typename
  ... on Runs { results { runId status } }
  ... on PythonError { message } } }
"""

RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status assetMaterializations { assetKey { path } } }
  ... on PythonError { message } } }
"""

ASSET_PATH_QUERY = """
query AssetPath($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(limit: 1) { metadataEntries { label
    ... on PathMetadataEntry { path } } } } } }
"""


def _run_ids(dev: DagsterDev) -> set[str]:
    runs = dev.graphql(RUNS_QUERY)["runsOrError"]
    assert runs["__typename"] == "Runs", runs
    return {str(r["runId"]) for r in runs["results"]}


def _wait_for_new_run(dev: DagsterDev, known: set[str]) -> str:
    """The run the click launched (a run id not in `known`) once it is SUCCESS; fails on
    FAILURE/CANCELED or timeout, with the tail of the dagster dev log."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = "none launched"
    while time.monotonic() < deadline:
        runs = dev.graphql(RUNS_QUERY)["runsOrError"]["results"]
        new = [r for r in runs if r["runId"] not in known]
        if new:
            run = new[0]
            status = run["status"]
            if status == "SUCCESS":
                return str(run["runId"])
            if status in TERMINAL_FAILURES:
                raise AssertionError(f"run {run['runId']} ended {status}; dagster dev log:\n{dev.log_tail()}")
        time.sleep(2)
    raise AssertionError(
        f"no successful run after {RUN_TIMEOUT_S} s (last status {status}):\n{dev.log_tail()}"
    )


def _clean_corpus_path(dev: DagsterDev) -> str:
    """The Parquet of the latest clean_corpus: the ArtifactHandle its IO manager stored (the
    materialization's `path` entry names that pickle)."""
    import pickle

    from warehouse.artifacts import ArtifactHandle

    asset = dev.graphql(ASSET_PATH_QUERY, {"key": {"path": ["clean_corpus"]}})["assetOrError"]
    entries = asset["assetMaterializations"][0]["metadataEntries"]
    stored = Path(next(e["path"] for e in entries if e["label"] == "path"))
    if stored.read_bytes()[:4] == b"PAR1":
        return str(stored)
    with stored.open("rb") as f:
        handle = pickle.load(f)  # written by this test's own dagster instance
    assert isinstance(handle, ArtifactHandle), f"{stored} holds {type(handle)}, not an ArtifactHandle"
    return handle.path


def _prepare_labelled_tasks(dev: DagsterDev, labelstudio: LiveLabelStudio) -> None:
    """What `make demo` does before the main run: tasks in Label Studio, some labelled (SIMULATED)."""
    from labeling.client import LabelStudioClient
    from labeling.replay import ReplayConfig, replay
    from labeling.resource import AnnotationPolicy

    title = AnnotationPolicy().project_title
    with LabelStudioClient(labelstudio.url, labelstudio.token) as client:
        old = client.find_project(title)  # left by an earlier run of this test: start empty
        if old is not None:
            client.request("DELETE", f"/api/projects/{old['id']}/")
    done = subprocess.run(
        [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "pipelines.definitions",
         "--select", ",".join(PREPARE_ASSETS)],
        cwd=REPO, env=dev.env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"preparing {PREPARE_ASSETS} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    corpus = _clean_corpus_path(dev)
    with LabelStudioClient(labelstudio.url, labelstudio.token) as client:
        result = replay(client, title, corpus, ReplayConfig(n_tasks=REPLAY_TASKS))
    assert result.tasks >= 20, result.summary()


def _skip_community_popup(page: Any) -> None:
    """First visit shows "Join the Dagster community" with a Skip button; later visits may not."""
    skip = page.get_by_role("button", name=re.compile(r"^\s*Skip\s*$"))
    try:
        skip.first.wait_for(state="visible", timeout=8000)
    except Exception:  # Playwright TimeoutError: no pop-up this time
        return
    skip.first.click()
    skip.first.wait_for(state="hidden", timeout=5000)


def _frame_whole_graph(page: Any) -> None:
    """The global lineage shows one collapsed box per asset group: hide the asset sidebar, unfold every
    group, zoom out and drag the canvas so the chain up to the report is in view."""
    page.get_by_role("button", name="panel_show_right", exact=True).click()
    for _ in range(20):
        unfold = page.get_by_role("img", name="unfold_more")
        if unfold.count() == 0:
            break
        unfold.first.click()
        page.wait_for_timeout(500)
    for _ in range(2):
        page.get_by_role("button", name="zoom_out").click()
    page.wait_for_timeout(500)
    box = page.get_by_text(ASSET_TO_OPEN, exact=True).first.bounding_box()
    if box is not None:  # grab empty canvas above the node, drop it right of the centre
        page.mouse.move(box["x"], box["y"] - 60)
        page.mouse.down()
        page.mouse.move(1150, 600, steps=10)
        page.mouse.up()
        page.mouse.move(5, 5)
        page.wait_for_timeout(500)


def _keep_report_files(home: Any) -> None:
    """Copy the HTML report and its PNGs (reports/latest) beside the screenshots."""
    latest = Path(home.reports_dir) / "latest"
    if latest.exists():
        dest = ARTIFACTS / "report"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(latest.resolve(), dest)


def test_materialize_all_in_the_ui_shows_footprint_metadata(
    dagster_dev: DagsterDev, labelstudio_server: LiveLabelStudio, home: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _prepare_labelled_tasks(dagster_dev, labelstudio_server)
    before = _run_ids(dagster_dev)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.set_default_timeout(60_000)
            page.goto(f"{dagster_dev.url}/asset-groups", wait_until="domcontentloaded")
            _skip_community_popup(page)
            materialize_all = page.get_by_role("button", name=re.compile("Materialize all"))
            expect(materialize_all.first).to_be_enabled(timeout=60_000)
            # The graph must show the asset we will open, before anything is launched.
            _frame_whole_graph(page)
            expect(page.get_by_text(ASSET_TO_OPEN, exact=True).first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "01-asset-graph.png"))

            materialize_all.first.click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "02-launched.png"))
            run_id = _wait_for_new_run(dagster_dev, before)
            run = dagster_dev.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
            materialized = {"/".join(m["assetKey"]["path"]) for m in run["assetMaterializations"]}
            assert ASSET_TO_OPEN in materialized, f"run {run_id} materialized only {sorted(materialized)}"
            page.wait_for_timeout(4000)  # the graph's live data polls every 2 s
            page.screenshot(path=str(ARTIFACTS / "03-after-run.png"))

            page.goto(f"{dagster_dev.url}/assets/{ASSET_TO_OPEN}", wait_until="domcontentloaded")
            _skip_community_popup(page)
            metadata = page.get_by_text(METADATA_TEXT).first
            expect(metadata).to_be_visible(timeout=60_000)
            metadata.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "04-asset-footprint-metadata.png"), full_page=True)

            if REPORT_ASSET in materialized:  # the report's tables and charts, as the UI renders them
                page.goto(f"{dagster_dev.url}/assets/{REPORT_ASSET}", wait_until="domcontentloaded")
                expect(page.get_by_text("report/tables").first).to_be_visible(timeout=60_000)
                page.screenshot(path=str(ARTIFACTS / "05-footprint-report.png"), full_page=True)
                # the charts are PNGs embedded in markdown metadata: Dagster must render them as images
                page.locator("tr", has_text="report/charts").get_by_text("Show Markdown").click()
                chart = page.get_by_role("img", name="cost_by_component")
                expect(chart).to_be_visible(timeout=30_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTIFACTS / "06-footprint-report-charts.png"))
                _keep_report_files(home)
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
