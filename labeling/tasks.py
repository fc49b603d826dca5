"""The Label Studio project and its tasks: create the project (or check an existing one offers the
label set), import missing rows.

Idempotent by the corpus `row_id`: the project's existing tasks are listed first (only `id` and
`data`), and only rows whose id is not there are imported, in batches. A batch that failed (even a
timed-out one, or one whose reply was lost, that the server did apply) is picked up by the next
run's listing, never duplicated.

Tasks deleted on the server: a row whose task an `annotations` sync found deleted in Label Studio
(`SyncState.deleted_tasks`) is NOT re-imported by default (`skip_rows`). Deleting a task is a
curation decision by someone with rights on the project (bad text, duplicate, out of scope);
re-importing it would silently undo that and pay annotators for the row again. Such rows are counted
(`tasks_deleted_on_server_not_reimported`) and left out of the row -> task map. To bring them back,
set `AnnotationPolicy.reimport_deleted_tasks` (or delete the row upstream to make it permanent).
Limit: a deletion no sync has seen yet looks like a row never imported and is re-imported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from labeling.client import LabelStudioClient, LabelStudioError, LabelStudioUnavailable
from labeling.label_set import LabelSetError, check_choices

FROM_NAME = "label"
TO_NAME = "text"
INLINE_MAX = 6  # more choices than this read better as a list than on one line


def label_config(choices: Sequence[str]) -> str:
    """A single-choice text classification config (`$text` shown, `row_id` kept in task data), one
    <Choice> per label in order, values XML-escaped; on one line up to `INLINE_MAX` choices, as a
    list beyond. Raises LabelSetError for an ill-formed label set (`labeling.label_set`)."""
    check_choices(choices)
    options = "".join(f'<Choice value="{escape(c, {chr(34): "&quot;"})}"/>' for c in choices)
    inline = ' showInline="true"' if len(choices) <= INLINE_MAX else ""
    return (
        f'<View><Text name="{TO_NAME}" value="$text"/>'
        f'<Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single"{inline}>{options}'
        "</Choices></View>"
    )


def config_choices(config: str) -> list[str]:
    """The <Choice value=...> values of a label config, in order."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(config)
    except ET.ParseError:
        return []
    return [str(el.get("value")) for el in root.iter("Choice") if el.get("value") is not None]


def choice_result(label: str) -> list[dict[str, Any]]:
    """The `result` of an annotation choosing `label` under `label_config`."""
    return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [label]}}]


def ensure_project(client: LabelStudioClient, title: str, choices: Sequence[str]) -> tuple[int, bool]:
    """The id of the project titled `title` (created with `choices` if missing) and whether it was
    created. A project that exists keeps its labelling config when it offers the same choices (in any
    order); with other choices, LabelSetError: its annotations were given under that label set, and
    changing it under them (or training on a mix) is a decision for a person, not for a re-run."""
    config = label_config(choices)
    found = client.find_project(title)
    if found is None:
        made = client.post_json("/api/projects/", {"title": title, "label_config": config})
        return int(made["id"]), True
    pid = int(found["id"])
    current = found.get("label_config") or client.get_json(f"/api/projects/{pid}/").get("label_config")
    has = config_choices(str(current or ""))
    if sorted(has) != sorted(choices):
        raise LabelSetError(
            f"project {title!r} (id {pid}) at {client.url} offers the choices {has}, this corpus needs "
            f"{list(choices)}: give this label set its own project (annotation_policy.project_title, e.g. "
            "run config resources: {annotation_policy: {config: {project_title: ...}}}), or set "
            f"annotation_policy.choices to {has} if they cover the corpus's labels, or change the "
            "project's labelling interface in Label Studio (Settings > Labeling Interface) and re-run"
        )
    return pid, False


@dataclass(frozen=True)
class ImportResult:
    project_id: int
    task_ids: dict[str, int]  # row_id -> task id, every row of the corpus split sent
    imported: int
    already_present: int
    duplicates_in_project: int  # tasks sharing a row_id (not ours to delete; lowest id is used)
    batches: int
    skipped_deleted: int = 0  # rows whose task was deleted on the server, not re-imported


def existing_row_ids(client: LabelStudioClient, project_id: int) -> tuple[dict[str, int], int]:
    """row_id -> lowest task id, and how many extra tasks repeat a row_id."""
    found: dict[str, int] = {}
    dupes = 0
    for task in client.iter_tasks(project_id, include="id,data"):
        row_id = (task.get("data") or {}).get("row_id")
        if row_id is None:
            continue
        key, tid = str(row_id), int(task["id"])
        if key in found:
            dupes += 1
            found[key] = min(found[key], tid)
        else:
            found[key] = tid
    return found, dupes


def import_missing(
    client: LabelStudioClient,
    project_id: int,
    rows: Iterable[tuple[str, str]],
    *,
    batch_size: int = 500,
    skip_rows: Collection[str] = (),
    extra_data: Mapping[str, Mapping[str, Any]] | None = None,
    meta: Mapping[str, Mapping[str, Any]] | None = None,
) -> ImportResult:
    """Import (row_id, text) rows not yet in the project, `batch_size` tasks per request; rows in
    `skip_rows` (their task was deleted on the server) are not re-imported. `extra_data` / `meta`
    (row_id -> fields) add task data beside text and row_id, and the task's `meta`, for those rows
    (adjudication tasks: labeling/conflicts.py); a row already in the project is left as it is."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    existing, dupes = existing_row_ids(client, project_id)
    wanted: dict[str, str] = {}
    for row_id, text in rows:
        wanted.setdefault(str(row_id), text)
    skip = set(skip_rows)
    absent = [(r, t) for r, t in wanted.items() if r not in existing]
    missing = [(r, t) for r, t in absent if r not in skip]
    mapping = {r: existing[r] for r in wanted if r in existing}
    batches = 0
    n_batches = -(-len(missing) // batch_size)
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        body = [_task(row_id, text, extra_data, meta) for row_id, text in chunk]
        try:
            reply = client.post_json(f"/api/projects/{project_id}/import", body, return_task_ids="true")
        except LabelStudioUnavailable as err:
            raise LabelStudioUnavailable(
                f"import batch {batches + 1}/{n_batches} ({len(chunk)} tasks) into project {project_id}: "
                f"{err} (the next run lists the project's tasks by row_id first and imports only the "
                "rows still missing, so no task is duplicated)"
            ) from err
        ids = reply.get("task_ids") or []
        if len(ids) != len(chunk):
            raise LabelStudioError(
                f"import into project {project_id} at {client.url} returned {len(ids)} task ids for "
                f"{len(chunk)} tasks; re-run to reconcile (existing tasks are listed first)"
            )
        mapping.update({row_id: int(tid) for (row_id, _), tid in zip(chunk, ids, strict=True)})
        batches += 1
    present, skipped = len(wanted) - len(absent), len(absent) - len(missing)
    return ImportResult(project_id, mapping, len(missing), present, dupes, batches, skipped)


def _task(
    row_id: str,
    text: str,
    extra_data: Mapping[str, Mapping[str, Any]] | None,
    meta: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """One task of an import request: text and row_id, plus the row's extra data and meta if any."""
    task: dict[str, Any] = {
        "data": {**((extra_data or {}).get(row_id) or {}), "text": text, "row_id": row_id}
    }
    if meta and row_id in meta:
        task["meta"] = dict(meta[row_id])
    return task
