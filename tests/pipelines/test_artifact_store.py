"""Artifacts through the store: with `store_url` = file:///<tmp>/store (a store that is not the step's
home: another machine mounting it would see the same), each step runs with its OWN empty
FOOTPRINT_HOME and the store is all they share. raw_corpus publishes its Parquet file, clean_corpus
(another home) loads the handle from the store's pickle and downloads the file, a third home reads
clean_corpus's output; every upload/download is a measured Transfer fact. The local default is
unchanged (tests/assets); handles of another store and missing objects fail clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.corpus.clean import CHECKS, clean_corpus
from assets.corpus.raw import RawCorpusConfig, raw_corpus
from pipelines.artifact_store import fetch_inputs
from pipelines.io_manager import AtomicFilesystemIOManager, StorePickleIOManager
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle, publish
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.redact import redact
from warehouse.store import StoreError


def _resources(home: Path, store_url: str) -> dict[str, Any]:
    footprint = FootprintHomeResource(root=str(home), store_url=store_url)
    return {"footprint": footprint, "io_manager": AtomicFilesystemIOManager(footprint=footprint)}


def _transfers(root: Path, mid: str) -> list[tuple[Any, ...]]:
    home = FootprintHome.resolve(root)
    sync(home)
    con = connect(home, read_only=True)
    try:
        return con.execute(
            "SELECT direction, bytes, endpoint_kind, scope, endpoint, requests FROM transfer "
            "WHERE materialization_id = ? AND endpoint_kind = 'object-store' ORDER BY direction, endpoint",
            [mid],
        ).fetchall()
    finally:
        con.close()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_steps_with_separate_empty_homes_share_artifacts_through_the_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    url = f"file://{store_dir}"
    home_a, home_b, home_c = tmp_path / "a", tmp_path / "b", tmp_path / "c"

    first = dg.materialize(
        [raw_corpus],
        resources=_resources(home_a, url),
        run_config=dg.RunConfig(ops={"raw_corpus": RawCorpusConfig(rows=300, seed=5)}),
    )
    raw: ArtifactHandle = first.output_for_node("raw_corpus")
    key = f"artifacts/raw_corpus/{raw.materialization_id}.parquet"
    assert raw.path == f"{url}/{key}"
    assert (store_dir / key).read_bytes() == (home_a / key).read_bytes()  # written locally, then published
    assert (store_dir / "dagster/storage/raw_corpus").is_file()  # the pickled handle, in the store too
    meta = first.asset_materializations_for_node("raw_corpus")[0].metadata
    assert meta["path"].value == raw.path

    second = dg.materialize(
        [raw_corpus, clean_corpus, *CHECKS],
        selection=[clean_corpus.key],
        resources=_resources(home_b, url),
    )
    assert second.success
    checks = second.get_asset_check_evaluations()
    assert len(checks) == len(CHECKS) and all(c.passed for c in checks)  # they read the store's copy too
    clean: ArtifactHandle = second.output_for_node("clean_corpus")
    clean_key = f"artifacts/clean_corpus/{clean.materialization_id}.parquet"
    assert clean.path == f"{url}/{clean_key}"
    assert (store_dir / clean_key).is_file()
    conflicts_url = clean.extra["conflicts_path"]
    assert conflicts_url.startswith(f"{url}/artifacts/clean_corpus/")
    assert Path(conflicts_url.removeprefix("file://")).is_file()
    # B never had raw_corpus's home: its copy came from the store into B's cache
    assert not (home_b / key).exists()
    assert (home_b / "cache" / key).read_bytes() == (store_dir / key).read_bytes()
    raw_bytes = (store_dir / key).stat().st_size
    moved = _transfers(home_b, clean.materialization_id)
    downloads = [r for r in moved if r[0] == "download"]
    uploads = {r[4]: r for r in moved if r[0] == "upload"}
    assert downloads == [("download", raw_bytes, "object-store", "network", raw.path, 1)]
    assert uploads[clean.path][1] == (store_dir / clean_key).stat().st_size
    assert uploads[conflicts_url][1] == Path(conflicts_url.removeprefix("file://")).stat().st_size
    assert _transfers(home_a, raw.materialization_id)[0][:2] == ("upload", raw_bytes)

    # a third machine: only the store in common
    reader = FootprintHomeResource(root=str(home_c), store_url=url)
    context = dg.build_input_context(asset_key=clean_corpus.key)
    assert StorePickleIOManager(reader.store()).load_input(context) == clean  # as a downstream step
    loaded = pq.read_table(fetch_inputs(reader, clean).local(clean))
    assert loaded.num_rows == clean.rows
    assert _files(home_c / "cache") == [clean_key]


def test_a_handle_of_another_store_names_footprint_store(tmp_path: Path) -> None:
    reader = FootprintHomeResource(root=str(tmp_path / "h"), store_url=f"file://{tmp_path}/store")
    other = ArtifactHandle("raw_corpus", "m1", "s3://elsewhere/artifacts/raw_corpus/m1.parquet", 10)
    with pytest.raises(StoreError, match=r"not in the configured store.*FOOTPRINT_STORE"):
        fetch_inputs(reader, other)


def test_a_missing_object_says_which(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    reader = FootprintHomeResource(root=str(tmp_path / "h"), store_url=url)
    gone = ArtifactHandle("raw_corpus", "m1", f"{url}/artifacts/raw_corpus/m1.parquet", 10)
    with pytest.raises(StoreError, match=r"artifacts/raw_corpus/m1\.parquet does not exist"):
        fetch_inputs(reader, gone)


def test_a_local_path_from_another_machine_names_footprint_store(tmp_path: Path) -> None:
    reader = FootprintHomeResource(root=str(tmp_path / "h"), store_url=f"file://{tmp_path}/store")
    local = ArtifactHandle("raw_corpus", "m1", str(tmp_path / "elsewhere" / "m1.parquet"), 10)
    with pytest.raises(StoreError, match=r"local store.*FOOTPRINT_STORE"):
        fetch_inputs(reader, local)


def test_the_local_store_copies_nothing(tmp_path: Path) -> None:
    result = dg.materialize(
        [raw_corpus, clean_corpus],
        resources=_resources(tmp_path / "h", ""),
        run_config=dg.RunConfig(ops={"raw_corpus": RawCorpusConfig(rows=200, seed=1)}),
    )
    clean: ArtifactHandle = result.output_for_node("clean_corpus")
    home = tmp_path / "h"
    assert Path(clean.path) == home / "artifacts" / "clean_corpus" / f"{clean.materialization_id}.parquet"
    assert not (home / "cache" / "artifacts").exists()
    assert _transfers(home, clean.materialization_id) == []


def test_s3_credentials_stay_out_of_errors(tmp_path: Path) -> None:
    secret = "wJalrXUtnFEMI-test-secret-key-0123"
    footprint = FootprintHomeResource(
        root=str(tmp_path / "h"),
        store_url="s3://bucket/prefix",
        aws_access_key_id="AKIATESTACCESSKEY01",
        aws_secret_access_key=secret,
        aws_endpoint_url="http://127.0.0.1:9",  # the discard port: nothing answers
        aws_region="us-east-1",
    )
    store = footprint.store()
    assert secret not in repr(store) and secret not in repr(footprint)
    assert redact(f"x {secret} y") == "x *** y"  # registered when the store was configured
    src = tmp_path / "h" / "artifacts" / "f.bin"
    src.write_bytes(b"x")
    with pytest.raises(StoreError) as err:
        store.put_file(src, "artifacts/f.bin")
    assert secret not in str(err.value) and "AKIATESTACCESSKEY01" not in str(err.value)


def test_a_directory_artifact_is_published_and_fetched_whole(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    writer = FootprintHomeResource(root=str(tmp_path / "a"), store_url=url)
    model = writer.home().artifacts_dir / "some_model" / "m1"
    (model / "sub").mkdir(parents=True)
    files = {f"f{i}.bin": bytes([i]) * (1000 + i) for i in range(12)} | {"sub/x.json": b"{}"}
    for name, data in files.items():
        (model / name).write_bytes(data)
    moved = publish(writer.store(), writer.home().root, model)
    assert moved.url == f"{url}/artifacts/some_model/m1"
    assert (moved.bytes, moved.files) == (sum(map(len, files.values())), len(files))

    reader = FootprintHomeResource(root=str(tmp_path / "b"), store_url=url)
    got = fetch_inputs(reader, moved.url)
    local = got.local(moved.url)
    assert {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()} == files
    assert got.moved[moved.url].bytes == moved.bytes
    again = fetch_inputs(reader, moved.url)  # the cached copy: nothing moves twice
    assert again.local(moved.url) == local and again.moved[moved.url].bytes == 0


def test_defs_binds_the_store_variables_that_are_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.definitions import defs

    secret = "defs-test-secret-key-9876"
    monkeypatch.setenv("FOOTPRINT_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("FOOTPRINT_STORE", f"file://{tmp_path}/store")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    for unset in ("AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(unset, raising=False)
    resources = defs().resources
    footprint = resources["footprint"]
    assert isinstance(footprint.store_url, dg.EnvVar)
    assert footprint.store_url.env_var_name == "FOOTPRINT_STORE"
    assert isinstance(footprint.aws_secret_access_key, dg.EnvVar)
    assert footprint.aws_access_key_id == "" and footprint.aws_region == "", "unset variables stay unbound"
    assert secret not in repr(footprint)

    result = dg.materialize(
        [raw_corpus],
        resources={"footprint": footprint, "io_manager": resources["io_manager"]},
        run_config=dg.RunConfig(ops={"raw_corpus": RawCorpusConfig(rows=100, seed=2)}),
    )
    raw: ArtifactHandle = result.output_for_node("raw_corpus")
    assert raw.path.startswith(f"file://{tmp_path}/store/artifacts/raw_corpus/")
    assert (tmp_path / "store" / "dagster" / "storage" / "raw_corpus").is_file()
    logged = "\n".join(str(e) for e in result.all_events)
    assert secret not in logged
