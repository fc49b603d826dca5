"""The managed Label Studio server is metered as a service window: `up()` opens it in the host ledger,
`down()` closes it, and a step that uses the server names it. A small stand-in server (a real process
answering /health and whoami) plays Label Studio, so this runs without the real one."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from labeling.resource import LabelStudioResource
from labeling.server import SERVICE_NAME, ServerPaths, down, free_port, up
from metering.ledger import Ledger
from tests.metering.ledger_facts import Facts, check_conservation
from warehouse.home import FootprintHome

STAND_IN = """#!{python}
import http.server, sys, time
t = time.process_time()
while time.process_time() - t < 0.3:  # start-up work, as migrations are
    pass
port = int(sys.argv[sys.argv.index("--port") + 1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{{}}")

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def stand_in(tmp_path: Path) -> ServerPaths:
    paths = ServerPaths.under(tmp_path / "ls", tmp_path / "venv")
    exe = paths.executable
    exe.parent.mkdir(parents=True)
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    return paths


def test_up_registers_the_service_window_and_down_closes_it(home: FootprintHome, tmp_path: Path) -> None:
    paths = stand_in(tmp_path)
    info = up(paths, port=free_port(), wait_s=60.0, install=False, ledger_home=home)
    try:
        state = json.loads(paths.state.read_text())
        ledger = Ledger(home)
        assert ledger.open_windows() == {state["window_id"]: SERVICE_NAME}
        assert up(paths, wait_s=60.0, install=False, ledger_home=home).pid == info.pid  # no second window
        assert list(ledger.open_windows()) == [state["window_id"]]
        uses = LabelStudioResource(home_root=str(home.root)).metered_services()
        with ledger.window(materialization_id="m-step", role="step", name="label_tasks", uses_services=uses):
            pass
    finally:
        assert down(paths)
    assert Ledger(home).open_windows() == {}
    f = Facts.read(home)
    check_conservation(f)
    [service] = f.windows_named("service")
    assert (service["name"], service["materialization_id"], service["root_pid"]) == (
        SERVICE_NAME,
        None,
        info.pid,
    )
    assert f.ended(service["window_id"]) == {"closed"}
    assert f.use(service["window_id"]) > 0, "the server's start-up work is the service's"
    [step] = f.windows_named("step")
    assert step["uses_services"] == SERVICE_NAME and step["parent_window_id"] is None


def test_a_server_elsewhere_is_not_metered_here() -> None:
    assert LabelStudioResource(url="http://ls.example:8080").metered_services() == ()
    assert LabelStudioResource().metered_services() == (SERVICE_NAME,)


def test_metering_trouble_never_keeps_the_server_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = stand_in(tmp_path)
    blocked = FootprintHome.resolve(tmp_path / "not-a-dir")
    blocked.root.write_text("a file where the ledger's directory would be")
    with caplog.at_level(logging.WARNING):
        info = up(paths, port=free_port(), wait_s=60.0, install=False, ledger_home=blocked)
    try:
        assert info.healthy and "window_id" not in json.loads(paths.state.read_text())
        assert "Label Studio runs unmetered" in caplog.text
    finally:
        assert down(paths)
