"""Incremental annotation sync: fetch only tasks updated since the cursor, parse each annotation.

Label Studio bumps a task's `updated_at` whenever one of its annotations is created, updated or
deleted (drafts do not), and its data manager filters and orders tasks by it. So a sync asks for
tasks with `updated_at >= bound`, oldest first, with only the fields it needs, and walks forward
by keyset (the last `updated_at` seen) rather than by page number, so tasks updated during the walk
are neither skipped nor looped over. Requests and bytes grow with the work done since the last
sync, not with the project's size.

The bound (`SyncState.resume_bound`): a save whose transaction was still open when the previous
sync queried can carry an `updated_at` older than the newest one that sync saw. Every such save
started after (previous query's server time - lookback_s), given saves shorter than lookback_s, so
the next sync starts there (server time from the HTTP `Date` header, floored to the second, minus
one more second). Versions seen twice are de-duplicated by (annotation id, updated_at).

`parse_annotation` is pure: it never raises on bad input; a malformed annotation comes back with a
`reject_reason` (excluded from labels, tallied) and flags that keep its raw values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labeling.client import PAGE_SIZE, LabelStudioClient

SYNC_FIELDS = "id,updated_at,created_at,annotations,result,lead_time,completed_by,was_cancelled"
REJECT_REASONS = (
    "no_completed_by",
    "null_lead_time",
    "negative_lead_time",
    "huge_lead_time",
    "bad_lead_time",
    "empty_result",
    "choice_not_in_config",
    "multiple_choices",
    "bad_timestamp",
)


@dataclass(frozen=True)
class AnnotationVersion:
    """One version of one annotation, parsed (units in names; raw lead time kept)."""

    annotation_id: int
    task_id: int
    annotator: str
    lead_time_s: float | None  # raw, None when missing or invalid (raw value in flags)
    active_s: float | None  # min(lead_time_s, idle_cap_s); None (unknown, never 0) when lead_time_s is
    idle_cap_s: float
    was_cancelled: bool
    label: str | None  # None: skipped, rejected or no choice
    reject_reason: str | None
    flags: str
    created_at: dt.datetime
    updated_at: dt.datetime


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def filter_time(ts: dt.datetime) -> str:
    """A data-manager Datetime filter value: LS parses exactly '%Y-%m-%dT%H:%M:%S.%fZ' (UTC)."""
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def active_seconds(lead_time_s: float, idle_cap_s: float) -> tuple[float, bool]:
    """(active seconds, idle_capped): lead time above the cap counts as the cap."""
    if lead_time_s > idle_cap_s:
        return float(idle_cap_s), True
    return float(lead_time_s), False


def _lead_time(raw: Any, max_lead_time_s: float) -> tuple[float | None, str | None]:
    if raw is None:
        return None, "null_lead_time"
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        try:
            raw = float(raw)
        except (TypeError, ValueError):
            return None, "bad_lead_time"
    value = float(raw)
    if not math.isfinite(value):
        return None, "bad_lead_time"
    if value < 0:
        return None, "negative_lead_time"
    if value > max_lead_time_s:
        return None, "huge_lead_time"
    return value, None


def _choice(result: Any, choices: Sequence[str]) -> tuple[str | None, str | None]:
    if not isinstance(result, list) or not result:
        return None, "empty_result"
    picked: list[str] = []
    for item in result:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, dict) and isinstance(value.get("choices"), list):
            picked.extend(str(c) for c in value["choices"])
    if not picked:
        return None, "empty_result"
    if len(picked) > 1:
        return None, "multiple_choices"
    if picked[0] not in choices:
        return None, "choice_not_in_config"
    return picked[0], None


def parse_annotation(
    raw: Mapping[str, Any],
    task_id: int,
    *,
    choices: Sequence[str],
    users: Mapping[int, str],
    idle_cap_s: float,
    max_lead_time_s: float,
) -> AnnotationVersion:
    flags: list[str] = []
    reasons: list[str] = []
    completed_by = raw.get("completed_by")
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id")
    if completed_by is None:
        reasons.append("no_completed_by")
        annotator = "unknown"
    else:
        annotator = users.get(int(completed_by)) or f"user-{completed_by}"
    raw_lead = raw.get("lead_time")
    lead_time_s, lead_reason = _lead_time(raw_lead, max_lead_time_s)
    active_s: float | None = None
    if lead_reason:
        reasons.append(lead_reason)
        flags.append(f"raw_lead_time={raw_lead!r}"[:60])
    elif lead_time_s is not None:
        active_s, capped = active_seconds(lead_time_s, idle_cap_s)
        if capped:
            flags.append("idle_capped")
    cancelled = bool(raw.get("was_cancelled"))
    label: str | None = None
    if cancelled:
        flags.append("skipped")
    else:
        label, choice_reason = _choice(raw.get("result"), choices)
        if choice_reason:
            reasons.append(choice_reason)
    created = parse_time(raw.get("created_at"))
    updated = parse_time(raw.get("updated_at")) or created
    if created is None or updated is None:
        reasons.append("bad_timestamp")
        created = updated = created or updated or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    reject = reasons[0] if reasons else None
    if reject:
        flags.append(f"rejected:{reject}")
        label = None
    return AnnotationVersion(
        annotation_id=int(raw["id"]),
        task_id=int(task_id),
        annotator=annotator,
        lead_time_s=lead_time_s,
        active_s=active_s,
        idle_cap_s=float(idle_cap_s),
        was_cancelled=cancelled,
        label=label,
        reject_reason=reject,
        flags=",".join(flags),
        created_at=created,
        updated_at=updated,
    )


@dataclass(frozen=True)
class ChangedTask:
    task_id: int
    updated_at: dt.datetime
    annotations: list[dict[str, Any]]


@dataclass(frozen=True)
class Fetched:
    tasks: list[ChangedTask]
    server_time: dt.datetime | None  # server clock at the first query of this sync (lower bound)


def fetch_changed(client: LabelStudioClient, project_id: int, *, after: dt.datetime | None) -> Fetched:
    """Tasks of `project_id` updated at or after `after` (all tasks when None), with their (non-draft)
    annotations. Keyset walk on `updated_at`; each task once."""
    bound = after
    server_time: dt.datetime | None = None
    seen: dict[int, ChangedTask] = {}
    page = 1
    while True:
        query: dict[str, Any] = {"ordering": ["tasks:updated_at"]}
        if bound is not None:
            item = {
                "filter": "filter:tasks:updated_at",
                "operator": "greater_or_equal",
                "type": "Datetime",
                "value": filter_time(bound),
            }
            query["filters"] = {"conjunction": "and", "items": [item]}
        tasks = client.task_page(project_id, include=SYNC_FIELDS, query=query, page=page)
        if server_time is None and client.last_server_time is not None:
            server_time = client.last_server_time - dt.timedelta(seconds=1)  # `Date` has 1 s resolution
        fresh = 0
        newest = bound
        for t in tasks:
            updated = parse_time(t.get("updated_at"))
            if updated is None:
                continue
            tid = int(t["id"])
            prev = seen.get(tid)
            if prev is None or updated > prev.updated_at:
                seen[tid] = ChangedTask(tid, updated, list(t.get("annotations") or []))
                fresh += 1
            newest = updated if newest is None else max(newest, updated)
        if len(tasks) < PAGE_SIZE:
            break
        if fresh and newest != bound:
            bound, page = newest, 1  # keyset: continue after what we have seen
        else:
            page += 1  # a full page sharing one timestamp: step past it by page
    return Fetched(sorted(seen.values(), key=lambda c: (c.updated_at, c.task_id)), server_time)
