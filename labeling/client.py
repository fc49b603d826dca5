"""A small Label Studio REST client: bounded retries, errors that name the URL (never the token), and
every byte counted by metering's CountingTransport.

Retries: connection failures are retried for every method (nothing reached the server); timeouts,
429 and 5xx only for GET (a POST that timed out, or whose connection broke before the reply, may
have been applied; our writers re-list and resume instead). 401/403 are never retried.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from metering.http import CountingTransport
from warehouse.redact import redact, register_secret

PAGE_SIZE = 100
ID_PAGE_SIZE = 10_000  # task ids per request when listing a project's ids (~10 B each)


class LabelStudioError(RuntimeError):
    """A Label Studio call failed; the message names the URL and what to do, never the token."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class LabelStudioUnavailable(LabelStudioError):
    """The server could not be reached, timed out or kept answering 5xx."""


class LabelStudioAuthError(LabelStudioError):
    """The server rejected the API token (401/403)."""


class LabelStudioClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url:
            raise LabelStudioError(
                "no Label Studio URL configured: set LABEL_STUDIO_URL or run `footprint labelstudio up`"
            )
        if not token:
            raise LabelStudioError(
                f"no API token for Label Studio at {url}: set LABEL_STUDIO_API_KEY "
                "or run `footprint labelstudio up` (provisions one)"
            )
        register_secret(token)
        self.url = url.rstrip("/")
        self.counter = transport if isinstance(transport, CountingTransport) else CountingTransport(transport)
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.http = httpx.Client(
            base_url=self.url,
            transport=self.counter,
            headers={"Authorization": f"Token {token}"},
            timeout=timeout_s,
            follow_redirects=True,
        )
        self._token = token
        self.last_server_time: dt.datetime | None = None  # `Date` of the last response (server clock)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport with retries ------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        where = f"{method} {self.url}{path}"
        retry_http = method.upper() == "GET"
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.http.request(method, path, **kwargs)
            except httpx.ConnectError as err:
                last = f"cannot connect ({type(err).__name__})"
            except httpx.TimeoutException as err:
                last = f"timed out after {self.http.timeout.read} s ({type(err).__name__})"
                if not retry_http:
                    raise LabelStudioUnavailable(
                        f"{where}: {last}; not retried (it may have been applied); "
                        "re-run: the next run resumes"
                    ) from err
            except httpx.TransportError as err:
                last = f"transport error ({type(err).__name__})"
                if not retry_http:
                    raise LabelStudioUnavailable(
                        f"{where}: {last}: the connection broke before the reply; not retried (it may "
                        "have been applied); re-run: the next run resumes"
                    ) from err
            else:
                if resp.status_code in (401, 403):
                    raise LabelStudioAuthError(
                        f"{where}: HTTP {resp.status_code}, Label Studio rejected the API token. Set "
                        "LABEL_STUDIO_API_KEY to a valid token (Account & Settings > Legacy token) or run "
                        "`footprint labelstudio up` for the managed server."
                    )
                if resp.status_code < 400:
                    self.last_server_time = _server_time(resp)
                    return resp
                if not (retry_http and (resp.status_code >= 500 or resp.status_code == 429)):
                    if resp.status_code >= 500:
                        raise LabelStudioUnavailable(f"{where}: HTTP {resp.status_code}: {_snippet(resp)}")
                    raise LabelStudioError(f"{where}: HTTP {resp.status_code}: {_snippet(resp)}")
                last = f"HTTP {resp.status_code}: {_snippet(resp)}"
            if attempt < self.max_attempts:
                self._sleep(min(self.backoff_s * 2 ** (attempt - 1), 8.0))
        raise LabelStudioUnavailable(
            f"{where}: gave up after {self.max_attempts} attempts, last: {last}. Is Label Studio running "
            f"at {self.url}? (`footprint labelstudio status`)"
        )

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post_json(self, path: str, body: Any, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=params or None).json()

    # -- endpoints -------------------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json("/api/current-user/whoami")
        return result

    def find_project(self, title: str) -> dict[str, Any] | None:
        page = 1
        while True:
            body = self.get_json("/api/projects/", title=title, page=page, page_size=PAGE_SIZE)
            items = body.get("results", body) if isinstance(body, dict) else body
            for p in items:
                if p.get("title") == title:
                    return dict(p)
            if not isinstance(body, dict) or not body.get("next"):
                return None
            page += 1

    def users(self) -> dict[int, dict[str, Any]]:
        body = self.get_json("/api/users/")
        items = body.get("results", body) if isinstance(body, dict) else body
        return {int(u["id"]): u for u in items}

    def iter_tasks(
        self, project: int, *, include: str, query: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every task of `project` matching the data-manager `query`, page by page (only `include`d
        fields, so the bytes moved stay small)."""
        page = 1
        while True:
            tasks = self.task_page(project, include=include, query=query, page=page)
            yield from tasks
            if len(tasks) < PAGE_SIZE:
                return
            page += 1

    def task_page(
        self,
        project: int,
        *,
        include: str,
        query: dict[str, Any] | None = None,
        page: int = 1,
        page_size: int = PAGE_SIZE,
    ) -> list[dict[str, Any]]:
        return list(
            self.task_page_body(project, include=include, query=query, page=page, page_size=page_size).get(
                "tasks", []
            )
        )

    def task_page_body(
        self,
        project: int,
        *,
        include: str,
        query: dict[str, Any] | None = None,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        all_fields: bool = True,
    ) -> dict[str, Any]:
        """One page of the data manager's task list (`tasks`, `total`, ...); {} past the last page.
        `all_fields=False` leaves out annotations, predictions and drafts (Label Studio's task-only
        default), whatever `include` says."""
        params: dict[str, Any] = {
            "project": project,
            "page": page,
            "page_size": page_size,
            "include": include,
        }
        if all_fields:
            params["fields"] = "all"
        if query:
            params["query"] = json.dumps(query)
        try:
            body: dict[str, Any] = self.get_json("/api/tasks/", **params)
        except LabelStudioError as err:
            if "HTTP 404" in str(err) and page > 1:  # past the last page
                return {}
            raise
        return body

    def task_ids(self, project: int, *, page_size: int = ID_PAGE_SIZE) -> set[int]:
        """The ids of every task of `project` now: ids only, `page_size` per request, walked by keyset
        on the id (ordered by id, `id > last seen`), so a task deleted or created during the walk
        never makes another one be skipped. Cost: one request per `page_size` tasks."""
        ids: set[int] = set()
        last: int | None = None
        while True:
            query: dict[str, Any] = {"ordering": ["tasks:id"]}
            if last is not None:
                item = {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": last}
                query["filters"] = {"conjunction": "and", "items": [item]}
            body = self.task_page_body(
                project, include="id", query=query, page_size=page_size, all_fields=False
            )
            page = [int(t["id"]) for t in body.get("tasks", [])]
            ids.update(page)
            if len(page) < page_size or not page or (last is not None and max(page) <= last):
                return ids
            last = max(page)


def _server_time(resp: httpx.Response) -> dt.datetime | None:
    try:
        return parsedate_to_datetime(resp.headers["date"]).astimezone(dt.UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _snippet(resp: httpx.Response, n_chars: int = 300) -> str:
    try:
        text = resp.text
    except (httpx.HTTPError, UnicodeDecodeError):
        return "(unreadable body)"
    if text.lstrip().startswith("<"):
        return "(HTML page)"
    return " ".join(text.split())[:n_chars]
