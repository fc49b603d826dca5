"""Bytes and seconds of HTTP traffic, per endpoint, through an httpx transport wrapper.

    transport = CountingTransport()                    # wraps httpx.HTTPTransport() by default
    client = httpx.Client(transport=transport, timeout=30.0, follow_redirects=True)
    ls = LabelStudio(base_url=url, api_key=token, httpx_client=client)
    ... use the SDK ...
    transport.record_into(rec, endpoint_kind="label-studio")   # Transfer facts; counts reset

What is counted, per endpoint (`host:port`, never credentials, paths or query strings):
- `bytes_sent`: request body bytes as they leave (streamed uploads included; headers are not);
- `bytes_received`: response body bytes as read from the wire (before gzip decoding, i.e. what
  travelled); a response never read is counted up to what was read when it was closed;
- `requests`, `errors` (transport exceptions), and `duration_s`: from sending the request until the
  response body is closed (a round trip, including server time).

Loopback endpoints (127.0.0.1, ::1, localhost) are recorded with scope 'local' by default: their
bytes never cross a network, so no data-transfer energy should be attributed to them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import httpx

if TYPE_CHECKING:
    from metering.recorder import MaterializationRecorder

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "[::1]"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class EndpointTraffic:
    """Traffic to one endpoint since the last reset."""

    endpoint: str  # 'host:port'
    requests: int = 0
    errors: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    duration_s: float = 0.0

    @property
    def is_loopback(self) -> bool:
        host = self.endpoint.rsplit(":", 1)[0]
        return host in LOOPBACK_HOSTS or host.startswith("127.")


def endpoint_of(url: httpx.URL) -> str:
    """`host:port` of a URL (scheme default port filled in); user info and query never included."""
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
    host = url.host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}"


class _Counts:
    """Mutable, lock-protected totals behind the transport."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_endpoint: dict[str, EndpointTraffic] = {}

    def add(self, endpoint: str, **deltas: float) -> None:
        with self.lock:
            cur = self.by_endpoint.get(endpoint) or EndpointTraffic(endpoint)
            self.by_endpoint[endpoint] = replace(cur, **{k: getattr(cur, k) + v for k, v in deltas.items()})


class _CountingRequestStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, counts: _Counts, endpoint: str) -> None:
        self._inner = inner
        self._counts = counts
        self._endpoint = endpoint

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._counts.add(self._endpoint, bytes_sent=len(chunk))
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _CountingResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, counts: _Counts, endpoint: str, t0: float) -> None:
        self._inner = inner
        self._counts = counts
        self._endpoint = endpoint
        self._t0 = t0
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._counts.add(self._endpoint, bytes_received=len(chunk))
            yield chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if not self._closed:
                self._closed = True
                self._counts.add(self._endpoint, duration_s=time.perf_counter() - self._t0)


class CountingTransport(httpx.BaseTransport):
    """An httpx transport that counts body bytes, requests and seconds per endpoint.

    Thread-safe; wraps `inner` (default: a fresh `httpx.HTTPTransport()`), which it closes on close.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx.HTTPTransport()
        self._counts = _Counts()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = endpoint_of(request.url)
        t0 = time.perf_counter()
        try:  # body already in memory (bytes/json/form content): count it whole
            self._counts.add(endpoint, bytes_sent=len(request.content))
        except httpx.RequestNotRead:  # a streamed upload: count chunks as they are sent
            assert isinstance(request.stream, httpx.SyncByteStream)
            request.stream = _CountingRequestStream(request.stream, self._counts, endpoint)
        try:
            response = self._inner.handle_request(request)
        except Exception:
            self._counts.add(endpoint, requests=1, errors=1, duration_s=time.perf_counter() - t0)
            raise
        try:  # an inner transport that returns a read response (mocks, caches)
            self._counts.add(
                endpoint,
                requests=1,
                bytes_received=len(response.content),
                duration_s=time.perf_counter() - t0,
            )
        except httpx.ResponseNotRead:
            self._counts.add(endpoint, requests=1)
            assert isinstance(response.stream, httpx.SyncByteStream)
            response.stream = _CountingResponseStream(response.stream, self._counts, endpoint, t0)
        return response

    def close(self) -> None:
        self._inner.close()

    # -- reading the counts -------------------------------------------------------------------
    def snapshot(self) -> dict[str, EndpointTraffic]:
        """Totals per endpoint since the last reset (a copy; counting goes on)."""
        with self._counts.lock:
            return dict(self._counts.by_endpoint)

    def reset(self) -> dict[str, EndpointTraffic]:
        """Return the totals and start counting from zero."""
        with self._counts.lock:
            taken = dict(self._counts.by_endpoint)
            self._counts.by_endpoint.clear()
        return taken

    @property
    def total(self) -> EndpointTraffic:
        """All endpoints together (endpoint='*')."""
        out = EndpointTraffic("*")
        for t in self.snapshot().values():
            out = EndpointTraffic(
                "*",
                out.requests + t.requests,
                out.errors + t.errors,
                out.bytes_sent + t.bytes_sent,
                out.bytes_received + t.bytes_received,
                out.duration_s + t.duration_s,
            )
        return out

    def record_into(
        self,
        rec: MaterializationRecorder,
        *,
        endpoint_kind: str,
        scope: Literal["network", "local"] | None = None,
        reset: bool = True,
    ) -> list[EndpointTraffic]:
        """Add Transfer facts to `rec`: per endpoint one 'download' fact (response bytes; it carries
        the requests and round-trip seconds) and, when any body was sent, one 'upload' fact (request
        bytes; requests=0, duration_s=0 so that time is not counted twice).

        `scope` None = 'local' for loopback endpoints, else 'network'. Returns what was recorded.
        """
        traffic = list((self.reset() if reset else self.snapshot()).values())
        for t in traffic:
            fact_scope = scope or ("local" if t.is_loopback else "network")
            rec.add_transfer(
                bytes_=t.bytes_received,
                duration_s=t.duration_s,
                direction="download",
                endpoint_kind=endpoint_kind,
                scope=fact_scope,
                endpoint=t.endpoint,
                requests=t.requests,
            )
            if t.bytes_sent:
                rec.add_transfer(
                    bytes_=t.bytes_sent,
                    duration_s=0.0,
                    direction="upload",
                    endpoint_kind=endpoint_kind,
                    scope=fact_scope,
                    endpoint=t.endpoint,
                    requests=0,
                )
        return traffic
