"""A sensor that polls Label Studio and requests an `annotations` run when new work exists.

Webhooks to localhost are blocked by Label Studio's SSRF protection and are never retried, so
polling is the source of truth. One cheap request per tick: the data manager's count of tasks
updated after the project's sync cursor (page size 1, newest first). The sensor cursor is the
newest `updated_at` already requested, so one burst of work gives one run.
"""

import datetime as dt

import dagster as dg

from labeling.client import LabelStudioError
from labeling.resource import AnnotationPolicy, LabelStudioResource
from labeling.store import load_state, state_path
from labeling.sync import filter_time
from warehouse.home import FootprintHome

POLL_INTERVAL_S = 60


def newest_change(
    labelstudio: LabelStudioResource, policy: AnnotationPolicy
) -> tuple[int, dt.datetime | None, int]:
    """(project id, newest task updated_at after the sync cursor or None, how many such tasks)."""
    home = FootprintHome.resolve(labelstudio.home_root or None)
    with labelstudio.client() as client:
        client.max_attempts = 1  # a tick must stay short; the next tick retries
        project = client.find_project(policy.project_title)
        if project is None:
            return 0, None, 0
        pid = int(project["id"])
        cursor = load_state(state_path(home.labelstudio_dir, labelstudio.project_key(pid))).cursor
        query: dict[str, object] = {"ordering": ["-tasks:updated_at"]}
        if cursor is not None:
            value = filter_time(cursor)
            query["filters"] = {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:updated_at",
                        "operator": "greater",
                        "type": "Datetime",
                        "value": value,
                    }
                ],
            }
        body = client.task_page_body(pid, include="id,updated_at", query=query, page_size=1)
    tasks = body.get("tasks") or []
    if not tasks or (cursor is None and not body.get("total_annotations")):
        return pid, None, 0
    newest = dt.datetime.fromisoformat(str(tasks[0]["updated_at"]))
    return pid, newest, int(body.get("total", len(tasks)))


@dg.sensor(
    name="annotations_poll_sensor",
    target=["annotations"],
    minimum_interval_seconds=POLL_INTERVAL_S,
    description="Polls Label Studio; requests an `annotations` materialization when annotations changed.",
)
def annotations_poll_sensor(
    context: dg.SensorEvaluationContext, labelstudio: LabelStudioResource, annotation_policy: AnnotationPolicy
) -> dg.SensorResult | dg.SkipReason:
    try:
        pid, newest, n_tasks = newest_change(labelstudio, annotation_policy)
    except LabelStudioError as err:
        return dg.SkipReason(str(err))
    if newest is None:
        return dg.SkipReason(f"no new annotation work in project {pid or annotation_policy.project_title!r}")
    mark = newest.isoformat()
    if context.cursor == mark:
        return dg.SkipReason(f"a sync for work up to {mark} was already requested")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"annotations-p{pid}-{mark}", tags={"labelstudio/tasks_changed": str(n_tasks)}
            )
        ],
        cursor=mark,
    )
