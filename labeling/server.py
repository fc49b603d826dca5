"""The local Label Studio server: its own virtualenv, start, stop, status.

    paths = ServerPaths.under(FootprintHome.resolve().labelstudio_dir)
    ensure_venv(paths.venv)                   # idempotent; ~85 s the first time
    info = up(paths, port=8080)               # waits for /health; info.url, never the token
    down(paths)                               # SIGTERM to the process group, then SIGKILL

Layout under `$FOOTPRINT_HOME/labelstudio/`: `venv/` (unless `$FOOTPRINT_LABELSTUDIO_VENV` names an
existing one), `data/` (LABEL_STUDIO_BASE_DATA_DIR), `home/` (HOME: even `--help` writes there),
`credentials.json` (0600: API token, admin password, Django secret key), `server.json` (pid, url,
meter window), `server.log`. The token is a 40-hex legacy API token provisioned at the first start.

Metering: `up()` registers the server as a service window (role 'service', name `SERVICE_NAME`, root =
the server's pid, no materialization) in the host ledger of `ledger_home` (default `$FOOTPRINT_HOME`);
`down()` closes it before stopping the server. Steps that use the managed server name it in their
window's `uses_services`, and its use while they run is charged to them (docs/metering.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from labeling.install import ENV_VENV, ServerError, ensure_venv
from warehouse.atomic import atomic_file
from warehouse.home import FootprintHome, make_private_dir
from warehouse.redact import redact, register_secret

logger = logging.getLogger(__name__)
ADMIN_EMAIL = "admin@footprint.local"
SERVICE_NAME = "label-studio"  # the service window's name, and what steps list in `uses_services`
DEFAULT_PORT = 8080
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServerPaths:
    root: Path
    venv: Path

    @classmethod
    def under(cls, root: Path, venv: Path | None = None) -> ServerPaths:
        """`venv`, else `$FOOTPRINT_LABELSTUDIO_VENV` (read now), else `root/venv`."""
        chosen = venv or (Path(os.environ[ENV_VENV]) if os.environ.get(ENV_VENV) else root / "venv")
        return cls(root.expanduser().resolve(), chosen.expanduser().resolve())

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    @property
    def state(self) -> Path:
        return self.root / "server.json"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "label-studio"


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int | None
    running: bool
    healthy: bool
    log: Path


# -- credentials -----------------------------------------------------------------------------------
def _write_private(path: Path, text: str) -> None:
    with atomic_file(path, mode=0o600) as tmp:
        tmp.write_text(text)


def credentials(paths: ServerPaths) -> dict[str, str]:
    """The server's credentials, created (0600) on first use. The token is registered for redaction."""
    make_private_dir(paths.root)
    if paths.credentials.exists():
        creds: dict[str, str] = json.loads(paths.credentials.read_text())
    else:
        creds = {
            "token": secrets.token_hex(20),
            "password": secrets.token_urlsafe(18),
            "secret_key": secrets.token_urlsafe(40),
            "email": ADMIN_EMAIL,
        }
        _write_private(paths.credentials, json.dumps(creds, indent=2))
    for key in ("token", "password", "secret_key"):
        register_secret(creds[key])
    return creds


def read_token(paths: ServerPaths) -> str | None:
    """The managed server's API token, or None when no server was ever provisioned here."""
    if not paths.credentials.exists():
        return None
    return credentials(paths)["token"]


# -- lifecycle -------------------------------------------------------------------------------------
def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _healthy(url: str, timeout_s: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def _read_state(paths: ServerPaths) -> dict[str, object] | None:
    try:
        state: dict[str, object] = json.loads(paths.state.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


def status(paths: ServerPaths) -> ServerInfo:
    state = _read_state(paths)
    if state is None:
        return ServerInfo(f"http://{LOOPBACK}:{DEFAULT_PORT}", None, False, False, paths.log)
    url, pid = str(state["url"]), int(state["pid"])  # type: ignore[call-overload]
    running = psutil.pid_exists(pid)
    return ServerInfo(url, pid, running, running and _healthy(url), paths.log)


def _server_env(paths: ServerPaths, creds: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    env.update(
        HOME=str(paths.home),
        LABEL_STUDIO_BASE_DATA_DIR=str(paths.data),
        LABEL_STUDIO_USERNAME=creds["email"],
        LABEL_STUDIO_PASSWORD=creds["password"],
        LABEL_STUDIO_USER_TOKEN=creds["token"],
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        SECRET_KEY=creds["secret_key"],
        VIRTUAL_ENV=str(paths.venv),
        PATH=f"{paths.venv / 'bin'}:{os.environ.get('PATH', '')}",
    )
    env.pop("PYTHONPATH", None)
    return env


# -- metering -------------------------------------------------------------------------------------
def _register_service(
    paths: ServerPaths, state: dict[str, object], ledger_home: FootprintHome | None
) -> None:
    """Open the server's service window (unless the one named in `state` is still open) and note it
    in server.json. Metering trouble is logged, never a reason to leave the server down."""
    from metering.errors import MeterError
    from metering.ledger import Ledger

    home = ledger_home or FootprintHome.resolve()
    try:
        ledger = Ledger(home)
        if state.get("window_id") in ledger.open_windows():
            return
        window_id, _ = ledger.open(
            materialization_id=None,
            role="service",
            name=SERVICE_NAME,
            root_pid=int(state["pid"]),  # type: ignore[call-overload]
        )
    except (MeterError, OSError) as err:
        logger.warning("Label Studio runs unmetered: its service window could not be opened (%s)", err)
        return
    state.update(window_id=window_id, ledger_home=str(home.root))
    _write_private(paths.state, json.dumps(state))


def _close_service(state: dict[str, object]) -> None:
    from metering.errors import MeterError
    from metering.ledger import Ledger

    window_id, home = state.get("window_id"), state.get("ledger_home")
    if not (isinstance(window_id, str) and isinstance(home, str)):
        return
    try:
        Ledger(FootprintHome.resolve(home)).close(window_id)
    except (MeterError, OSError) as err:
        logger.warning("Label Studio's service window %s could not be closed (%s)", window_id, err)


def up(
    paths: ServerPaths,
    *,
    port: int = DEFAULT_PORT,
    wait_s: float = 240.0,
    install: bool = True,
    ledger_home: FootprintHome | None = None,
) -> ServerInfo:
    """Start the server on 127.0.0.1:`port` (or return the running one) and wait until it answers
    with the provisioned token. Raises ServerError with the log's tail when it does not. The server is
    metered as a service window in `ledger_home`'s host ledger (default `$FOOTPRINT_HOME`)."""
    current = status(paths)
    if current.running:
        running = _read_state(paths)
        if running is not None:
            _register_service(paths, running, ledger_home)
        if current.healthy:
            return current
        return _wait_healthy(paths, current.url, current.pid or 0, wait_s)
    if not port_is_free(port):
        raise ServerError(
            f"port {port} on {LOOPBACK} is busy; Label Studio would silently move to another port. "
            "Stop what listens there or pass --port."
        )
    exe = ensure_venv(paths.venv) if install else paths.executable
    if not exe.exists():
        raise ServerError(f"no Label Studio in {paths.venv}; run scripts/labelstudio-install.sh")
    for d in (paths.root, paths.data, paths.home):
        make_private_dir(d)
    creds = credentials(paths)
    url = f"http://{LOOPBACK}:{port}"
    cmd = [str(exe), "start", "--no-browser", "--internal-host", LOOPBACK, "--port", str(port)]
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            env=_server_env(paths, creds),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=paths.root,
            start_new_session=True,
        )
    state: dict[str, object] = {
        "pid": proc.pid,
        "url": url,
        "port": port,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    _write_private(paths.state, json.dumps(state))
    _register_service(paths, state, ledger_home)  # its start-up (migrations) is the service's too
    try:
        return _wait_healthy(paths, url, proc.pid, wait_s)
    except ServerError:
        _close_service(state)
        raise


def _wait_healthy(paths: ServerPaths, url: str, pid: int, wait_s: float) -> ServerInfo:
    token = credentials(paths)["token"]
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or _reaped(pid):
            raise ServerError(
                f"Label Studio exited while starting on {url}; log {paths.log}:\n{_tail(paths)}"
            )
        if _healthy(url):
            who = httpx.get(f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {token}"})
            if who.status_code == 200:
                return ServerInfo(url, pid, True, True, paths.log)
            raise ServerError(
                f"Label Studio at {url} is up but rejects the token in {paths.credentials} "
                f"(HTTP {who.status_code}); the data dir {paths.data} was provisioned with another token. "
                "Run `footprint labelstudio down` and move the data dir away to re-provision."
            )
        time.sleep(0.5)
    raise ServerError(f"Label Studio did not answer {url}/health within {wait_s:.0f} s; log {paths.log}")


def _reaped(pid: int) -> bool:
    """True if `pid` is our zombie child that has exited (reaps it)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def _tail(paths: ServerPaths, n_chars: int = 3000) -> str:
    try:
        return redact(paths.log.read_text(errors="replace")[-n_chars:])
    except FileNotFoundError:
        return "(no log)"


def down(paths: ServerPaths, *, timeout_s: float = 20.0) -> bool:
    """Stop the server's whole process group. Returns False when none was running."""
    state = _read_state(paths)
    if state is None:
        return False
    pid = int(state["pid"])  # type: ignore[call-overload]
    _close_service(state)
    stopped = False
    if psutil.pid_exists(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and psutil.pid_exists(pid) and not _reaped(pid):
            time.sleep(0.2)
        if psutil.pid_exists(pid) and not _reaped(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        stopped = True
    paths.state.unlink(missing_ok=True)
    return stopped
