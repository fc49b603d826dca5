"""The local stack under a state dir (default `$FOOTPRINT_HOME/stack/`, 0700): what
`scripts/stack.sh up|down|status|env` (`python -m pipelines.stack`) runs.

    credentials.json   0600: the Postgres password, the S3 access key and secret (random, made at
                       the first `up`, kept after: the data stays readable with them)
    stack.json         0600: the ports of the last `up` (reused when free, else new free ones)
    postgres/          the cluster (as root: ~postgres/footprint/<hash> instead, see postgres.py)
    seaweed/           SeaweedFS data, identities.json (0600), weed.log

`purge` stops both and deletes all of it. Only `env` prints secrets, as `export` lines for
`eval "$(scripts/stack.sh env)"`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.stack.errors import StackError
from pipelines.stack.ports import free_ports, port_is_free
from pipelines.stack.postgres import PostgresCluster
from pipelines.stack.seaweed import REGION, SeaweedPorts, SeaweedServer
from warehouse.atomic import atomic_file
from warehouse.home import FootprintHome, make_private_dir

BUCKET = "footprint"
PREFIX = "stack"


def client_environment(postgres: PostgresCluster, s3: SeaweedServer, store_url: str) -> dict[str, str]:
    """What a step, the loader or a Dagster process needs to use these servers (secrets included)."""
    return {
        "FOOTPRINT_STORE": store_url,
        **s3_client_environment(s3),
        "DAGSTER_PG_URL": postgres.sqlalchemy_url,
    }


def s3_client_environment(s3: SeaweedServer) -> dict[str, str]:
    """The S3 client settings of the store server (secrets included), without FOOTPRINT_STORE."""
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_REGION": REGION,
        # SeaweedFS rejects the newer clients' default request checksums on signed multi-part uploads
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
    }


@dataclass(frozen=True)
class StackPaths:
    root: Path

    @classmethod
    def resolve(cls, root: Path | None = None) -> StackPaths:
        return cls((root or FootprintHome.resolve().root / "stack").expanduser().resolve())

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def seaweed(self) -> Path:
        return self.root / "seaweed"


@dataclass(frozen=True)
class StackCredentials:
    postgres_password: str
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def load_or_create(cls, paths: StackPaths) -> StackCredentials:
        if paths.credentials.exists():
            return cls(**json.loads(paths.credentials.read_text()))
        made = cls(
            postgres_password=secrets.token_hex(24),
            s3_access_key="FP" + secrets.token_hex(9).upper(),
            s3_secret_key=secrets.token_hex(24),
        )
        make_private_dir(paths.root)
        with atomic_file(paths.credentials, mode=0o600) as tmp:
            tmp.write_text(json.dumps(asdict(made), indent=2))
        return made


@dataclass(frozen=True)
class Stack:
    postgres: PostgresCluster
    s3: SeaweedServer
    paths: StackPaths

    @property
    def store_url(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}"

    def environment(self) -> dict[str, str]:
        return client_environment(self.postgres, self.s3, self.store_url)

    def summary(self) -> str:
        """Where things are, never a secret."""
        return (
            f"PostgreSQL {self.postgres.dsn_redacted} (log {self.postgres.log}); "
            f"S3 {self.s3.endpoint_url}, store {self.store_url} (log {self.s3.log})"
        )


def _read_ports(paths: StackPaths) -> tuple[int, SeaweedPorts] | None:
    try:
        state = json.loads(paths.state.read_text())
        return int(state["postgres_port"]), SeaweedPorts(**state["seaweed_ports"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_ports(paths: StackPaths, postgres_port: int, seaweed: SeaweedPorts) -> None:
    with atomic_file(paths.state, mode=0o600) as tmp:
        tmp.write_text(json.dumps({"postgres_port": postgres_port, "seaweed_ports": asdict(seaweed)}))


def open_stack(paths: StackPaths) -> Stack | None:
    """The stack as last configured under `paths` (None: never brought up)."""
    ports = _read_ports(paths)
    if ports is None or not paths.credentials.exists():
        return None
    return _stack(paths, StackCredentials.load_or_create(paths), *ports)


def _stack(paths: StackPaths, creds: StackCredentials, pg_port: int, sw_ports: SeaweedPorts) -> Stack:
    postgres = PostgresCluster.under(paths.postgres, port=pg_port, password=creds.postgres_password)
    s3 = SeaweedServer(paths.seaweed, sw_ports, creds.s3_access_key, creds.s3_secret_key)
    return Stack(postgres, s3, paths)


def up(paths: StackPaths, *, wait_s: float = 60.0) -> tuple[Stack, bool]:
    """Start both servers (those not running) and wait until both answer. Returns the stack and
    whether both were already running. Ports: the last ones when free, else new free ones."""
    make_private_dir(paths.root)
    creds = StackCredentials.load_or_create(paths)
    previous = open_stack(paths)
    if previous is not None and previous.postgres.running() and previous.s3.running():
        previous.postgres.start(wait_s=wait_s)  # waits / checks they answer
        previous.s3.start(wait_s=wait_s)
        return previous, True
    if previous is not None and (previous.postgres.running() or port_is_free(previous.postgres.port)):
        pg_port = previous.postgres.port
    else:
        pg_port = free_ports(1)[0]
    if previous is not None and (previous.s3.running() or previous.s3.ports.all_free()):
        sw_ports = previous.s3.ports
    else:
        sw_ports = SeaweedPorts.choose()
    _write_ports(paths, pg_port, sw_ports)
    stack = _stack(paths, creds, pg_port, sw_ports)
    stack.postgres.start(wait_s=wait_s)
    stack.s3.start(wait_s=wait_s)
    stack.s3.create_bucket(BUCKET)
    return stack, False


def down(paths: StackPaths) -> bool:
    """Stop both servers and wait for their ports to close; False when none was running."""
    stack = open_stack(paths)
    if stack is None:
        return False
    stopped_s3 = stack.s3.stop()
    stopped_pg = stack.postgres.stop()
    return stopped_s3 or stopped_pg


def purge(paths: StackPaths) -> None:
    """Stop both servers and delete everything of the stack: data, credentials, logs."""
    stack = open_stack(paths)
    down(paths)
    if stack is not None:
        shutil.rmtree(stack.postgres.root, ignore_errors=True)  # outside the state dir as root
    shutil.rmtree(paths.root, ignore_errors=True)


def status_lines(paths: StackPaths) -> list[str]:
    stack = open_stack(paths)
    if stack is None:
        return [f"stack: never started under {paths.root}"]
    pg, s3 = stack.postgres, stack.s3
    return [
        f"postgres: {_state(pg.running(), pg.running() and pg.answers())} {pg.dsn_redacted} (log {pg.log})",
        f"s3: {_state(s3.running(), s3.running() and s3.answers())} {s3.endpoint_url} "
        f"store {stack.store_url} (log {s3.log})",
    ]


def _state(running: bool, answers: bool) -> str:
    return "answering" if answers else ("running, not answering" if running else "stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.sh", description="The local PostgreSQL + S3 stack.")
    parser.add_argument("command", choices=["up", "down", "status", "env", "purge"])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: $FOOTPRINT_HOME/stack")
    parser.add_argument("--wait-s", type=float, default=60.0, help="how long `up` waits for each server")
    args = parser.parse_args(argv)
    paths = StackPaths.resolve(args.state_dir)
    try:
        if args.command == "up":
            stack, already = up(paths, wait_s=args.wait_s)
            print(f"stack: {'already running' if already else 'up'}: {stack.summary()}")
            print('stack: use it with: eval "$(scripts/stack.sh env)"')
        elif args.command == "down":
            print("stack: stopped" if down(paths) else "stack: was not running")
        elif args.command == "purge":
            purge(paths)
            print(f"stack: stopped; deleted {paths.root} (data, credentials, logs)")
        elif args.command == "status":
            print("\n".join(status_lines(paths)))
        else:
            current = open_stack(paths)
            if current is None or not (current.postgres.running() and current.s3.running()):
                print(f"stack: not running under {paths.root}; run `make stack-up` first", file=sys.stderr)
                return 1
            for key, value in current.environment().items():
                print(f"export {key}={shlex.quote(value)}")
    except StackError as err:
        print(f"stack: {err}", file=sys.stderr)
        return 1
    return 0
