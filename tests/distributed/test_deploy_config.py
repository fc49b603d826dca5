"""The deployment files agree with what the stack and the tests run (no servers needed)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from pipelines.stack.postgres import PostgresCluster

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_dagster_yaml_keeps_every_storage_in_postgres_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://u:secret-pw@db.example:5432/d")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert not {"run_storage", "event_log_storage", "schedule_storage"} & set(config)
    assert "secret-pw" not in (DEPLOY / "dagster.yaml").read_text()


def test_dagster_yaml_without_the_url_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    with pytest.raises(Exception, match=r"environment variable \"DAGSTER_PG_URL\" which is not set"):
        DagsterInstance.from_config(str(tmp_path))


def test_helm_values_give_runs_the_store_and_no_shared_volume() -> None:
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    runs = launcher["config"]["k8sRunLauncher"]
    assert {"name": "footprint-store"} in runs["envSecrets"]
    assert "volumes" not in runs and "volumeMounts" not in runs
    (code,) = values["dagster-user-deployments"]["deployments"]
    assert code["includeConfigInLaunchedRuns"] == {"enabled": False}  # its warehouse volume stays put
    assert code["replicaCount"] == 1  # one loader, one warehouse writer
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False


def test_helm_postgres_scheme_is_the_stacks_driver() -> None:
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    cluster = PostgresCluster(Path("/nonexistent"), port=5432, password="x" * 8)
    assert values["postgresql"]["postgresqlScheme"] == urlparse(cluster.sqlalchemy_url).scheme
