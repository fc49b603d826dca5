"""`annotations`: incremental sync of Label Studio annotations into the labelled training set.

Each run fetches only tasks updated since the project's sync cursor, records one `AnnotationWork`
fact per new or changed annotation version (raw lead time, active seconds under the idle cap,
flags), rebuilds the labelled training set from every annotation synced so far (contract in
`labeling.dataset`), and reports spend per annotator against the budget. The sync state and cursor
are committed only after the materialization's facts batch is published; a failed run changes
nothing and the next run resumes from the same cursor.

Tasks deleted on the server between syncs: after the fetch, each sync lists the project's task ids
(ids only: ~10 bytes per task, one request per 10,000 tasks, counted in the transfer facts like
every other request) and compares them with the tasks it knows (synced annotations and the
label_tasks map; `SyncState.reconcile_tasks`). A task that disappeared loses its label in the
training set; its AnnotationWork facts stay (that work happened and still counts as spend). The
metadata reports `tasks_deleted_on_server` (this sync), `tasks_deleted_total` and their ids, and
the run logs a warning. label_tasks then does not re-import those rows (see its docstring).
"""

import base64
import time
from collections import Counter

import dagster as dg

from labeling.dataset import read_task_map, training_table, write_training_set
from labeling.label_set import LabelSetError
from labeling.labels import task_labels
from labeling.replay import ReplayConfig, ReplayResult, replay
from labeling.resource import AnnotationPolicy, LabelStudioResource
from labeling.spend import (
    budget_status,
    burn_down_png,
    forecast,
    markdown_table,
    per_annotator,
    rate_card_rates,
)
from labeling.store import load_state, save_state, state_path
from labeling.sync import AnnotationVersion, fetch_changed, parse_annotation
from pipelines.accounting import accounted
from pipelines.artifact_store import fetch_inputs, publish_handle, publish_output
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle
from warehouse.facts import AnnotationWork
from warehouse.home import make_private_dir

BUDGET_CHECK = "annotation_budget"


def _fact(v: AnnotationVersion, materialization_id: str, project: str) -> AnnotationWork:
    return AnnotationWork(
        materialization_id=materialization_id,
        annotation_id=v.annotation_id,
        task_id=v.task_id,
        annotator=v.annotator,
        project=project,
        lead_time_s=v.lead_time_s,
        active_s=v.active_s,
        idle_cap_s=v.idle_cap_s,
        was_cancelled=v.was_cancelled,
        label=v.label,
        flags=v.flags,
        created_at=v.created_at,
        updated_at=v.updated_at,
    )


def _ids(ids: list[int], limit: int = 20) -> str:
    """A short list of task ids for metadata and logs ("1, 2, 3 (+17 more)")."""
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


def _f(x: float | None, digits: int = 4) -> dg.FloatMetadataValue | dg.NullMetadataValue:
    """A float figure; None (unknown) stays null, never 0."""
    return dg.MetadataValue.null() if x is None else dg.MetadataValue.float(float(round(x, digits)))


def budget_check_result(spent_usd: float, budget_usd: float, warn_fraction: float) -> dg.AssetCheckResult:
    """Passes under `warn_fraction` of the budget, WARN from there, ERROR from 100 %."""
    b = budget_status(spent_usd, budget_usd, warn_fraction)
    return dg.AssetCheckResult(
        check_name=BUDGET_CHECK,
        passed=b.level == "ok",
        severity=dg.AssetCheckSeverity.ERROR if b.level == "error" else dg.AssetCheckSeverity.WARN,
        metadata={
            "spent_usd": _f(b.spent_usd, 4),
            "budget_usd": _f(b.budget_usd),
            "budget_fraction": _f(min(b.fraction, 1e9), 4),
            "level": b.level,
        },
    )


def simulate_annotators(
    context: dg.AssetExecutionContext,
    labelstudio: LabelStudioResource,
    policy: AnnotationPolicy,
    project_id: int,
    corpus_path: str,
) -> ReplayResult:
    """Demo only: simulated annotators bring tasks to their target overlap through the real API
    (labeling/replay.py), counting the annotations already there: a re-run adds only what is missing.
    Runs before the sync's accounting window: the simulated humans' lead times are recorded as
    annotation work by the sync; the simulator's own clicking is not the sync's compute."""
    try:
        cfg = ReplayConfig(
            n_tasks=policy.simulate_tasks,
            error_rate=policy.simulate_error_rate,
            idle_cap_s=policy.idle_cap_s,
            target_overlap=policy.simulate_target_overlap,
            overlap_fraction=policy.simulate_overlap_fraction,
        )
        with labelstudio.client() as client:
            result = replay(client, project_id, corpus_path, cfg)
    except ValueError as err:
        raise dg.Failure(f"annotation_policy: {err} (simulate_* settings of the demo annotators)") from err
    if result.annotations:
        context.log.warning(f"SIMULATED annotators (demo, not humans): {result.summary()}")
    else:
        context.log.info(f"SIMULATED annotators (demo, not humans): {result.summary()}")
    return result


@dg.asset(
    group_name="annotation",
    kinds={"labelstudio", "parquet"},
    description="Labelled training set from Label Studio (incremental sync); human hours and spend.",
)
def annotations(
    context: dg.AssetExecutionContext,
    footprint: FootprintHomeResource,
    labelstudio: LabelStudioResource,
    annotation_policy: AnnotationPolicy,
    label_tasks: ArtifactHandle,
) -> ArtifactHandle:
    policy = annotation_policy
    project_id = int(label_tasks.extra["project_id"])
    choices = [str(c) for c in label_tasks.extra.get("choices") or ()]
    if len(choices) < 2:
        raise LabelSetError(
            f"the label_tasks materialization {label_tasks.materialization_id} carries no label set "
            f"(choices {choices}); re-materialize label_tasks, which decides it"
        )
    corpus = ArtifactHandle(
        "clean_corpus",
        label_tasks.extra["clean_corpus_materialization_id"],
        label_tasks.extra["clean_corpus_path"],
        int(label_tasks.extra.get("clean_corpus_bytes", 0)),
    )
    home = footprint.home()
    inputs = fetch_inputs(footprint, label_tasks, corpus)
    corpus_path = str(inputs.local(corpus))
    state_file = state_path(home.labelstudio_dir, labelstudio.project_key(project_id))
    state = load_state(state_file)
    first_sync = state.cursor is None
    simulated = (
        simulate_annotators(context, labelstudio, policy, project_id, corpus_path)
        if policy.simulate_annotators
        else None
    )
    services = labelstudio.metered_services()  # the managed server: its use while this step runs
    with accounted(context, footprint, upstream=[label_tasks, corpus], services=services) as rec:
        inputs.record(rec)
        t0 = time.perf_counter()
        with labelstudio.client() as client:
            try:
                fetched = fetch_changed(client, project_id, after=state.resume_bound(policy.lookback_s))
                changed = fetched.tasks
                users = (
                    {
                        uid: str(u.get("email") or u.get("username") or f"user-{uid}")
                        for uid, u in client.users().items()
                    }
                    if changed
                    else {}
                )
                present = client.task_ids(project_id)  # after the fetch: see SyncState.reconcile_tasks
            finally:
                traffic = client.counter.record_into(rec, endpoint_kind="label-studio")
        sync_s = time.perf_counter() - t0
        parsed = {
            t.task_id: [
                parse_annotation(
                    a,
                    t.task_id,
                    choices=choices,
                    users=users,
                    idle_cap_s=policy.idle_cap_s,
                    max_lead_time_s=policy.max_lead_time_s,
                )
                for a in t.annotations
            ]
            for t in changed
        }
        merged = state.merge(changed, parsed)
        state.fetched_at = fetched.server_time
        task_map = read_task_map(str(inputs.local(label_tasks)))
        gone = state.reconcile_tasks(present, also_known=task_map, row_of=task_map)
        if gone.deleted:
            context.log.warning(
                f"{len(gone.deleted)} task(s) of project {project_id} deleted on the server since the "
                f"last sync: {_ids(gone.deleted)}; their labels leave the training set, their "
                f"{len(gone.annotations_on_deleted)} annotation(s) stay counted as labour"
            )
        if gone.reappeared:
            context.log.info(f"task(s) recorded as deleted exist again: {_ids(gone.reappeared)}")
        project = f"{client.url}#{project_id}"
        rec.add(*[_fact(v, rec.materialization_id, project) for v in merged.new_versions])

        versions = list(state.annotations.values())  # labour: tasks deleted since included
        labels = task_labels(state.live_versions())
        table = training_table(labels, task_map, corpus_path)
        folder = make_private_dir(home.artifacts_dir / "annotations")
        path = folder / f"{rec.materialization_id}.parquet"
        write_training_set(path, table)
        rec.add_storage(path, kind="dataset")

        rate_of = rate_card_rates(policy.default_usd_per_hour)
        spend = per_annotator(versions, labels, rate_of)
        spent_usd = sum(r.cost_usd for r in spend)
        labelled = sum(1 for t in labels.values() if t.label is not None)
        deleted_mapped = sum(1 for t in state.deleted_tasks if t in task_map)
        fc = forecast(max(0, (label_tasks.rows or 0) - deleted_mapped), labelled, versions, rate_of(""))
        chart = burn_down_png(
            versions,
            rate_of,
            policy.budget_usd,
            folder / f"{rec.materialization_id}-burn-down.png",
            warn_fraction=policy.warn_fraction,
            forecast_usd=fc.cost_to_finish_usd,
        )
        rejected_all = Counter(v.reject_reason for v in versions if v.reject_reason)
        rejected_new = Counter(v.reject_reason for v in merged.new_versions if v.reject_reason)
        png64 = base64.b64encode(chart.read_bytes()).decode()
        chart_url = publish_output(rec, footprint, chart)
        meta: dict[str, object] = {
            "annotators": dg.MetadataValue.md(markdown_table(spend)),
            "burn_down": dg.MetadataValue.md(f"![spend burn-down](data:image/png;base64,{png64})"),
            "burn_down_png": dg.MetadataValue.path(chart_url),
            "first_sync": first_sync,
            "tasks_fetched": dg.MetadataValue.int(len(changed)),
            "annotation_versions_new": dg.MetadataValue.int(len(merged.new_versions)),
            "annotations_removed": dg.MetadataValue.int(len(merged.removed_ids)),
            "annotations_total": dg.MetadataValue.int(len(versions)),
            "tasks_deleted_on_server": dg.MetadataValue.int(len(gone.deleted)),
            "tasks_deleted_on_server_ids": _ids(gone.deleted),
            "tasks_deleted_total": dg.MetadataValue.int(len(state.deleted_tasks)),
            "tasks_reappeared": dg.MetadataValue.int(len(gone.reappeared)),
            "annotations_on_deleted_tasks": dg.MetadataValue.int(len(versions) - len(state.live_versions())),
            "tasks_on_server": dg.MetadataValue.int(len(present)),
            "rows_labelled": dg.MetadataValue.int(table.num_rows),
            "tasks_tied": dg.MetadataValue.int(sum(1 for t in labels.values() if t.label is None)),
            "tasks_remaining": dg.MetadataValue.int(fc.remaining_tasks),
            "hours_raw": _f(sum(r.raw_h for r in spend), 4),
            "hours_active": _f(sum(r.active_h for r in spend), 4),
            "spend_usd": _f(spent_usd, 4),  # at least, when annotations_unknown_time > 0
            "annotations_unknown_time": dg.MetadataValue.int(sum(r.unknown_time for r in spend)),
            "budget_usd": _f(policy.budget_usd),
            "forecast_cost_to_finish_usd": _f(fc.cost_to_finish_usd, 4),
            "forecast_median_active_s": _f(fc.median_active_s, 3),
            "idle_cap_s": _f(policy.idle_cap_s),
            "idle_capped": dg.MetadataValue.int(sum("idle_capped" in v.flags for v in versions)),
            "skipped": dg.MetadataValue.int(sum(v.was_cancelled for v in versions)),
            "rejected_total": dg.MetadataValue.int(sum(rejected_all.values())),
            "rejected_this_sync": dg.MetadataValue.int(sum(rejected_new.values())),
            "sync_http_requests": dg.MetadataValue.int(sum(t.requests for t in traffic)),
            "sync_bytes_down": dg.MetadataValue.int(sum(t.bytes_received for t in traffic)),
            "sync_bytes_up": dg.MetadataValue.int(sum(t.bytes_sent for t in traffic)),
            "sync_s": _f(sync_s, 3),
            "label_tasks_materialization_id": label_tasks.materialization_id,
        }

        if simulated is not None:  # demo: what the SIMULATED annotators added before this sync
            meta["simulated_annotations_added"] = dg.MetadataValue.int(simulated.annotations)
            meta["simulated_tasks_in_scope"] = dg.MetadataValue.int(simulated.tasks_in_scope)
            meta["simulated_overlap"] = simulated.overlap
            meta["simulated_summary"] = simulated.summary()
        meta.update({f"rejected/{k}": dg.MetadataValue.int(n) for k, n in sorted(rejected_all.items())})
        per_class = Counter(table.column("label").to_pylist())
        meta["choices"] = ", ".join(choices)
        meta.update({f"rows_labelled/{c}": dg.MetadataValue.int(per_class.get(c, 0)) for c in choices})
        handle = publish_handle(
            rec,
            footprint,
            path,
            rows=table.num_rows,
            project_id=project_id,
            choices=choices,
            label_tasks_materialization_id=label_tasks.materialization_id,
            clean_corpus_materialization_id=corpus.materialization_id,
            spend_usd=spent_usd,
            forecast_cost_to_finish_usd=fc.cost_to_finish_usd,
        )
        meta["path"] = dg.MetadataValue.path(handle.path)
        context.add_output_metadata(meta)
    save_state(state_file, state)  # the facts batch is published: now the cursor may advance
    return handle


@dg.asset_check(
    asset=annotations,
    name=BUDGET_CHECK,
    description="Annotation spend of the project: WARN from 80 %, ERROR from 100 % of the budget.",
)
def annotation_budget(
    annotation_policy: AnnotationPolicy, annotations: ArtifactHandle
) -> dg.AssetCheckResult:
    return budget_check_result(
        float(annotations.extra.get("spend_usd", 0.0)),
        annotation_policy.budget_usd,
        annotation_policy.warn_fraction,
    )
