"""Incremental annotation sync vs a full export, on a 10k-task project with 100 new annotations.

Starts the real Label Studio (own venv; data dir kept under $FOOTPRINT_TEST_CACHE/labelstudio/bench
so later runs are warm and reuse the project), makes sure the project holds 10,000 tasks (half of
them annotated, imported through the bulk path), syncs once to set the cursor, submits 100 new
annotations through the API, then measures, side by side in the same run:
- the incremental sync (`labeling.sync.fetch_changed` since the cursor + the users lookup, exactly
  what the `annotations` asset does): requests, bytes down/up, seconds;
- a full JSON export of the project (`/api/projects/<id>/export`), the usual way to pull annotations.
Target: the incremental sync's bytes are proportional to the new work, not the project size.

    python -m bench.bench_labeling [--tasks 10000] [--new 100]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from bench.common import BenchRow, print_rows

TITLE = "bench: 10k tasks"
LOOKBACK_S = 5.0  # AnnotationPolicy.lookback_s default


def _cache() -> Path:
    return Path(os.environ.get("FOOTPRINT_TEST_CACHE") or "~/.cache/footprint-tests").expanduser()


def _ensure_project(client: object, n_tasks: int) -> tuple[int, bool]:
    from labeling.client import LabelStudioClient
    from labeling.tasks import choice_result, ensure_project

    assert isinstance(client, LabelStudioClient)
    pid, _ = ensure_project(client, f"{TITLE} ({n_tasks})", ["negative", "positive"])
    have = len(list(client.iter_tasks(pid, include="id")))
    uid = int(client.whoami()["id"])
    rng = random.Random(1)
    batch = []
    for i in range(have, n_tasks):
        task: dict[str, object] = {
            "data": {"text": f"benchmark text {i} " + "lorem ipsum " * 8, "row_id": f"b{i}"}
        }
        if i % 2 == 0:  # half the project already annotated (bulk import keeps lead_time/completed_by)
            task["annotations"] = [
                {
                    "result": choice_result(rng.choice(["negative", "positive"])),
                    "lead_time": round(rng.lognormvariate(3.0, 0.6), 2),
                    "completed_by": uid,
                }
            ]
        batch.append(task)
        if len(batch) == 1000 or i == n_tasks - 1:
            client.post_json(f"/api/projects/{pid}/import", batch)
            batch = []
    return pid, have < n_tasks


def run(n_tasks: int, n_new: int) -> list[BenchRow]:
    from labeling.client import LabelStudioClient
    from labeling.install import ensure_venv
    from labeling.server import ServerPaths, down, free_port, read_token, up
    from labeling.store import SyncState
    from labeling.sync import fetch_changed, parse_time
    from labeling.tasks import choice_result

    venv = Path(os.environ.get("FOOTPRINT_LABELSTUDIO_VENV") or _cache() / "labelstudio" / "venv")
    ensure_venv(venv)
    paths = ServerPaths.under(_cache() / "labelstudio" / "bench", venv)
    down(paths)
    info = up(paths, port=free_port(), wait_s=300.0)
    try:
        with LabelStudioClient(info.url, read_token(paths) or "", timeout_s=300.0) as client:
            pid, imported = _ensure_project(client, n_tasks)
            if imported:  # the scenario is an established project, not one imported a second ago
                time.sleep(LOOKBACK_S + 2.0)
            first = fetch_changed(client, pid, after=None)  # the previous sync
            state = SyncState()
            state.merge(first.tasks, {})
            state.fetched_at = first.server_time
            cursor = state.cursor
            assert cursor is not None
            rng = random.Random(time.time_ns())
            uid = int(client.whoami()["id"])
            task_ids = rng.sample([t.task_id for t in first.tasks], n_new)
            for tid in task_ids:
                body = {"result": choice_result("positive"), "lead_time": 12.0, "completed_by": uid}
                client.post_json(f"/api/tasks/{tid}/annotations/", body)
            client.counter.reset()

            t0 = time.perf_counter()
            changed = fetch_changed(client, pid, after=state.resume_bound(LOOKBACK_S)).tasks
            client.users()
            inc_s = time.perf_counter() - t0
            inc = client.counter.reset()
            t0 = time.perf_counter()
            export = client.request(
                "GET",
                f"/api/projects/{pid}/export",
                params={"exportType": "JSON", "download_all_tasks": "true"},
            )
            n_exported = len(export.json())
            full_s = time.perf_counter() - t0
            full = client.counter.reset()
    finally:
        down(paths)
    new_annotations = sum(
        1 for t in changed for a in t.annotations if (parse_time(a.get("updated_at")) or cursor) > cursor
    )
    inc_req, inc_down = sum(t.requests for t in inc.values()), sum(t.bytes_received for t in inc.values())
    inc_up = sum(t.bytes_sent for t in inc.values())
    full_req, full_down = sum(t.requests for t in full.values()), sum(t.bytes_received for t in full.values())
    note = f"{n_tasks} tasks ({n_exported} exported), {n_new} new annotations, {len(changed)} tasks fetched"
    b = "bench_labeling"
    return [
        BenchRow(b, "incremental sync requests", inc_req, "requests", baseline=full_req, note=note),
        BenchRow(
            b,
            "incremental sync bytes down",
            inc_down,
            "B",
            baseline=full_down,
            target="<= " + str(int(0.05 * full_down)),
            note="target: <= 5 % of a full export",
        ),
        BenchRow(b, "incremental sync bytes up", inc_up, "B"),
        BenchRow(
            b, "incremental sync seconds", inc_s, "s", baseline=full_s, note="baseline = full JSON export"
        ),
        BenchRow(
            b,
            "incremental bytes per new annotation",
            inc_down / max(1, n_new),
            "B/annotation",
            baseline=full_down / max(1, n_new),
            note=f"new annotation versions seen: {new_annotations}",
        ),
    ]


def main(argv: list[str] | None = None) -> list[BenchRow]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=100)
    args = parser.parse_args(argv if argv is not None else [])
    rows = run(args.tasks, args.new)
    print_rows(rows, title="bench_labeling")
    return rows


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
