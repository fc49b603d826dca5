"""The whole graph on a 4-class corpus (the `demo-topics:4` generator), in-process against the real
Label Studio server, with simulated annotators and tiny training: the label set is decided once by
`label_tasks` (from the corpus's labels), carried by `annotations`, trained by `finetuned_model`, and
every class gets its precision, recall and F1 in the warehouse, for the baseline too.
Also: `label_tasks` refuses a project that already exists with another label set (nothing
imported), and a one-class corpus before any project is created.
`finetuned_model` and `baseline_model` take their classes from `annotations`' handle extra["choices"]
(the list `label_tasks` decided: here ("business", "science", "sports", "world")) and write one
QualityMetric per class and name (precision, recall, f1) with `label` set, split 'eval', step NULL.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.pipelines.conftest import ASSETS, TINY_RUN_CONFIG, WholeGraph, run_whole_graph

if TYPE_CHECKING:
    from tests.labelstudio_fixtures import LiveLabelStudio

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

CLASSES = 4
SIMULATED_TASKS = 90  # ~22 per class; some are skipped or tied, fine-tuning needs 20 labels in all
PER_CLASS_METRICS = ("precision", "recall", "f1")
MACRO_METRICS = ("f1_macro", "precision_macro", "recall_macro", "accuracy")


def _expected_labels() -> tuple[str, ...]:
    from assets.corpus.topics import topic_labels
    from labeling.label_set import stable_order

    return stable_order(topic_labels(CLASSES))


def _run_config() -> dict[str, Any]:
    """The binary whole-graph test's tiny training, on `demo-topics:4` rows."""
    cfg = copy.deepcopy(TINY_RUN_CONFIG)
    cfg["ops"]["raw_corpus"] = {"config": {"source": f"demo-topics:{CLASSES}", "rows": 500, "seed": 42}}
    return cfg


@pytest.fixture(scope="module")
def graph(
    tmp_path_factory: pytest.TempPathFactory, labelstudio_server: LiveLabelStudio
) -> Iterator[WholeGraph]:
    with run_whole_graph(
        tmp_path_factory,
        labelstudio_server,
        name="whole-graph-4",
        run_config=_run_config(),
        simulate_tasks=SIMULATED_TASKS,
    ) as run:
        details = "\n".join(f"--- {step}:\n{msg[-2000:]}" for step, msg in run.failures.items())
        assert run.success, f"run {run.run_id} failed:\n{details}"
        yield run


def _materialization_id(graph: WholeGraph, asset: str) -> str:
    rows = graph.rows(
        "SELECT materialization_id FROM asset_footprint WHERE asset_key = ? AND run_id = ?",
        [asset, graph.run_id],
    )
    assert len(rows) == 1, f"{asset}: {rows}"
    return str(rows[0]["materialization_id"])


def test_every_asset_materialized(graph: WholeGraph) -> None:
    assert set(ASSETS) <= set(graph.materialized), graph.materialized
    assert graph.pending_after_sync == 0


def test_the_label_set_is_decided_once_and_carried_downstream(
    graph: WholeGraph, labelstudio_server: LiveLabelStudio
) -> None:
    from labeling.client import LabelStudioClient
    from labeling.tasks import config_choices

    expected = _expected_labels()
    lt = graph.metadata["label_tasks"]
    assert lt["choices"] == ", ".join(expected) and lt["classes"] == CLASSES
    assert lt["choices_from"] == "corpus labels"
    with LabelStudioClient(labelstudio_server.url, labelstudio_server.token) as client:
        project = client.find_project(graph.project_title)
        assert project is not None
        assert config_choices(str(project["label_config"])) == list(expected)
    ann = graph.metadata["annotations"]
    assert ann["choices"] == ", ".join(expected)
    # the simulated annotators labelled every class, and the training set holds every class
    per_class = {c: ann[f"rows_labelled/{c}"] for c in expected}
    assert all(n > 0 for n in per_class.values()), per_class
    assert sum(per_class.values()) == ann["rows_labelled"]
    work = graph.rows(
        "SELECT DISTINCT label FROM annotation_work WHERE materialization_id = ? AND label IS NOT NULL",
        [_materialization_id(graph, "annotations")],
    )
    assert {r["label"] for r in work} == set(expected)


@pytest.mark.parametrize("model", ["finetuned_model", "baseline_model"])
def test_per_class_precision_recall_f1_for_every_class(graph: WholeGraph, model: str) -> None:
    rows = graph.rows(
        "SELECT name, label, value, split FROM quality_metric WHERE materialization_id = ? AND step IS NULL",
        [_materialization_id(graph, model)],
    )
    per_class = {(r["name"], r["label"]): r for r in rows if r["label"] is not None}
    expected = _expected_labels()
    missing = [(n, c) for c in expected for n in PER_CLASS_METRICS if (n, c) not in per_class]
    assert not missing, f"{model}: no quality_metric for {missing}; has {sorted(per_class)}"
    assert {c for _, c in per_class} == set(expected), f"{model}: metrics for classes outside the label set"
    for (name, label), r in per_class.items():
        assert 0.0 <= float(r["value"]) <= 1.0 and r["split"] == "eval", (name, label, r)
    overall = {r["name"]: float(r["value"]) for r in rows if r["label"] is None}
    assert set(MACRO_METRICS) <= set(overall), overall
    f1s = [float(per_class[("f1", c)]["value"]) for c in expected]
    assert overall["f1_macro"] == pytest.approx(sum(f1s) / CLASSES, abs=1e-9)  # a macro over 4 classes


def test_label_tasks_refuses_a_project_with_another_label_set(pipeline: Any) -> None:
    """The `pipeline` fixture's corpus (tests/labelstudio_fixtures.py) is binary (negative/positive);
    its project already exists with the four topics: label_tasks fails, saying what to do, and
    imports nothing."""
    from labeling.client import LabelStudioClient
    from labeling.tasks import ensure_project

    title = pipeline.resources["annotation_policy"].project_title
    ls = pipeline.resources["labelstudio"]
    with LabelStudioClient(ls.url, ls.api_key) as client:
        pid, created = ensure_project(client, title, _expected_labels())
        assert created
        result = pipeline.run(["clean_corpus", "label_tasks"], raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = str(failure.step_failure_data.error)
        assert (
            "LabelSetError" in message
            and "offers the choices ['business', 'science', 'sports', 'world']" in message
        )
        assert "this corpus needs ['negative', 'positive']" in message and "project_title" in message
        assert client.task_ids(pid) == set()  # nothing imported


def test_label_tasks_refuses_a_one_class_corpus_before_creating_a_project(pipeline: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labeling.client import LabelStudioClient

    table = pq.read_table(pipeline.corpus_path)  # write_corpus: gold labels only, negative/positive
    column = table.schema.get_field_index("gold_label")
    pq.write_table(
        table.set_column(column, "gold_label", pa.array(["positive"] * table.num_rows)), pipeline.corpus_path
    )
    result = pipeline.run(["clean_corpus", "label_tasks"], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error)
    assert "1 distinct label(s) ['positive']" in message and "set annotation_policy.choices" in message
    ls = pipeline.resources["labelstudio"]
    with LabelStudioClient(ls.url, ls.api_key) as client:
        assert client.find_project(pipeline.resources["annotation_policy"].project_title) is None
