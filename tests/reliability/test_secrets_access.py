"""Secrets and access: the Label Studio token never reaches logs, Dagster metadata or the event log,
the warehouse, reports, exceptions or CLI output, even when the server echoes it back in an error;
`footprint sql` cannot write; the warehouse and state directory are owner-only; Label Studio listens
on loopback only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest

from labeling.client import LabelStudioClient
from labeling.resource import LabelStudioResource
from labeling.server import free_port
from labeling.tasks import choice_result
from tests.reliability.faultproxy import FaultProxy, Rule
from tests.reliability.helpers import rows, run_footprint
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

pytestmark = [pytest.mark.reliability]


def _warehouse_hits(home: FootprintHome, secret: str) -> list[str]:
    """table.column of every text column in the warehouse that holds `secret`."""
    con = connect(home, read_only=True)
    try:
        cols = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
        ).fetchall()
        return [
            f"{t}.{c}"
            for t, c in cols
            if con.execute(f'SELECT count(*) FROM "{t}" WHERE contains("{c}", ?)', [secret]).fetchone()[0]  # type: ignore[index]
        ]
    finally:
        con.close()


def _file_hits(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


@pytest.mark.labelstudio
@pytest.mark.slow
def test_token_is_nowhere_after_success_and_a_failure_that_echoes_it(
    pipeline: Any,
    labelstudio_server: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = labelstudio_server.token
    home: FootprintHome = pipeline.home
    home.dagster_home.mkdir(mode=0o700, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(tempdir=str(home.dagster_home))  # sqlite event log on disk
    proxy = FaultProxy(labelstudio_server.url, free_port()).start()
    good = pipeline.resources["labelstudio"]
    pipeline.resources["labelstudio"] = LabelStudioResource(
        url=proxy.url, api_key=token, home_root=good.home_root, max_attempts=2, backoff_s=0.01
    )

    def run(selection: list[str] | None = None) -> Any:
        from assets.annotation.annotations import annotation_budget, annotations
        from assets.annotation.label_tasks import label_tasks
        from warehouse.artifacts import ArtifactHandle
        from warehouse.facts import new_id

        corpus_path = pipeline.corpus_path

        @dg.asset(name="clean_corpus")
        def clean_corpus():  # type: ignore[no-untyped-def]
            return ArtifactHandle("clean_corpus", new_id(), str(corpus_path), corpus_path.stat().st_size)

        return dg.materialize(
            [clean_corpus, label_tasks, annotations, annotation_budget],
            resources={
                **pipeline.resources,
                "io_manager": dg.FilesystemIOManager(base_dir=str(pipeline.io_dir)),
            },
            selection=selection or ["clean_corpus", "label_tasks", "annotations"],
            instance=instance,
            raise_on_error=False,
        )

    try:
        ok = run()
        assert ok.success
        with LabelStudioClient(labelstudio_server.url, token) as c:
            project_id = ok.asset_materializations_for_node("label_tasks")[-1].metadata["project_id"].value
            tid = int(next(iter(c.iter_tasks(project_id, include="id")))["id"])
            c.post_json(
                f"/api/tasks/{tid}/annotations/", {"result": choice_result("positive"), "lead_time": 9.0}
            )
        # a deliberate failure: a server that reflects the Authorization header in its 500 body
        proxy.rules = [Rule("GET", "/api/tasks/", "500-echo", times=2)]
        failed = run(["annotations"])
        assert not failed.success
        assert [r.fired for r in proxy.rules] == [2]
        errors = [
            str(e.event_specific_data.error)
            for e in failed.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        assert errors and "HTTP 500" in errors[0] and "Authorization: ***" in errors[0], errors
        proxy.rules = []
        assert run(["annotations"]).success
    finally:
        proxy.close()
    instance.dispose()

    cli_outputs = [
        run_footprint(home, *args)
        for args in (
            ["sync"],
            ["report"],
            ["labeling-report"],
            ["sql", "SELECT * FROM materialization_outcome"],
        )
    ]
    assert all(p.returncode == 0 for p in cli_outputs), [(p.args, p.stderr) for p in cli_outputs]
    sync(home)
    out, err = capfd.readouterr()
    leaks = {
        "stdout/stderr": token in out or token in err,
        "log records": token in caplog.text,
        "exceptions": any(token in e for e in errors),
        "event log": any(
            token in str(rec) for run_rec in instance.get_runs() for rec in instance.all_logs(run_rec.run_id)
        ),
        "metadata": any(
            token in str(m.metadata)
            for r in (ok, failed)
            for n in ("label_tasks", "annotations")
            for m in r.asset_materializations_for_node(n)
        ),
        "cli output": any(token in p.stdout + p.stderr for p in cli_outputs),
    }
    assert not any(leaks.values()), f"token leaked into {[k for k, v in leaks.items() if v]}"
    assert _warehouse_hits(home, token) == [], "token stored in the warehouse"
    assert rows(home, "SELECT count(*) FROM materialization_outcome WHERE status = 'failed'") == [(1,)]
    files = list(home.root.rglob("*"))
    assert any(p.suffix == ".db" for p in files), "the sqlite event log was not written under DAGSTER_HOME"
    assert _file_hits(home.root, token) == [], "token in a file under FOOTPRINT_HOME / DAGSTER_HOME"


def test_warehouse_and_state_dir_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical permissive umask
    try:
        loose = tmp_path / "home"
        (loose / "facts").mkdir(parents=True, mode=0o755)  # pre-existing and world-readable
        home = FootprintHome.resolve(loose).ensure()
        sync(home)
    finally:
        os.umask(old)
    modes = {
        p: stat.S_IMODE(p.stat().st_mode)
        for p in (
            home.root,
            home.root / "facts",
            home.pending_dir,
            home.loaded_dir,
            home.quarantine_dir,
            home.artifacts_dir,
        )
    }
    assert all(m == 0o700 for m in modes.values()), {str(p): oct(m) for p, m in modes.items()}
    assert stat.S_IMODE(home.warehouse_path.stat().st_mode) == 0o600


def test_footprint_sql_cannot_write(home: FootprintHome) -> None:
    """In depth: tests/warehouse/cli/test_sql.py (every writing statement form)."""
    sync(home)
    before = rows(home, "SELECT count(*) FROM rate_card_version")
    for query in ("DELETE FROM rate_card_version", "SELECT 1; DROP TABLE rate", "ATTACH 'x.db' AS x"):
        proc = run_footprint(home, "sql", query)
        assert proc.returncode == 2 and "read-only" in proc.stderr, (query, proc.stderr)
    assert rows(home, "SELECT count(*) FROM rate_card_version") == before


@pytest.mark.labelstudio
def test_labelstudio_listens_on_loopback_only(labelstudio_server: Any) -> None:
    port = int(labelstudio_server.url.rsplit(":", 1)[1])
    listening = [
        c
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    assert listening, f"nothing listens on port {port}"
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
    owner = psutil.Process(listening[0].pid) if listening[0].pid else None
    if owner is not None:
        cmd = " ".join(owner.cmdline() + (owner.parent().cmdline() if owner.parent() else []))
        assert "--internal-host 127.0.0.1" in cmd or "127.0.0.1" in cmd, cmd
