"""Free loopback ports, and waiting for a server's ports to open or close."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports free on `host` now (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
    return ports


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Nothing listens on host:port (a server could bind it: SO_REUSEADDR, as servers set, so
    connections lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = LOOPBACK, timeout_s: float = 1.0) -> bool:
    """Something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_ports_closed(ports: Iterable[int], timeout_s: float, host: str = LOOPBACK) -> list[int]:
    """Wait until nothing listens on any of `ports`; returns those still busy at the timeout."""
    wanted = list(ports)
    deadline = time.monotonic() + timeout_s
    while True:
        busy = [p for p in wanted if not port_is_free(p, host)]
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.2)
