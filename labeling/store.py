"""Per-project sync state: the newest version of every annotation seen, and the sync cursor.

`$FOOTPRINT_HOME/labelstudio/sync/<server>-p<project>/annotations.parquet` holds one row per
annotation id (its newest version); the cursor (the newest task `updated_at` seen, and the server
time of the last sync's first query) travels in the same file's schema metadata, so state and
cursor are replaced together by one atomic rename. The `annotations` asset commits a new state
only after its facts batch is published: a run that dies earlier leaves the old state, and the
next run re-syncs exactly the same window.

Tasks deleted on the server: the incremental sync only sees tasks that exist, so each sync also
lists the project's task ids (ids only, `LabelStudioClient.task_ids`) and `reconcile_tasks` compares
them with every task it knows (tasks with synced annotations and the label_tasks map). A known task
missing from the listing is recorded in `deleted_tasks` (task id -> corpus row id, when known; kept
in the same schema metadata): its annotations stay in the state (the labour happened, its facts stay
in the warehouse and it still counts as spend) but `live_versions` leaves it out, so its label
leaves the training set. A task that shows up again is taken off the list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from labeling.sync import AnnotationVersion, ChangedTask
from warehouse.atomic import atomic_file
from warehouse.home import make_private_dir

_TS = pa.timestamp("us", tz="UTC")
STATE_SCHEMA = pa.schema(
    [
        ("annotation_id", pa.int64()),
        ("task_id", pa.int64()),
        ("annotator", pa.string()),
        ("lead_time_s", pa.float64()),
        ("active_s", pa.float64()),
        ("idle_cap_s", pa.float64()),
        ("was_cancelled", pa.bool_()),
        ("label", pa.string()),
        ("reject_reason", pa.string()),
        ("flags", pa.string()),
        ("created_at", _TS),
        ("updated_at", _TS),
    ]
)
_CURSOR_KEY = b"footprint.sync_cursor"
_DELETED_KEY = b"footprint.deleted_tasks"


@dataclass
class SyncState:
    annotations: dict[int, AnnotationVersion] = field(default_factory=dict)
    cursor: dt.datetime | None = None  # newest task updated_at seen (server clock)
    fetched_at: dt.datetime | None = None  # server clock at the last sync's first query
    deleted_tasks: dict[int, str | None] = field(default_factory=dict)  # task id -> row id

    def known_task_ids(self) -> set[int]:
        return {v.task_id for v in self.annotations.values()} | set(self.deleted_tasks)

    def live_versions(self) -> list[AnnotationVersion]:
        """Annotations of tasks that still exist on the server (what labels are made of)."""
        return [v for v in self.annotations.values() if v.task_id not in self.deleted_tasks]

    def deleted_row_ids(self) -> set[str]:
        return {r for r in self.deleted_tasks.values() if r is not None}

    def reconcile_tasks(
        self, present: set[int], *, also_known: Iterable[int] = (), row_of: Mapping[int, str] | None = None
    ) -> TaskReconcile:
        """Compare the server's task ids (`present`, listed after this sync's fetch, so every task the
        fetch saw was created before the listing) with the tasks known here and in `also_known`
        (the label_tasks map). Records tasks that disappeared; forgets those that came back."""
        row_of = row_of or {}
        known = self.known_task_ids() | set(also_known)
        deleted = sorted(t for t in known if t not in present and t not in self.deleted_tasks)
        back = sorted(t for t in self.deleted_tasks if t in present)
        for t in back:
            del self.deleted_tasks[t]
        for t in deleted:
            self.deleted_tasks[t] = row_of.get(t)
        gone = set(deleted)
        dropped = sorted(v.annotation_id for v in self.annotations.values() if v.task_id in gone)
        return TaskReconcile(deleted, back, dropped)

    def resume_bound(self, lookback_s: float) -> dt.datetime | None:
        """Where the next sync starts (see labeling.sync): None = everything."""
        if self.cursor is None:
            return None
        return (self.fetched_at or self.cursor) - dt.timedelta(seconds=lookback_s)

    def merge(
        self, changed: Iterable[ChangedTask], parsed: dict[int, list[AnnotationVersion]]
    ) -> MergeResult:
        """Apply the changed tasks: new/updated versions replace older ones; annotations a changed
        task no longer has (deleted in Label Studio) are dropped. Returns what changed."""
        new: list[AnnotationVersion] = []
        removed: list[int] = []
        cursor = self.cursor
        for task in changed:
            versions = parsed.get(task.task_id, [])
            keep = {v.annotation_id for v in versions}
            for aid in [
                a for a, v in self.annotations.items() if v.task_id == task.task_id and a not in keep
            ]:
                removed.append(aid)
                del self.annotations[aid]
            for v in versions:
                old = self.annotations.get(v.annotation_id)
                if old is None or v.updated_at > old.updated_at:
                    self.annotations[v.annotation_id] = v
                    new.append(v)
            cursor = task.updated_at if cursor is None else max(cursor, task.updated_at)
        self.cursor = cursor
        return MergeResult(new, removed)


@dataclass(frozen=True)
class MergeResult:
    new_versions: list[AnnotationVersion]
    removed_ids: list[int]


@dataclass(frozen=True)
class TaskReconcile:
    deleted: list[int]  # tasks found deleted on the server by this sync
    reappeared: list[int]  # tasks recorded as deleted that exist again
    annotations_on_deleted: list[int]  # annotation ids on `deleted` (kept as labour, no label)


def state_path(root: Path, project_key: str) -> Path:
    return root / "sync" / project_key / "annotations.parquet"


def load_state(path: Path) -> SyncState:
    if not path.exists():
        return SyncState()
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    raw = json.loads(meta.get(_CURSOR_KEY, b"{}")) or {}
    state = SyncState(
        cursor=dt.datetime.fromisoformat(raw["cursor"]) if raw.get("cursor") else None,
        fetched_at=dt.datetime.fromisoformat(raw["fetched_at"]) if raw.get("fetched_at") else None,
    )
    deleted = json.loads(meta.get(_DELETED_KEY, b"{}")) or {}
    state.deleted_tasks = {int(t): r for t, r in deleted.items()}
    for row in table.to_pylist():
        if row["lead_time_s"] is None:  # state saved before unknown time was None: it was 0.0
            row["active_s"] = None
        v = AnnotationVersion(**row)
        state.annotations[v.annotation_id] = v
    return state


def save_state(path: Path, state: SyncState) -> None:
    """Atomically replace the state file (`warehouse.atomic.atomic_file`)."""
    make_private_dir(path.parent)
    rows = [dataclasses.asdict(v) for v in sorted(state.annotations.values(), key=lambda v: v.annotation_id)]
    marks = {
        k: None if v is None else v.isoformat()
        for k, v in (("cursor", state.cursor), ("fetched_at", state.fetched_at))
    }
    deleted = {str(t): r for t, r in sorted(state.deleted_tasks.items())}
    schema = STATE_SCHEMA.with_metadata(
        {_CURSOR_KEY: json.dumps(marks).encode(), _DELETED_KEY: json.dumps(deleted).encode()}
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def all_states(root: Path) -> dict[str, Path]:
    """project_key -> state file, for every project synced under `root`."""
    base = root / "sync"
    if not base.exists():
        return {}
    return {p.parent.name: p for p in sorted(base.glob("*/annotations.parquet"))}
