"""CountingTransport (httpx) and file/dir byte counters -> transfer and storage facts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from metering.files import FileCounter, record_read, track_written
from metering.http import CountingTransport, endpoint_of
from metering.recorder import MaterializationRecorder
from warehouse.facts import Storage, Transfer
from warehouse.home import FootprintHome


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"x" * 1000 + request.content)


def recorder(home: FootprintHome) -> MaterializationRecorder:
    return MaterializationRecorder(home, asset_key="t", run_id="r")


def test_counts_body_bytes_requests_and_seconds_per_endpoint() -> None:
    t = CountingTransport(httpx.MockTransport(echo))
    with httpx.Client(transport=t) as client:
        client.post("https://user:secret@ls.example:8443/api/x?token=abc", content=b"a" * 500)
        client.get("http://ls.example/api/y")
        client.get("http://127.0.0.1:8080/health")
    snap = t.snapshot()
    assert set(snap) == {"ls.example:8443", "ls.example:80", "127.0.0.1:8080"}  # no user, path, query
    a = snap["ls.example:8443"]
    assert (a.requests, a.bytes_sent, a.bytes_received) == (1, 500, 1500)
    assert a.duration_s > 0 and not a.is_loopback
    assert snap["127.0.0.1:8080"].is_loopback
    assert t.total.requests == 3 and t.total.bytes_received == 3500


def test_streamed_upload_and_errors_are_counted() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    t = CountingTransport(httpx.MockTransport(echo))
    with httpx.Client(transport=t) as client:
        client.post("http://h:1/", content=iter([b"ab", b"cde"]))
    assert t.snapshot()["h:1"].bytes_sent == 5
    bad = CountingTransport(httpx.MockTransport(boom))
    with httpx.Client(transport=bad) as client, pytest.raises(httpx.ConnectError):
        client.get("http://down:9/")
    assert (bad.snapshot()["down:9"].requests, bad.snapshot()["down:9"].errors) == (1, 1)


def test_record_into_makes_transfer_facts_and_resets(home: FootprintHome) -> None:
    t = CountingTransport(httpx.MockTransport(echo))
    with httpx.Client(transport=t) as client:
        client.post("http://127.0.0.1:8080/api/tasks", content=b"z" * 200)
        client.get("https://hub.example/model")
    rec = recorder(home)
    t.record_into(rec, endpoint_kind="label-studio")
    facts = [f for f in rec._facts if isinstance(f, Transfer)]
    by = {(f.endpoint, f.direction): f for f in facts}
    assert by[("127.0.0.1:8080", "upload")].bytes == 200
    assert by[("127.0.0.1:8080", "download")].bytes == 1200
    assert by[("127.0.0.1:8080", "download")].scope == "local"
    assert by[("hub.example:443", "download")].scope == "network"
    assert by[("127.0.0.1:8080", "upload")].duration_s == 0.0  # time is carried once, by the download
    assert t.snapshot() == {}


def test_real_http_server_through_default_transport() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 2))
            self.end_headers()
            self.wfile.write(body * 2)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = CountingTransport()
        with httpx.Client(transport=t, timeout=10.0, follow_redirects=True) as client:
            r = client.post(f"http://127.0.0.1:{server.server_port}/", content=b"q" * 4096)
            assert len(r.content) == 8192
        (traffic,) = t.snapshot().values()
        assert (traffic.bytes_sent, traffic.bytes_received) == (4096, 8192)
    finally:
        server.shutdown()


def test_endpoint_of_ipv6() -> None:
    assert endpoint_of(httpx.URL("http://[::1]:5/x")) == "[::1]:5"


def test_file_counter_binary_and_text(home: FootprintHome, tmp_path: Path) -> None:
    files = FileCounter()
    p = tmp_path / "data.bin"
    with files.open(p, "wb") as f:
        f.write(b"0123456789" * 100)
    with files.open(p, "rb") as f:
        assert len(f.read()) == 1000
    with files.open(tmp_path / "t.txt", "w") as f:
        f.write("héllo\n")
    snap = files.snapshot()
    assert (snap[str(p)].bytes_written, snap[str(p)].bytes_read, snap[str(p)].opens) == (1000, 1000, 2)
    assert snap[str(tmp_path / "t.txt")].bytes_written == 7  # utf-8 bytes, not characters
    rec = recorder(home)
    files.record_into(rec)
    dirs = sorted((f.direction, f.bytes, f.scope) for f in rec._facts if isinstance(f, Transfer))
    assert dirs == [("read", 1000, "local"), ("write", 7, "local"), ("write", 1000, "local")]


def test_track_written_and_record_read(home: FootprintHome, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "old.bin").write_bytes(b"o" * 300)
    rec = recorder(home)
    with track_written(rec, ckpt, kind="checkpoint") as w:
        (ckpt / "model.bin").write_bytes(b"m" * 2000)
        (ckpt / "sub").mkdir()
        (ckpt / "sub" / "opt.bin").write_bytes(b"p" * 500)
    assert (w.bytes_written, w.bytes_held, w.files_changed) == (2500, 2800, 2)
    assert record_read(rec, ckpt) == 2800
    transfers = [(f.direction, f.bytes) for f in rec._facts if isinstance(f, Transfer)]
    assert transfers == [("write", 2500), ("read", 2800)]
    assert [f.bytes_held for f in rec._facts if isinstance(f, Storage)] == [2800]
