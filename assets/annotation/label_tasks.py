"""`label_tasks`: the training split of `clean_corpus` as tasks of a Label Studio project.

Output: $FOOTPRINT_HOME/artifacts/label_tasks/<materialization_id>.parquet (row_id string,
task_id int64: every train row of the consumed corpus and its task), published to the store
($FOOTPRINT_STORE/artifacts/label_tasks/... when set; the handle's path is then its URL). The
handle's `extra` carries project_id, project_title, choices, server (URL, never the token) and the
consumed clean_corpus materialization (id, path or URL) so `annotations` reads exactly those texts.

The label set (`choices`) is decided here, once: `annotation_policy.choices`, or when empty the
corpus's own labels (rules and refusals in `labeling.label_set`), checked before anything is created
in Label Studio; an existing project with other choices is refused. `annotations` carries the same
list on in its handle's extra["choices"], and `finetuned_model` trains exactly those classes.

Rows whose task an `annotations` sync found deleted on the server are not re-imported unless
`AnnotationPolicy.reimport_deleted_tasks` (reasons in `labeling.tasks`); they are counted in
`tasks_deleted_on_server_not_reimported` and are not in the row -> task map.

Label conflicts (rows with split == "conflict": normalised duplicates whose source labels disagree,
contract in `labeling.conflicts`): with `AnnotationPolicy.adjudicate_conflicts` they are imported
too, as adjudication tasks listing the disagreeing labels, and are in the row -> task map (their
annotated label enters the training set like any other). Off (the default), they are left out; the
metadata's `label_conflicts_left_out` counts them and `label_conflicts_hint` says how to send them.
"""

import time
from typing import Any

import dagster as dg

from labeling.conflicts import ConflictsError, conflict_rows, conflict_tasks
from labeling.dataset import read_train_rows, write_task_map
from labeling.label_set import decide_label_set
from labeling.resource import AnnotationPolicy, LabelStudioResource
from labeling.store import load_state, state_path
from labeling.tasks import ensure_project, import_missing
from pipelines.accounting import accounted
from pipelines.artifact_store import Fetched, fetch_inputs, publish_handle
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle
from warehouse.home import make_private_dir

ADJUDICATE_HINT = (
    "set annotation_policy.adjudicate_conflicts: true (run config resources: {annotation_policy: "
    "{config: {adjudicate_conflicts: true}}}) to import them as adjudication tasks listing the labels"
)


@dg.asset(
    group_name="annotation",
    kinds={"labelstudio", "parquet"},
    description=(
        "Imports the train split of clean_corpus into Label Studio (idempotent by row_id), and its "
        "label conflicts as adjudication tasks when annotation_policy.adjudicate_conflicts is set."
    ),
)
def label_tasks(
    context: dg.AssetExecutionContext,
    footprint: FootprintHomeResource,
    labelstudio: LabelStudioResource,
    annotation_policy: AnnotationPolicy,
    clean_corpus: ArtifactHandle,
) -> ArtifactHandle:
    policy = annotation_policy
    inputs = fetch_inputs(footprint, clean_corpus)
    corpus_path = inputs.local(clean_corpus)
    label_set = decide_label_set(policy.choices, str(corpus_path))  # LabelSetError before any request
    if label_set.without_corpus_rows:
        context.log.warning(
            f"choices {list(label_set.without_corpus_rows)} of annotation_policy.choices occur in no "
            "corpus row: only annotators can give them, and the eval split cannot score them"
        )
    rows = read_train_rows(str(corpus_path))
    if policy.adjudicate_conflicts:
        try:
            conflicts = conflict_tasks(corpus_path, local_conflicts_extra(footprint, inputs, clean_corpus))
        except ConflictsError as err:
            raise dg.Failure(str(err)) from err
        left_out = 0
    else:
        conflicts, left_out = [], len(conflict_rows(corpus_path))
    if left_out:
        context.log.warning(
            f"{left_out} label conflict(s) of clean_corpus (duplicates whose source labels disagree) "
            f"were not sent to Label Studio: {ADJUDICATE_HINT}"
        )
    rows += [(c.row_id, c.text) for c in conflicts]
    services = labelstudio.metered_services()  # the managed server: its use while this step runs
    with accounted(context, footprint, upstream=[clean_corpus], services=services) as rec:
        inputs.record(rec)
        rec.add_transfer(
            bytes_=clean_corpus.bytes,
            duration_s=0.0,
            direction="read",
            endpoint_kind="file",
            scope="local",
            endpoint=str(corpus_path),
        )
        t0 = time.perf_counter()
        with labelstudio.client() as client:
            try:
                project_id, created = ensure_project(client, policy.project_title, label_set.choices)
                skip: set[str] = set()
                if not policy.reimport_deleted_tasks:
                    state_file = state_path(rec.home.labelstudio_dir, labelstudio.project_key(project_id))
                    skip = load_state(state_file).deleted_row_ids()
                result = import_missing(
                    client,
                    project_id,
                    rows,
                    batch_size=policy.import_batch_size,
                    skip_rows=skip,
                    extra_data={c.row_id: c.task_data() for c in conflicts},
                    meta={c.row_id: c.task_meta() for c in conflicts},
                )
            finally:
                traffic = client.counter.record_into(rec, endpoint_kind="label-studio")
        seconds = time.perf_counter() - t0
        folder = make_private_dir(rec.home.artifacts_dir / "label_tasks")
        path = folder / f"{rec.materialization_id}.parquet"
        write_task_map(path, result.task_ids)
        rec.add_storage(path, kind="dataset")
        handle = publish_handle(
            rec,
            footprint,
            path,
            rows=len(result.task_ids),
            project_id=project_id,
            project_title=policy.project_title,
            choices=list(label_set.choices),
            server=client.url,
            clean_corpus_materialization_id=clean_corpus.materialization_id,
            clean_corpus_path=clean_corpus.path,  # its URL (a path with the local store)
            clean_corpus_bytes=clean_corpus.bytes,
            adjudication_tasks=len(conflicts),
        )
        context.add_output_metadata(
            {
                "project_id": dg.MetadataValue.int(project_id),
                "project_created": created,
                "choices": ", ".join(label_set.choices),
                "classes": dg.MetadataValue.int(len(label_set.choices)),
                "choices_from": "corpus labels" if label_set.derived else "annotation_policy.choices",
                "choices_without_corpus_rows": ", ".join(label_set.without_corpus_rows),
                "server": client.url,
                "tasks_in_corpus_split": dg.MetadataValue.int(len(result.task_ids)),
                "tasks_imported": dg.MetadataValue.int(result.imported),
                "tasks_already_present": dg.MetadataValue.int(result.already_present),
                "duplicate_tasks_in_project": dg.MetadataValue.int(result.duplicates_in_project),
                "tasks_deleted_on_server_not_reimported": dg.MetadataValue.int(result.skipped_deleted),
                "import_batches": dg.MetadataValue.int(result.batches),
                "label_conflicts": dg.MetadataValue.int(len(conflicts) + left_out),
                "adjudication_tasks": dg.MetadataValue.int(
                    sum(1 for c in conflicts if c.row_id in result.task_ids)
                ),
                "label_conflicts_left_out": dg.MetadataValue.int(left_out),
                "label_conflicts_hint": ADJUDICATE_HINT if left_out else "",
                "http_requests": dg.MetadataValue.int(sum(t.requests for t in traffic)),
                "bytes_up": dg.MetadataValue.int(sum(t.bytes_sent for t in traffic)),
                "bytes_down": dg.MetadataValue.int(sum(t.bytes_received for t in traffic)),
                "labelstudio_s": dg.MetadataValue.float(round(seconds, 3)),
                "clean_corpus_materialization_id": clean_corpus.materialization_id,
                "path": dg.MetadataValue.path(handle.path),
            }
        )
        return handle


def local_conflicts_extra(
    footprint: FootprintHomeResource, inputs: Fetched, clean_corpus: ArtifactHandle
) -> dict[str, Any]:
    """The clean corpus handle's extra, its conflicts artifact (a URL with a remote store) replaced by
    a local copy: `labeling.conflicts` reads a local file."""
    extra = dict(clean_corpus.extra)
    url = extra.get("conflicts_path")
    if url:
        extra["conflicts_path"] = str(inputs.add(str(url), footprint.home()))
    return extra
