"""Fact batches through a remote store: spool, manifest-last upload, idempotent merge by batch id.

The store here is a `file://` URL (a remote store that happens to be a local directory: the same code
path as S3 — spool, upload, listing, copy, delete — without a server); the same cases against a real
S3 server (SeaweedFS) are in tests/distributed/. A killed loader runs in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from warehouse.batches import write_batch
from warehouse.connection import connect
from warehouse.facts import FactBatch, Materialization, PersonTime
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.store import FACTS_LOADED, FACTS_PENDING, Store, StoreError
from warehouse.upload import batch_key, reset_for_tests, upload_batch, upload_spool

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]


def batch(mid: str, n_people: int = 2) -> FactBatch:
    b = FactBatch().add(Materialization(mid, "run", "asset", T0))
    return b.add(*[PersonTime(mid, f"p{i}", "eng", 60.0) for i in range(n_people)])


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"file://{tmp_path / 'store'}"
    monkeypatch.setenv("FOOTPRINT_STORE", url)
    reset_for_tests()
    yield url
    reset_for_tests()


def step_home(tmp_path: Path, name: str) -> FootprintHome:
    return FootprintHome.resolve(tmp_path / name).ensure()


def store_batches(store: Store, prefix: str) -> set[str]:
    return {k[len(prefix) + 1 :].split("/")[0] for k, _ in store.list_files(prefix)}


def facts(home: FootprintHome) -> tuple[int, int, int]:
    """(materializations, person_time rows, distinct person_time fact ids) in the warehouse."""
    con = connect(home, read_only=True)
    try:
        m = con.execute("SELECT count(*) FROM materialization").fetchall()[0][0]
        p, d = con.execute("SELECT count(*), count(DISTINCT fact_id) FROM person_time").fetchall()[0]
        return int(m), int(p), int(d)
    finally:
        con.close()


def test_local_default_is_unchanged(home: FootprintHome, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOOTPRINT_STORE", raising=False)
    reset_for_tests()
    path = write_batch(home, batch("m1"))
    assert path is not None and path.parent == home.pending_dir and (path / "MANIFEST").is_file()
    assert not any(home.uploaded_dir.iterdir())
    res = sync(home)
    assert res.loaded_batches == 1 and res.pending_left == 0 and res.uploaded_batches == 0
    assert (home.loaded_dir / path.name / "MANIFEST").is_file()  # the fact log is kept
    assert facts(home) == (1, 2, 2)


def test_steps_with_separate_homes_share_only_the_store(store_url: str, tmp_path: Path) -> None:
    steps = [step_home(tmp_path, f"step{i}") for i in range(3)]
    for i, h in enumerate(steps):
        write_batch(h, batch(f"m{i}", n_people=i + 1))
        assert not any(h.pending_dir.iterdir()), "an uploaded batch leaves the spool"
        assert len(list(h.uploaded_dir.iterdir())) == 1
    loader = step_home(tmp_path, "loader")
    store = Store.from_url(store_url)
    assert len(store_batches(store, FACTS_PENDING)) == 3
    res = sync(loader)
    assert res.loaded_batches == 3 and res.pending_left == 0
    assert facts(loader) == (3, 6, 6)
    assert store_batches(store, FACTS_PENDING) == set()
    assert len(store_batches(store, FACTS_LOADED)) == 3
    assert not (loader.root / "facts" / "incoming").exists(), "staging is removed"


def test_manifest_is_uploaded_last_and_a_cut_off_upload_is_not_merged(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = step_home(tmp_path, "w")
    store = Store.from_url(store_url)
    monkeypatch.setenv("FOOTPRINT_STORE", "")  # write into the spool only
    reset_for_tests()
    spooled = write_batch(writer, batch("m1"))
    assert spooled is not None
    monkeypatch.setenv("FOOTPRINT_STORE", store_url)
    reset_for_tests()

    order: list[str] = []
    real_put_file, real_put_bytes = Store.put_file, Store.put_bytes

    def put_file(self: Store, local: Path, key: str) -> str:
        order.append(key.rsplit("/", 1)[1])
        if key.endswith("person_time.parquet") and "cut" in os.environ.get("CUT_UPLOAD", ""):
            raise StoreError("connection reset (simulated cut)")
        return real_put_file(self, local, key)

    def put_bytes(self: Store, key: str, data: bytes) -> None:
        order.append(key.rsplit("/", 1)[1])
        real_put_bytes(self, key, data)

    monkeypatch.setattr(Store, "put_file", put_file)
    monkeypatch.setattr(Store, "put_bytes", put_bytes)
    monkeypatch.setenv("CUT_UPLOAD", "cut")
    res = upload_spool(writer, store)
    assert res.error is not None and res.uploaded == [] and res.left == 1
    assert "MANIFEST" not in order
    loader = step_home(tmp_path, "loader")
    first = sync(loader)
    assert first.loaded_batches == 0 and first.incomplete_uploads == 1  # half a batch is not merged

    order.clear()
    monkeypatch.delenv("CUT_UPLOAD")
    reset_for_tests()
    assert upload_spool(writer, store).uploaded == [spooled.name]
    assert order[-1] == "MANIFEST" and set(order[:-1]) == {"materialization.parquet", "person_time.parquet"}
    second = sync(loader)
    assert second.loaded_batches == 1 and second.incomplete_uploads == 0
    assert facts(loader) == (1, 2, 2)


def test_a_batch_uploaded_twice_is_merged_once(store_url: str, tmp_path: Path) -> None:
    writer = step_home(tmp_path, "w")
    loader = step_home(tmp_path, "loader")
    store = Store.from_url(store_url)
    write_batch(writer, batch("m1"))
    (uploaded,) = list(writer.uploaded_dir.iterdir())
    upload_batch(store, uploaded)  # again, before the merge: same keys, same bytes
    assert sync(loader).loaded_batches == 1
    upload_batch(store, uploaded)  # and after it (a writer that crashed before moving it re-uploads)
    again = sync(loader)
    assert again.loaded_batches == 0 and again.skipped_batches == 1
    assert store_batches(store, FACTS_PENDING) == set()
    assert facts(loader) == (1, 2, 2)


def test_an_unreachable_store_keeps_batches_in_the_spool(
    store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store_dir = Path(store_url.removeprefix("file://"))
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    store_dir.write_text("not a directory")  # every write under it fails, as with a store that is down
    writer = step_home(tmp_path, "w")
    with caplog.at_level(logging.WARNING, logger="warehouse.upload"):
        for i in range(3):
            write_batch(writer, batch(f"m{i}"))
    assert len(list(writer.pending_dir.iterdir())) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning while degraded, not one per batch"
    assert "stay in the local spool" in warnings[0] and "footprint sync --upload" in warnings[0]

    cli = [str(Path(sys.executable).with_name("footprint")), "sync", "--upload"]
    env = {**os.environ, "FOOTPRINT_HOME": str(writer.root)}
    down = subprocess.run(cli, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert down.returncode == 1 and "stay spooled" in down.stderr + down.stdout

    store_dir.unlink()  # the store is back
    up = subprocess.run(cli, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert up.returncode == 0, up.stderr
    assert "uploaded 3 fact batches" in up.stdout and "0 still spooled" in up.stdout
    loader = step_home(tmp_path, "loader")
    assert sync(loader).loaded_batches == 3
    assert facts(loader) == (3, 6, 6)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from warehouse.home import FootprintHome
    from warehouse import loader
    where = sys.argv[2]
    if where == "before_commit":
        real = loader._insert
        def _insert(con, batches, counts):
            real(con, batches, counts)
            os.kill(os.getpid(), signal.SIGKILL)  # inserted, not committed
        loader._insert = _insert
    else:
        real_retire = loader.StoreSource.retire
        def retire(self, names):
            real_retire(self, names[:1])
            if names:
                os.kill(os.getpid(), signal.SIGKILL)  # committed, one batch retired, the rest not
        loader.StoreSource.retire = retire
    loader.sync(FootprintHome.resolve(sys.argv[1]))
    """
)


@pytest.mark.parametrize("where", ["before_commit", "after_commit"])
def test_a_loader_killed_mid_merge_merges_everything_once_on_restart(
    store_url: str, tmp_path: Path, where: str
) -> None:
    writers = [step_home(tmp_path, f"w{i}") for i in range(4)]
    for i, w in enumerate(writers):
        write_batch(w, batch(f"m{i}", n_people=3))
    loader = step_home(tmp_path, "loader")
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(loader.root), where],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    res = sync(loader)
    store = Store.from_url(store_url)
    if where == "before_commit":
        assert res.loaded_batches == 4 and res.skipped_batches == 0
    else:
        assert res.loaded_batches == 0 and res.skipped_batches == 3  # one was retired before the kill
    assert store_batches(store, FACTS_PENDING) == set()
    assert len(store_batches(store, FACTS_LOADED)) == 4
    assert facts(loader) == (4, 12, 12)


def test_store_urls_are_checked_and_secrets_stay_out_of_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match="must not hold credentials") as err:
        Store.from_url("s3://AKIDX:verysecretvalue@bucket/prefix")
    assert "verysecretvalue" not in str(err.value)
    with pytest.raises(StoreError, match="names no bucket"):
        Store.from_url("s3:///prefix")
    with pytest.raises(StoreError, match="not a store URL"):
        Store.from_url("nosuchscheme://x/y")
    # a server that is not there: a clear error naming the store, never the secret
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSTORETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-never-shown")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: connection refused
    store = Store.from_url("s3://bucket/prefix")
    with pytest.raises(StoreError) as down:
        store.put_bytes(batch_key("b1", "MANIFEST"), b"x")
    text = str(down.value)
    assert "s3://bucket/prefix" in text and "could not write" in text
    assert "s3cr3t-value-never-shown" not in text


def test_fetch_of_a_url_from_another_store_names_the_setting(store_url: str, tmp_path: Path) -> None:
    store = Store.from_url(store_url)
    src = tmp_path / "a.txt"
    src.write_text("x")
    url = store.put_file(src, "artifacts/a/a.txt")
    assert url.startswith(store_url)
    assert store.fetch(url, tmp_path / "cache").read_text() == "x"
    with pytest.raises(StoreError, match="FOOTPRINT_STORE"):
        store.fetch("s3://other-bucket/artifacts/a.txt", tmp_path / "cache")
    with pytest.raises(StoreError, match="does not exist"):
        store.fetch(store.uri("artifacts/missing.txt"), tmp_path / "cache")


def test_a_step_retries_its_spool_at_exit_and_says_what_is_left(
    store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from warehouse.upload import flush_at_exit

    store_dir = Path(store_url.removeprefix("file://"))
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    store_dir.write_text("down")
    writer = step_home(tmp_path, "w")
    for i in range(2):
        write_batch(writer, batch(f"m{i}"))
    assert len(list(writer.pending_dir.iterdir())) == 2
    with caplog.at_level(logging.ERROR, logger="warehouse.upload"):
        still = flush_at_exit(writer, waits_s=(0.05, 0.05))
    assert still is not None and still.left == 2 and still.error is not None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "footprint sync --upload" in errors[0] and "2 fact batches" in errors[0]

    back = threading.Timer(0.3, store_dir.unlink)  # the store comes back while the step waits
    back.start()
    done = flush_at_exit(writer, waits_s=(1.0, 1.0))
    back.join()
    assert done is not None and done.error is None and done.left == 0
    assert flush_at_exit(writer) is None  # nothing spooled: nothing to do
    loader = step_home(tmp_path, "loader")
    assert sync(loader).loaded_batches == 2
