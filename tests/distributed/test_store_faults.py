"""Faults against the real S3 server (SeaweedFS): the store down in the middle of a metered step, a
batch uploaded twice, and manifest-last publication as the loader sees it. Each ends with every fact
in the warehouse exactly once, and says what is happening while degraded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack_servers import client_environment
from warehouse.connection import connect
from warehouse.facts import FACT_SCHEMAS
from warehouse.home import FootprintHome
from warehouse.store import FACTS_LOADED, FACTS_PENDING, Store
from warehouse.upload import reset_for_tests, upload_batch

ROOT = Path(__file__).resolve().parents[2]

STEP = textwrap.dedent(
    """
    import sys, time
    from metering.recorder import MaterializationRecorder
    from warehouse.home import FootprintHome
    home = FootprintHome.resolve(sys.argv[1])
    with MaterializationRecorder(home, asset_key=sys.argv[2], run_id="r", heartbeat_s=0.3):
        time.sleep(float(sys.argv[3]))
    """
)


@pytest.fixture
def store_env(postgres_server: Any, s3_server: Any) -> Iterator[dict[str, str]]:
    bucket = s3_server.create_bucket(f"faults-{uuid.uuid4().hex[:8]}")
    env = client_environment(postgres_server, s3_server, f"s3://{bucket}/f")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        reset_for_tests()
        yield env
    reset_for_tests()


def _step(home: Path, asset: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", STEP, str(home), asset, str(seconds)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _footprint(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    cli = str(Path(sys.executable).with_name("footprint"))
    return subprocess.run(
        [cli, *args],
        cwd=ROOT,
        env={**os.environ, "FOOTPRINT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _exactly_once(home: FootprintHome, store: Store) -> dict[str, int]:
    """Per fact table: rows in the warehouse == distinct fact ids; and no batch left pending."""
    assert list(store.list_files(FACTS_PENDING)) == []
    con = connect(home, read_only=True)
    try:
        counts = {}
        for name, schema in FACT_SCHEMAS.items():
            if "fact_id" in schema.names:
                n, d = con.execute(f"SELECT count(*), count(DISTINCT fact_id) FROM {name}").fetchall()[0]
                assert n == d, f"{name}: {n - d} facts twice"
                counts[name] = int(n)
        return counts
    finally:
        con.close()


def test_store_down_mid_step_loses_nothing(store_env: dict[str, str], s3_server: Any, tmp_path: Path) -> None:
    step_home = tmp_path / "step"
    proc = _step(step_home, "slow_asset", 4.0)
    time.sleep(1.5)  # heartbeat ticks have been uploaded
    s3_server.stop()
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        s3_server.start()
    assert proc.returncode == 0, err  # the step itself never fails because the store is down
    assert "stay in the local spool" in err and "footprint sync --upload" in err
    assert err.count("stay in the local spool") == 1, "one warning while degraded"
    assert "could not be uploaded" in err and "remain in" in err  # retried at exit, then said once
    assert s3_server.secret_key not in err
    spooled = list((step_home / "facts" / "pending").iterdir())
    assert spooled, "the batches written while the store was down wait in the spool"

    up = _footprint("sync", "--upload", home=step_home)
    assert up.returncode == 0, up.stderr
    assert f"uploaded {len(spooled)} fact batches" in up.stdout
    loader = FootprintHome.resolve(tmp_path / "loader")
    merged = _footprint("sync", home=loader.root)
    assert merged.returncode == 0, merged.stderr
    store = Store.configured(loader)
    counts = _exactly_once(loader, store)
    assert counts["materialization"] == 1 and counts["materialization_outcome"] == 1
    con = connect(loader, read_only=True)
    try:
        status = con.execute("SELECT status FROM asset_footprint").fetchall()
    finally:
        con.close()
    assert status == [("success",)]


def test_the_next_step_uploads_what_an_earlier_one_spooled(
    store_env: dict[str, str], s3_server: Any, tmp_path: Path
) -> None:
    home = tmp_path / "host"
    s3_server.stop()
    try:
        first = _step(home, "first", 0.5)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0 and "stay in the local spool" in err
    finally:
        s3_server.start()
    left = len(list((home / "facts" / "pending").iterdir()))
    assert left >= 2
    second = _step(home, "second", 0.2)  # a later step on the same host, store back
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert list((home / "facts" / "pending").iterdir()) == []
    loader = FootprintHome.resolve(tmp_path / "loader")
    merged = _footprint("sync", home=loader.root)
    assert merged.returncode == 0, merged.stderr
    counts = _exactly_once(loader, Store.configured(loader))
    everything = list(Store.configured(loader).list_files(""))
    uploaded = sorted(p.name for p in (home / "facts" / "uploaded").iterdir())
    assert counts["materialization"] == 2, (merged.stdout, err, everything, uploaded)
    assert counts["materialization"] == 2 and counts["materialization_outcome"] == 2


def test_a_batch_uploaded_twice_and_a_manifestless_one(store_env: dict[str, str], tmp_path: Path) -> None:
    from warehouse.batches import write_batch
    from warehouse.facts import FactBatch, Materialization, utcnow

    writer = FootprintHome.resolve(tmp_path / "w").ensure()
    store = Store.configured(writer)
    write_batch(writer, FactBatch().add(Materialization("m-twice", "r", "a", utcnow())))
    (done,) = list(writer.uploaded_dir.iterdir())
    upload_batch(store, done)  # the same batch again, before the merge
    # a batch whose upload was cut before its MANIFEST: files there, not published
    half = FactBatch().add(Materialization("m-half", "r", "a", utcnow()))
    for name, table in half.to_tables().items():
        import pyarrow.parquet as pq

        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path)
        store.put_file(path, f"{FACTS_PENDING}/{half.batch_id}/{name}.parquet")
    loader = FootprintHome.resolve(tmp_path / "loader")
    out = _footprint("sync", home=loader.root)
    assert out.returncode == 0, out.stderr
    assert "1 batches in the store have no MANIFEST yet" in out.stdout
    upload_batch(store, done)  # and again after it
    again = _footprint("sync", home=loader.root)
    assert "skipped 1 already loaded" in again.stdout
    con = connect(loader, read_only=True)
    try:
        mids = con.execute("SELECT materialization_id FROM materialization").fetchall()
    finally:
        con.close()
    assert mids == [("m-twice",)]
    assert {k.split("/")[2] for k, _ in store.list_files(FACTS_LOADED)} == {done.name}
