"""One PostgreSQL cluster on loopback, from Debian's `postgresql` package (no service manager).

    cluster = PostgresCluster.under(state_dir / "postgres", port=port, password=password)
    cluster.start()        # initdb on first use, pg_ctl start -w, create the database; idempotent
    cluster.dsn            # postgresql://footprint:PASSWORD@127.0.0.1:PORT/dagster (a secret; libpq)
    cluster.sqlalchemy_url # postgresql+psycopg2://... (the same, for Dagster / SQLAlchemy)
    cluster.restart()      # same port, same data: what a fault test needs
    cluster.stop()         # pg_ctl stop -m fast -w, then waits for the port to close

`initdb` and the server refuse to run as root: as root they run as the `postgres` user, and the
cluster lives in a directory that user can reach (`~postgres/footprint/<hash of the requested
dir>`), since a root-owned 0700 state dir is closed to it. Otherwise the cluster is the requested
dir itself. Inside: `data/` (PGDATA), `postgres.log`. TCP on 127.0.0.1 only, with a password
(SCRAM); no Unix socket.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.stack.errors import INSTALL_HINT, StackError
from pipelines.stack.ports import LOOPBACK, wait_ports_closed
from warehouse.redact import redact, register_secret

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # the account Debian's package creates; used when we run as root
DEFAULT_USER = "footprint"
DEFAULT_DATABASE = "dagster"


def bin_dir() -> Path:
    """The directory of initdb/pg_ctl/postgres: the newest /usr/lib/postgresql/*/bin, else PATH."""
    found = sorted(
        (p.parent for p in PG_ROOT.glob("*/bin/initdb")),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise StackError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found in {PG_ROOT}/*/bin or PATH; {INSTALL_HINT}"
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def cluster_root(requested: Path) -> Path:
    """Where the cluster for `requested` lives: `requested` itself, or as root a directory the
    `postgres` user owns and can reach (see the module docstring)."""
    requested = requested.expanduser().resolve()
    if not _as_root():
        return requested
    try:
        account = pwd.getpwnam(SERVER_USER)
    except KeyError as err:
        raise StackError(
            f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL; {INSTALL_HINT}"
        ) from err
    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:16]
    return Path(account.pw_dir) / "footprint" / digest


def _private_dir_for_server(path: Path) -> None:
    """Create `path` (and its parent) 0700, owned by the server's user."""
    for d in (path.parent, path):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        if _as_root():
            account = pwd.getpwnam(SERVER_USER)
            os.chown(d, account.pw_uid, account.pw_gid)


@dataclass(frozen=True)
class PostgresCluster:
    root: Path
    port: int
    password: str
    user: str = DEFAULT_USER
    database: str = DEFAULT_DATABASE
    host: str = LOOPBACK

    @classmethod
    def under(cls, requested: Path, *, port: int, password: str) -> PostgresCluster:
        register_secret(password)
        return cls(cluster_root(requested), port, password)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def dsn(self) -> str:
        """The connection URL, password included: a secret (environment only, never logs)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy users (Dagster's `postgres_url`, DAGSTER_PG_URL), naming the driver:
        SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which dagster-postgres does not
        install (it depends on psycopg2): `dagster asset materialize` then fails with
        "No module named 'psycopg'". A secret, like `dsn`."""
        return self.dsn.replace("postgresql://", "postgresql+psycopg2://", 1)

    @property
    def dsn_redacted(self) -> str:
        return f"postgresql://{self.user}:***@{self.host}:{self.port}/{self.database}"

    # -- running the server's tools ---------------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        kwargs: dict[str, object] = {}
        if _as_root():
            account = pwd.getpwnam(SERVER_USER)
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            env["HOME"] = account.pw_dir
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(bin_dir() / tool), *args],
            env=env,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the postmaster outlives us and ignores our terminal's signals
            **kwargs,
        )

    def _tail(self, n_chars: int = 2000) -> str:
        try:
            return redact(self.log.read_text(errors="replace")[-n_chars:])
        except OSError:
            return "(no log)"

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def initialize(self) -> None:
        """initdb with our superuser and password (idempotent)."""
        if self.initialized():
            return
        _private_dir_for_server(self.root)
        pwfile = self.root / ".pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        if _as_root():
            account = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        try:
            done = self._run(
                "initdb",
                "-D", str(self.data_dir),
                "-U", self.user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "-E", "UTF8",
                "--locale=C",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise StackError(
                f"initdb of {self.data_dir} failed (exit {done.returncode}):\n{redact(done.stderr[-2000:])}"
            )

    # -- lifecycle ------------------------------------------------------------------------------------
    def running(self) -> bool:
        """The postmaster of this data dir is alive (pg_ctl status)."""
        if not self.initialized():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), timeout_s=30).returncode == 0

    def answers(self) -> bool:
        """The server accepts connections on host:port (pg_isready)."""
        checked = self._run("pg_isready", "-h", self.host, "-p", str(self.port), "-t", "2", timeout_s=10)
        return checked.returncode == 0

    def start(self, *, wait_s: float = 60.0) -> None:
        """Initialize if needed, start (unless running), wait until it accepts connections on the
        port, and create the database. Raises StackError naming the log when it does not answer."""
        self.initialize()
        if not self.running():
            # TCP on loopback only, no Unix socket (its path is capped near 107 bytes and a deep
            # state dir would exceed it; pg_ctl -w reads readiness from postmaster.pid)
            options = f"-p {self.port} -k '' -c listen_addresses={self.host}"
            started = self._run(
                "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log), "-o", options,
                "-w", "-t", str(int(wait_s)),
                timeout_s=wait_s + 30,
            )  # fmt: skip
            if started.returncode != 0:
                raise StackError(
                    f"PostgreSQL did not start on {self.host}:{self.port} within {wait_s:.0f} s "
                    f"(pg_ctl exit {started.returncode}); log {self.log}:\n{self._tail()}"
                )
        if not self.answers():
            raise StackError(
                f"PostgreSQL in {self.data_dir} runs but does not answer on {self.host}:{self.port} "
                f"(another port from an earlier start?); stop it and start again; log {self.log}"
            )
        self._ensure_database()

    def with_database(self, database: str) -> PostgresCluster:
        """The same running server, seen through another database (created if missing): separate
        Dagster instances on one server, e.g. one per test."""
        other = replace(self, database=database)
        other._ensure_database()
        return other

    def _ensure_database(self) -> None:
        import psycopg2
        from psycopg2 import sql

        try:
            conn = psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname="postgres",
                connect_timeout=10,
            )
        except psycopg2.Error as err:
            raise StackError(
                f"PostgreSQL at {self.dsn_redacted} refuses our credentials: {redact(str(err))}"
            ) from None
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        finally:
            conn.close()

    def stop(self, *, timeout_s: float = 60.0) -> bool:
        """Fast shutdown (sessions cut, nothing committed lost), then wait for the port to close.
        Returns False when it was not running."""
        if not self.running():
            return False
        stopped = self._run(
            "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(int(timeout_s)),
            timeout_s=timeout_s + 30,
        )  # fmt: skip
        if stopped.returncode != 0:
            raise StackError(f"PostgreSQL in {self.data_dir} did not stop: {redact(stopped.stderr[-1000:])}")
        busy = wait_ports_closed([self.port], timeout_s=timeout_s)
        if busy:
            raise StackError(f"PostgreSQL stopped but port {self.port} stays open")
        return True

    def restart(self, *, wait_s: float = 60.0) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start(wait_s=wait_s)

    def destroy(self) -> None:
        """Stop and remove the cluster's directory (its data included)."""
        with contextlib.suppress(StackError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
