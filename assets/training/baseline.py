"""`baseline_model`: a cheap, honest text classifier trained on the same labels, in the same run, as
the fine-tuned model, and scored on the same held-out rows, so that "F1 points gained over the
baseline" says whether pretraining + fine-tuning earned their footprint.

What it is: TF-IDF features (sublinear term frequency, word unigrams or uni+bigrams) and a linear
classifier, either logistic regression (class-balanced, its inverse regularisation C in 0.01..1000)
or multinomial naive Bayes (smoothing alpha in 0.03..1, with or without the class prior). Every
combination is scored by seeded, stratified k-fold cross-validation (macro-F1) on the TRAINING labels
only, and the best is refit on all of them: the held-out split is never seen before the final score.

Why both families: with a few hundred labels naive Bayes often beats logistic regression (Ng & Jordan
2002); on the demo's 217 labels it does (cross-validation picks it, and it scores higher on the eval
rows too). A baseline fixed to the weaker family would be a strawman; letting cross-validation choose
among cheap, standard models is what a careful engineer would try first. It fits in seconds on one
core and is metered like every other asset, so its own footprint is in the warehouse beside it.

Rows: exactly those of fine-tuning (training.data.labelled_set / eval_set / eval_row_ids): annotated
rows outside the eval split for training, eval rows with a gold label for scoring. Classes: the label
set `label_tasks` created (annotations.extra["choices"]), never a second setting. Bad input (labels
outside the label set, a single class, too few rows, a class too small for the folds) fails before
any fitting, naming the problem.

Output: $FOOTPRINT_HOME/artifacts/baseline_model/<materialization_id>/ holding `model.joblib` (the
fitted scikit-learn Pipeline; predictions are indices into `choices`; a pickle: load only your own)
and `baseline.json` (choices, chosen estimator and parameters, CV score, library version); published
to $FOOTPRINT_STORE/artifacts/baseline_model/<materialization_id>/ when a store is set (the handle's
path is then that URL; its inputs are downloaded first: docs/training.md).
"""

# No `from __future__ import annotations` here: Dagster resolves the Config annotation at decoration.
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from assets.training.quality import quality_metadata, record_quality
from pipelines.accounting import accounted
from pipelines.artifact_store import fetch_inputs, publish_handle
from pipelines.resources import FootprintHomeResource
from training.config import TrainingConfigError
from training.data import LabelledSet, eval_row_ids, eval_set, labelled_set
from training.metrics import classification_scores
from warehouse.artifacts import ArtifactHandle
from warehouse.atomic import atomic_dir
from warehouse.home import make_private_dir

ASSET_KEY = "baseline_model"
MODEL_FILE = "model.joblib"
INFO_FILE = "baseline.json"
LR_C = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
NB_ALPHA = (0.03, 0.1, 0.3, 1.0)
NGRAMS = ((1, 1), (1, 2))


class BaselineConfig(dg.Config):  # type: ignore[misc]
    min_labelled: int = 20  # as fine-tuning: fewer labelled rows is an error, not a baseline
    cv_folds: int = 5  # at most; fewer when the smallest class has fewer examples (at least 2)
    seed: int = 0


@dataclass(frozen=True)
class FittedBaseline:
    pipeline: Any  # sklearn.pipeline.Pipeline, fitted on every training row
    estimator: str  # 'logistic_regression' | 'multinomial_nb'
    params: dict[str, Any]  # the chosen hyper-parameters
    cv_f1_macro: float  # mean macro-F1 of the chosen candidate over the folds (training labels only)
    cv_folds: int
    candidates: int
    fit_s: float  # cross-validation + refit, wall seconds


def choices_of(annotations: ArtifactHandle) -> tuple[str, ...]:
    """The label set label_tasks created, as the annotations handle carries it."""
    choices = annotations.extra.get("choices")
    if not choices or not all(isinstance(c, str) and c for c in choices) or len(set(choices)) != len(choices):
        raise TrainingConfigError(
            f"the annotations handle (materialization {annotations.materialization_id}) carries no usable "
            f"label set (extra['choices'] = {choices!r}); re-materialize annotations so the classes come "
            "from label_tasks"
        )
    return tuple(choices)


def folds_for(train: LabelledSet, cv_folds: int) -> int:
    """Stratified folds: at most `cv_folds`, at most the smallest present class's size, at least 2."""
    if cv_folds < 2:
        raise TrainingConfigError(f"cv_folds must be >= 2 to choose the baseline's settings, got {cv_folds}")
    counts = {c: n for c, n in train.class_counts().items() if n}
    smallest = min(counts, key=lambda c: counts[c])
    if counts[smallest] < 2:
        raise TrainingConfigError(
            f"class {smallest!r} has only {counts[smallest]} labelled example(s) {counts}; cross-validation "
            "needs at least 2 per class: annotate more examples of it"
        )
    return min(cv_folds, counts[smallest])


def candidates() -> list[dict[str, Any]]:
    """The grid: TF-IDF n-grams x (logistic regression C | naive Bayes alpha and prior)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB

    return [
        {
            "clf": [LogisticRegression(class_weight="balanced", max_iter=2000)],
            "clf__C": list(LR_C),
            "tfidf__ngram_range": list(NGRAMS),
        },
        {
            "clf": [MultinomialNB()],
            "clf__alpha": list(NB_ALPHA),
            "clf__fit_prior": [True, False],
            "tfidf__ngram_range": list(NGRAMS),
        },
    ]


def fit_baseline(train: LabelledSet, *, cv_folds: int, seed: int) -> FittedBaseline:
    """Choose the candidate by stratified, seeded k-fold CV macro-F1 on `train`; refit it on all rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    folds = folds_for(train, cv_folds)
    pipe = Pipeline(
        [
            ("tfidf", TfidfVectorizer(sublinear_tf=True, strip_accents="unicode")),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )
    grid = candidates()
    search = GridSearchCV(
        pipe,
        grid,
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        scoring="f1_macro",
        refit=True,
        n_jobs=1,
    )
    started = time.perf_counter()
    search.fit(train.texts, train.labels)
    fit_s = time.perf_counter() - started
    best = dict(search.best_params_)
    clf = best.pop("clf")
    return FittedBaseline(
        pipeline=search.best_estimator_,
        estimator="logistic_regression" if isinstance(clf, LogisticRegression) else "multinomial_nb",
        params={k.split("__", 1)[1]: (list(v) if isinstance(v, tuple) else v) for k, v in best.items()},
        cv_f1_macro=float(search.best_score_),
        cv_folds=folds,
        candidates=len(search.cv_results_["params"]),
        fit_s=fit_s,
    )


def save_baseline(fitted: FittedBaseline, choices: tuple[str, ...], final: Path) -> None:
    """model.joblib + baseline.json under `final`, published whole (warehouse.atomic)."""
    import joblib
    import sklearn

    info = {
        "choices": list(choices),
        "estimator": fitted.estimator,
        "params": fitted.params,
        "cv_f1_macro": fitted.cv_f1_macro,
        "cv_folds": fitted.cv_folds,
        "scikit_learn": sklearn.__version__,
    }
    make_private_dir(final.parent)
    with atomic_dir(final) as tmp:
        joblib.dump(fitted.pipeline, tmp / MODEL_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


@dg.asset(group_name="training", description=__doc__)
def baseline_model(
    context: dg.AssetExecutionContext,
    config: BaselineConfig,
    footprint: FootprintHomeResource,
    annotations: ArtifactHandle,
    clean_corpus: ArtifactHandle,
) -> ArtifactHandle:
    # Everything that can be checked is checked before the recorder opens and any fitting starts.
    choices = choices_of(annotations)
    inputs = fetch_inputs(footprint, annotations, clean_corpus)
    corpus_path = str(inputs.local(clean_corpus))
    train = labelled_set(
        str(inputs.local(annotations)),
        choices,
        min_labelled=config.min_labelled,
        exclude_row_ids=eval_row_ids(corpus_path),
    )
    held_out = eval_set(corpus_path, choices)
    folds_for(train, config.cv_folds)
    unseen = [c for c, n in train.class_counts().items() if n == 0]
    if unseen:
        context.log.warning(f"classes {unseen} have no labelled example: the baseline never predicts them")
    context.log.info(
        f"baseline on {len(train.labels)} labelled examples {train.class_counts()} "
        f"({train.dropped_eval_overlap} in the eval split left out), {len(held_out.labels)} eval rows"
    )
    with accounted(context, footprint, upstream=[annotations, clean_corpus]) as rec:
        inputs.record(rec)
        fitted = fit_baseline(train, cv_folds=config.cv_folds, seed=config.seed)
        predicted = [int(p) for p in fitted.pipeline.predict(held_out.texts)]
        scores = classification_scores(held_out.labels, predicted, choices)
        out_dir = rec.home.artifacts_dir / ASSET_KEY / rec.materialization_id
        save_baseline(fitted, choices, out_dir)
        written = rec.add_storage(out_dir, kind="checkpoint")
        rec.add_transfer(
            bytes_=annotations.bytes + clean_corpus.bytes,
            duration_s=0.0,
            direction="read",
            endpoint_kind="file",
            scope="local",
            endpoint="upstream artifacts",
        )
        rec.add_transfer(
            bytes_=written, duration_s=0.0, direction="write", endpoint_kind="file", scope="local",
            endpoint=str(out_dir),
        )  # fmt: skip
        record_quality(rec, scores)
        context.log.info(
            f"baseline: {fitted.estimator} {fitted.params}, CV macro-F1 {fitted.cv_f1_macro:.4f} over "
            f"{fitted.cv_folds} folds; eval macro-F1 {scores.f1_macro:.4f}; fitted in {fitted.fit_s:.2f} s"
        )
        meta: dict[str, Any] = quality_metadata(scores)
        meta.update(
            {
                "baseline/estimator": fitted.estimator,
                "baseline/params": dg.MetadataValue.json(fitted.params),
                "baseline/cv_f1_macro": dg.MetadataValue.float(round(fitted.cv_f1_macro, 4)),
                "baseline/cv_folds": dg.MetadataValue.int(fitted.cv_folds),
                "baseline/candidates": dg.MetadataValue.int(fitted.candidates),
                "baseline/fit_s": dg.MetadataValue.float(round(fitted.fit_s, 3)),
                "baseline/n_train": dg.MetadataValue.int(len(train.labels)),
                "baseline/class_counts": dg.MetadataValue.json(train.class_counts()),
                "baseline/model": dg.MetadataValue.path(str(out_dir / MODEL_FILE)),
            }
        )
        handle = publish_handle(
            rec,
            footprint,
            out_dir,
            rows=len(train.labels),
            task="baseline",
            choices=list(choices),
            estimator=fitted.estimator,
            params=fitted.params,
        )
        meta["baseline/model"] = dg.MetadataValue.path(f"{handle.path}/{MODEL_FILE}")
        context.add_output_metadata(meta)
        return handle
