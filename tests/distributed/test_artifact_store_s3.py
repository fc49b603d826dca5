"""The artifact store against a real S3 server (SeaweedFS, `s3_server` of tests/stack_servers.py):
raw_corpus on one empty home publishes its Parquet file and pickled handle to s3://bucket/prefix,
clean_corpus on another empty home loads the handle and downloads the file from there, and a model
directory goes up and comes back whole. The credentials appear in no event, metadata or error.

The server is the session's (tests/distributed/conftest.py); a missing `weed` fails it, never skips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.corpus.clean import CHECKS, clean_corpus
from assets.corpus.raw import RawCorpusConfig, raw_corpus
from pipelines.artifact_store import fetch_inputs
from pipelines.io_manager import AtomicFilesystemIOManager
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle, publish

pytestmark = pytest.mark.slow


def _footprint(root: Path, server: Any, url: str) -> FootprintHomeResource:
    return FootprintHomeResource(
        root=str(root),
        store_url=url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        aws_endpoint_url=server.endpoint_url,
        aws_region="us-east-1",
    )


def test_artifacts_round_trip_through_s3(tmp_path: Path, s3_server: Any) -> None:
    bucket = s3_server.create_bucket("artifacts-rt")
    url = f"s3://{bucket}/run-1"
    a = _footprint(tmp_path / "a", s3_server, url)
    first = dg.materialize(
        [raw_corpus],
        resources={"footprint": a, "io_manager": AtomicFilesystemIOManager(footprint=a)},
        run_config=dg.RunConfig(ops={"raw_corpus": RawCorpusConfig(rows=300, seed=4)}),
    )
    raw: ArtifactHandle = first.output_for_node("raw_corpus")
    key = f"artifacts/raw_corpus/{raw.materialization_id}.parquet"
    assert raw.path == f"{url}/{key}"
    assert a.store().get_bytes(key) == (tmp_path / "a" / key).read_bytes()
    assert a.store().exists("dagster/storage/raw_corpus")

    b = _footprint(tmp_path / "b", s3_server, url)
    second = dg.materialize(
        [raw_corpus, clean_corpus, *CHECKS],
        selection=[clean_corpus.key],
        resources={"footprint": b, "io_manager": AtomicFilesystemIOManager(footprint=b)},
    )
    assert second.success
    clean: ArtifactHandle = second.output_for_node("clean_corpus")
    assert clean.path.startswith(f"{url}/artifacts/clean_corpus/")
    assert (tmp_path / "b" / "cache" / key).read_bytes() == (tmp_path / "a" / key).read_bytes()

    model = tmp_path / "a" / "artifacts" / "some_model" / "m1"
    model.mkdir(parents=True)
    files = {f"f{i}.bin": bytes([i]) * (70_000 + i) for i in range(6)}
    for name, data in files.items():
        (model / name).write_bytes(data)
    up = publish(a.store(), tmp_path / "a", model)
    local = fetch_inputs(_footprint(tmp_path / "c", s3_server, url), up.url).local(up.url)
    assert {p.name: p.read_bytes() for p in local.iterdir()} == files

    seen = "\n".join(str(e) for e in [*first.all_events, *second.all_events])
    assert s3_server.secret_key not in seen and s3_server.access_key not in seen
