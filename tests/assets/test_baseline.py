"""`baseline_model` materialized in-process (real Dagster, real DuckDB in a temp FOOTPRINT_HOME) on a
corpus made by the project's generator and cleaner (assets/corpus), with small annotations Parquet
files built here; and the fine-tuned model's comparison with it (compared_with edge, metadata, view)
through a stand-in model asset that records what finetuned_model records, without torch."""

# No `from __future__ import annotations`: Dagster resolves the stand-in's Config annotation at decoration.

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.corpus.cleaner import CleaningRules, clean_parquet
from assets.corpus.generator import generate_reviews
from assets.corpus.storage import RAW_SCHEMA, write_table
from assets.training.baseline import MODEL_FILE, baseline_model, fit_baseline
from assets.training.quality import compared_with, comparison_metadata, record_quality
from pipelines.accounting import accounted
from pipelines.resources import FootprintHomeResource
from training.data import eval_row_ids, eval_set, labelled_set
from training.metrics import classification_scores
from warehouse.artifacts import ArtifactHandle, publish
from warehouse.connection import connect
from warehouse.facts import AnnotationWork, utcnow
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.store import Store

CHOICES = ("negative", "positive")


@pytest.fixture
def corpus(home: FootprintHome) -> ArtifactHandle:
    """600 generated reviews (with the generator's dirt), cleaned and split by the real cleaner."""
    raw = home.artifacts_dir / "raw.parquet"
    write_table(generate_reviews(600, seed=5), raw, RAW_SCHEMA)
    path = home.artifacts_dir / "clean_corpus" / "m-corpus.parquet"
    path.parent.mkdir(parents=True)
    clean_parquet(raw, path, CleaningRules())
    return ArtifactHandle("clean_corpus", "m-corpus", str(path), path.stat().st_size)


def annotations_file(
    corpus: ArtifactHandle, path: Path, *, n: int = 120, eval_rows: int = 5, labels: list[str] | None = None
) -> Path:
    """The first `n` train rows labelled with their gold label (or `labels` cycled), plus `eval_rows`
    rows of the eval split (annotated by mistake: training must leave them out)."""
    rows = pq.read_table(corpus.path).to_pylist()
    train = [r for r in rows if r["split"] == "train" and r["gold_label"]][:n]
    held = [r for r in rows if r["split"] == "eval" and r["gold_label"]][:eval_rows]
    out = [
        {
            "row_id": r["row_id"],
            "text": r["text"],
            "label": labels[i % len(labels)] if labels else r["gold_label"],
        }
        for i, r in enumerate(train + held)
    ]
    pq.write_table(pa.Table.from_pylist(out), path)
    return path


def ann_handle(path: Path, choices: list[str] | None = list(CHOICES), mid: str = "m-ann") -> ArtifactHandle:  # noqa: B006
    extra = {} if choices is None else {"choices": choices}
    return ArtifactHandle("annotations", mid, str(path), path.stat().st_size, len(pq.read_table(path)), extra)


def stub(name: str, handle: ArtifactHandle) -> dg.AssetsDefinition:
    @dg.asset(name=name)
    def _upstream() -> ArtifactHandle:
        return handle

    return _upstream


def materialize(home: FootprintHome, assets: list[Any], config: dict[str, Any] | None = None) -> Any:
    return dg.materialize(
        assets,
        resources={"footprint": FootprintHomeResource(root=str(home.root), heartbeat_s=2.0)},
        run_config={"ops": {k: {"config": v} for k, v in (config or {}).items()}},
        raise_on_error=False,
    )


def rows(home: FootprintHome, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    sync(home, wait_s=10.0, keep_loaded=True)  # merged batches stay on this host (facts/loaded/)
    con = connect(home, read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def meta_of(result: Any, asset: str) -> dict[str, Any]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def error_of(result: Any, step: str) -> str:
    [failure] = [e for e in result.get_step_failure_events() if e.step_key == step]
    info, text = failure.step_failure_data.error, []
    while info is not None:
        text.append(info.message)
        info = info.cause
    return "\n".join(text)


def test_baseline_trains_on_the_finetuning_rows_and_records_its_quality(
    home: FootprintHome, corpus: ArtifactHandle
) -> None:
    ann = ann_handle(annotations_file(corpus, home.artifacts_dir / "ann.parquet"))
    res = materialize(home, [stub("clean_corpus", corpus), stub("annotations", ann), baseline_model])
    assert res.success, error_of(res, "baseline_model")
    out: ArtifactHandle = res.output_for_node("baseline_model")
    meta = meta_of(res, "baseline_model")
    mid = out.materialization_id

    # exactly the rows fine-tuning uses: the annotated rows outside the eval split, the eval rows
    train = labelled_set(ann.path, CHOICES, min_labelled=20, exclude_row_ids=eval_row_ids(corpus.path))
    held = eval_set(corpus.path, CHOICES)
    assert train.dropped_eval_overlap == 5 and meta["baseline/n_train"] == len(train.labels) == 120
    assert out.extra["choices"] == list(CHOICES) and out.extra["task"] == "baseline"

    # the saved model, loaded back, scores the eval rows as the recorded facts say (sklearn's own F1)
    import joblib
    from sklearn.metrics import accuracy_score, f1_score

    model = joblib.load(Path(out.path) / MODEL_FILE)
    predicted = model.predict(held.texts)
    facts = {
        (r["name"], r["label"]): r
        for r in rows(home, "SELECT * FROM quality_metric WHERE materialization_id = ?", [mid])
    }
    assert facts[("f1_macro", None)]["value"] == pytest.approx(
        f1_score(held.labels, predicted, average="macro")
    )
    assert facts[("accuracy", None)]["value"] == pytest.approx(accuracy_score(held.labels, predicted))
    per_class = f1_score(held.labels, predicted, average=None, labels=[0, 1])
    for i, label in enumerate(CHOICES):
        assert facts[("f1", label)]["value"] == pytest.approx(per_class[i])
        assert {("precision", label), ("recall", label)} <= set(facts)
    assert {r["split"] for r in facts.values()} == {"eval"} and {r["step"] for r in facts.values()} == {None}
    assert meta["quality/f1_macro"] == pytest.approx(facts[("f1_macro", None)]["value"], abs=1e-4)
    assert meta["quality/n_eval"] == len(held.labels)
    assert facts[("f1_macro", None)]["value"] > 0.6, "a fair baseline learns the generated reviews"
    info = json.loads((Path(out.path) / "baseline.json").read_text())
    assert info["estimator"] == meta["baseline/estimator"] and info["choices"] == list(CHOICES)

    # metered like every asset: a success with a known footprint, the model's bytes, exact lineage
    [fp] = rows(home, "SELECT * FROM asset_footprint WHERE materialization_id = ?", [mid])
    assert fp["status"] == "success" and fp["energy_kwh"] > 0 and fp["cost_usd"] is not None
    [storage] = rows(home, "SELECT * FROM storage WHERE materialization_id = ?", [mid])
    assert storage["kind"] == "checkpoint" and storage["bytes_held"] == out.bytes > 0
    assert storage["location"] == out.path == str(home.artifacts_dir / "baseline_model" / mid)
    edges = rows(home, "SELECT upstream_materialization_id AS up, relation FROM lineage_edge WHERE "
                 "materialization_id = ? ORDER BY 1", [mid])  # fmt: skip
    assert edges == [{"up": "m-ann", "relation": "input"}, {"up": "m-corpus", "relation": "input"}]


def test_any_number_of_classes_from_the_label_set(home: FootprintHome, corpus: ArtifactHandle) -> None:
    """Three classes, taken from the annotations' label set; per-class scores for every class (the
    eval rows' gold labels are two of them: the third scores 0 and is still reported)."""
    three = ["negative", "positive", "mixed"]
    path = annotations_file(corpus, home.artifacts_dir / "ann3.parquet", n=90, eval_rows=0)
    table = pq.read_table(path).to_pylist()
    for i, r in enumerate(table):
        if i % 3 == 0:
            r["label"] = "mixed"
    pq.write_table(pa.Table.from_pylist(table), path)
    res = materialize(
        home, [stub("clean_corpus", corpus), stub("annotations", ann_handle(path, three)), baseline_model]
    )
    assert res.success, error_of(res, "baseline_model")
    mid = res.output_for_node("baseline_model").materialization_id
    labels = rows(
        home, "SELECT DISTINCT label FROM quality_metric WHERE materialization_id = ? AND name = 'f1'", [mid]
    )
    assert {r["label"] for r in labels} == set(three)


@pytest.mark.parametrize(
    ("labels", "choices", "n", "config", "expected"),
    [
        (["positive", "neutral"], list(CHOICES), 40, {}, "annotation labels {'neutral': 20} are not in"),
        (["positive"], list(CHOICES), 40, {}, "of one class ['positive']"),
        (None, list(CHOICES), 10, {}, "only 10 labelled examples (need >= 20"),
        (["positive"] * 29 + ["negative"], list(CHOICES), 30, {}, "class 'negative' has only 1 labelled"),
        (None, None, 40, {}, "carries no usable label set"),
        (None, list(CHOICES), 40, {"cv_folds": 1}, "cv_folds must be >= 2"),
    ],
)
def test_bad_input_fails_before_fitting(
    home: FootprintHome,
    corpus: ArtifactHandle,
    labels: list[str] | None,
    choices: list[str] | None,
    n: int,
    config: dict[str, Any],
    expected: str,
) -> None:
    path = annotations_file(corpus, home.artifacts_dir / "bad.parquet", n=n, eval_rows=0, labels=labels)
    res = materialize(
        home,
        [stub("clean_corpus", corpus), stub("annotations", ann_handle(path, choices)), baseline_model],
        {"baseline_model": config} if config else None,
    )
    err = error_of(res, "baseline_model")
    assert "TrainingConfigError" in err and expected in err, err
    assert not any(home.pending_dir.iterdir()), "nothing recorded: the step failed before its recorder opened"
    assert not (home.artifacts_dir / "baseline_model").exists()


def test_fit_is_seeded(corpus: ArtifactHandle, home: FootprintHome) -> None:
    path = annotations_file(corpus, home.artifacts_dir / "ann.parquet", n=60, eval_rows=0)
    train = labelled_set(str(path), CHOICES, min_labelled=20, exclude_row_ids=set())
    held = eval_set(corpus.path, CHOICES)
    a, b = (fit_baseline(train, cv_folds=5, seed=3) for _ in range(2))
    assert (a.estimator, a.params, a.cv_f1_macro) == (b.estimator, b.params, b.cv_f1_macro)
    assert list(a.pipeline.predict(held.texts)) == list(b.pipeline.predict(held.texts))
    assert a.cv_folds == 5 and a.candidates == 28


# -- the comparison: what finetuned_model records, in a stand-in without torch ------------------------


class StandInConfig(dg.Config):  # type: ignore[misc]
    keyword: str = "great"


@dg.asset(name="finetuned_model")
def stand_in_model(
    context: dg.AssetExecutionContext,
    config: StandInConfig,
    footprint: FootprintHomeResource,
    annotations: ArtifactHandle,
    clean_corpus: ArtifactHandle,
    baseline_model: ArtifactHandle,
) -> ArtifactHandle:
    """Scores a keyword rule on the eval rows, recording what finetuned_model records."""
    held = eval_set(clean_corpus.path, CHOICES)
    with accounted(context, footprint, upstream=[annotations, clean_corpus]) as rec:
        rec.add(compared_with(rec, baseline_model))
        predicted = [1 if config.keyword in t.lower() else 0 for t in held.texts]
        record_quality(rec, classification_scores(held.labels, predicted, CHOICES))
        out = rec.home.artifacts_dir / "stand-in.txt"
        out.write_text(config.keyword)
        handle = rec.handle(out)
    context.add_output_metadata(comparison_metadata(rec, baseline_model))
    return handle


@dg.asset(name="annotations")
def labelled_annotations(
    context: dg.AssetExecutionContext, footprint: FootprintHomeResource, clean_corpus: ArtifactHandle
) -> ArtifactHandle:
    """A metered annotations step with 30 minutes of labelling, so the end-to-end cost includes people."""
    with accounted(context, footprint, upstream=[clean_corpus]) as rec:
        path = annotations_file(clean_corpus, rec.home.artifacts_dir / "labels.parquet")
        now = utcnow()
        rec.add(AnnotationWork(rec.materialization_id, 1, 1, "ann", "p", 1800.0, 1800.0, 300.0, False,
                               "positive", "", now, now))  # fmt: skip
        return ann_handle(path, mid=rec.materialization_id)


def test_finetuned_model_is_compared_with_exactly_its_baseline(home: FootprintHome) -> None:
    from assets.corpus.clean import clean_corpus
    from assets.corpus.raw import raw_corpus

    res = materialize(
        home,
        [raw_corpus, clean_corpus, labelled_annotations, baseline_model, stand_in_model],
        {"raw_corpus": {"rows": 600, "seed": 5}},
    )
    steps = ("raw_corpus", "clean_corpus", "annotations", "baseline_model", "finetuned_model")
    assert res.success, [error_of(res, s) for s in steps if not res.is_node_success(s)]
    model = res.output_for_node("finetuned_model").materialization_id
    baseline = res.output_for_node("baseline_model").materialization_id
    meta = meta_of(res, "finetuned_model")

    [row] = rows(home, "SELECT * FROM model_vs_baseline WHERE model_materialization_id = ?", [model])
    assert row["baseline_materialization_id"] == baseline == meta["quality/baseline_materialization_id"]
    [b_f1] = rows(
        home,
        "SELECT value FROM quality_metric WHERE materialization_id = ? AND name = 'f1_macro'",
        [baseline],
    )
    assert row["baseline_f1_macro"] == b_f1["value"]
    gained = 100 * (row["model_f1_macro"] - b_f1["value"])
    assert row["f1_points_gained"] == pytest.approx(gained)
    # the model's end-to-end footprint: itself, annotations (with its labelling) and the corpus
    # assets, each once; the baseline's is not in it
    [e2e] = rows(home, "SELECT * FROM end_to_end_footprint_of(?)", [model])
    own = {r["asset_key"]: r for r in rows(home, "SELECT * FROM asset_footprint")}
    lineage = ("finetuned_model", "annotations", "clean_corpus", "raw_corpus")
    assert e2e["upstream_count"] == 3 and e2e["upstream_unrecorded"] == 0 and e2e["unknown_parts"] == 0
    for figure in ("energy_kwh", "cost_usd", "co2e_kg"):
        assert row[figure] == pytest.approx(sum(own[a][figure] for a in lineage)) == e2e[figure]
    assert e2e["cost_labeling_usd"] > 0 and own["baseline_model"]["energy_kwh"] > 0
    assert row["f1_points_per_kwh"] == pytest.approx(gained / e2e["energy_kwh"])
    assert row["f1_points_per_usd"] == pytest.approx(gained / e2e["cost_usd"])
    assert row["f1_points_per_kg_co2e"] == pytest.approx(gained / e2e["co2e_kg"])
    # the asset page: the same figures, priced lock-free when the step ended
    assert meta["quality/baseline_f1_macro"] == pytest.approx(b_f1["value"], abs=1e-4)
    assert meta["quality/f1_points_gained"] == pytest.approx(gained, abs=1e-4)
    for unit in ("kwh", "usd", "kg_co2e"):
        assert meta[f"quality/f1_points_per_{unit}"] == pytest.approx(row[f"f1_points_per_{unit}"], rel=1e-4)
    assert "F1 points per kWh" in meta["quality/vs_baseline"]
    per_class = rows(home, "SELECT * FROM model_vs_baseline_per_class WHERE model_materialization_id = ?",
                     [model])  # fmt: skip
    assert {r["label"] for r in per_class} == set(CHOICES)
    assert all(r["model_f1"] is not None and r["baseline_f1"] is not None for r in per_class)

    # The same model again while another process holds the warehouse: the step never opens it, and
    # prices the comparison from the batches the loader kept on this host (facts/loaded/).
    handles = {k: res.output_for_node(k) for k in ("clean_corpus", "annotations", "baseline_model")}
    stubs = [stub(k, h) for k, h in handles.items()]
    with holding_warehouse(home):
        again = materialize(home, [*stubs, stand_in_model], {"finetuned_model": {"keyword": "good"}})
    assert again.success, error_of(again, "finetuned_model")
    locked = meta_of(again, "finetuned_model")
    [later] = rows(
        home,
        "SELECT * FROM model_vs_baseline WHERE model_materialization_id = ?",
        [again.output_for_node("finetuned_model").materialization_id],
    )
    assert later["baseline_materialization_id"] == baseline and later["f1_points_per_kwh"] is not None
    assert locked["quality/f1_points_per_kwh"] == pytest.approx(later["f1_points_per_kwh"], rel=1e-4)

    # Once the merged batches are pruned from this host, the upstream footprint is not guessed: the
    # page says it is not priced yet.
    shutil.rmtree(home.loaded_dir)
    home.ensure()
    pruned = materialize(home, [*stubs, stand_in_model], {"finetuned_model": {"keyword": "good"}})
    assert pruned.success, error_of(pruned, "finetuned_model")
    meta = meta_of(pruned, "finetuned_model")
    assert "quality/f1_points_per_kwh" not in meta
    assert "not priced yet" in meta["quality/vs_baseline"] and "not recorded" in meta["quality/vs_baseline"]


@contextmanager
def holding_warehouse(home: FootprintHome) -> Iterator[None]:
    """Another process holding the warehouse read-write until the block ends."""
    code = (
        f"import sys, duckdb\ncon = duckdb.connect({str(home.warehouse_path)!r})\n"
        "print('ready', flush=True)\nsys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def test_with_a_remote_store_the_baseline_reads_and_publishes_through_it(
    home: FootprintHome, corpus: ArtifactHandle, tmp_path: Path
) -> None:
    """Inputs published by another machine (`home`), the baseline fitted in an empty home of its own:
    it downloads them, and its model directory lands in the store."""
    url = f"file://{tmp_path}/store"
    store = Store.from_url(url)
    (home.artifacts_dir / "annotations").mkdir()
    ann_path = annotations_file(corpus, home.artifacts_dir / "annotations" / "m-ann.parquet")
    published = {
        name: dataclasses.replace(h, path=publish(store, home.root, Path(h.path)).url)
        for name, h in (("clean_corpus", corpus), ("annotations", ann_handle(ann_path)))
    }
    other = FootprintHome.resolve(tmp_path / "other").ensure()
    res = dg.materialize(
        [stub(n, h) for n, h in published.items()] + [baseline_model],
        resources={"footprint": FootprintHomeResource(root=str(other.root), store_url=url, heartbeat_s=2.0)},
        raise_on_error=False,
    )
    assert res.success, error_of(res, "baseline_model")
    out: ArtifactHandle = res.output_for_node("baseline_model")
    key = f"artifacts/baseline_model/{out.materialization_id}"
    assert out.path == f"{url}/{key}"
    assert sorted(k for k, _ in store.list_files(key)) == [f"{key}/baseline.json", f"{key}/{MODEL_FILE}"]
    assert meta_of(res, "baseline_model")["baseline/model"] == f"{out.path}/{MODEL_FILE}"
    moved = rows(
        other,
        "SELECT direction, sum(bytes) AS bytes, sum(requests) AS files FROM transfer "
        "WHERE materialization_id = ? AND endpoint_kind = 'object-store' GROUP BY direction ORDER BY 1",
        [out.materialization_id],
    )
    assert moved == [
        {"direction": "download", "bytes": corpus.bytes + ann_path.stat().st_size, "files": 2},
        {"direction": "upload", "bytes": sum(s for _, s in store.list_files(key)), "files": 2},
    ]
