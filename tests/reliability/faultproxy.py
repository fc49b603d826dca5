"""A tiny HTTP proxy on 127.0.0.1 in front of Label Studio that injects faults by rule: HTTP 500 (with
or without the request's Authorization header echoed in the body), a delay beyond the client's
timeout, a response lost after the upstream applied the request, and the server stopping (the
listening socket closes: connection refused until `start()` again on the same port).

Every rule fires a bounded number of times; HTTP/1.0, one request per connection.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "content-encoding", "keep-alive"}


@dataclass
class Rule:
    method: str  # "GET", "POST", ... or "*"
    path_contains: str
    action: str  # "500" | "500-echo" | "delay" | "drop" (forward, then lose the reply) | "stop"
    after: int = 0  # let this many matching requests through first
    times: int = 1  # then fire this many times
    delay_s: float = 0.0
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and self.path_contains in path


class FaultProxy:
    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []  # (method, path, outcome)
        self._http = httpx.Client(base_url=self.upstream, timeout=60.0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet (and never logs headers)
                return

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """The server goes away: the listening socket closes (new connections are refused)."""
        server = self._server
        if server is not None:
            server.shutdown()
            server.server_close()
        self._server = None  # only now: `running` is False once the port is really closed

    def close(self) -> None:
        self.stop()
        self._http.close()

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.fired < rule.times and rule.matches(method, path):
                    rule.seen += 1
                    if rule.seen > rule.after:
                        rule.fired += 1
                        return rule
        return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        rule = self._rule_for(h.command, h.path)
        action = rule.action if rule else "pass"
        self.log.append((h.command, h.path, action))
        if action in ("500", "500-echo"):
            text = '{"detail": "injected server error"}'
            if action == "500-echo":  # a badly behaved server that reflects the request headers
                text = f'{{"detail": "boom", "headers": "Authorization: {h.headers.get("Authorization")}"}}'
            self._reply(h, 500, {"Content-Type": "application/json"}, text.encode())
            return
        if action == "stop":
            threading.Thread(target=self.stop, daemon=True).start()
            h.close_connection = True
            return  # no reply: the connection just ends
        if action == "delay":
            assert rule is not None
            time.sleep(min(rule.delay_s, 10.0))
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_HEADERS}
        resp = self._http.request(h.command, h.path, headers=headers, content=body)
        if action == "drop":  # the upstream applied it; the reply is lost on the way back
            h.close_connection = True
            return
        out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}
        self._reply(h, resp.status_code, out, resp.content)

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
