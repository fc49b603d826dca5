"""Synthetic warehouses for the report tests: two complete runs of the chain, written as fact batches
and merged by the real loader, so every figure comes out of the real views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from warehouse.batches import write_batch
from warehouse.facts import (
    AnnotationWork,
    EnergyReading,
    FactBatch,
    LineageEdge,
    Materialization,
    MaterializationOutcome,
    PersonTime,
    QualityMetric,
    Storage,
    Transfer,
    new_id,
)
from warehouse.home import FootprintHome
from warehouse.loader import sync

CHAIN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("raw_corpus", ()),
    ("clean_corpus", ("raw_corpus",)),
    ("label_tasks", ("clean_corpus",)),
    ("annotations", ("label_tasks",)),
    ("pretrained_model", ("clean_corpus",)),
    ("finetuned_model", ("pretrained_model", "annotations")),
)
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@dataclass
class SyntheticRun:
    run_id: str
    started_at: dt.datetime
    ids: dict[str, str] = field(default_factory=dict)  # asset key -> materialization id (the chain)
    cpu_j: dict[str, float] = field(default_factory=dict)  # final CPU joules per asset
    annotations: int = 0
    baseline_id: str | None = None  # compared with by the fine-tuned model; not in its lineage

    @property
    def finetuned_id(self) -> str:
        return self.ids["finetuned_model"]


# Final eval scores: (f1_macro, {class: (precision, recall, f1)}); the fine-tuned model also logged a
# worse f1_macro during training (step 10), which is not its final figure.
MODEL_SCORES = (0.8, {"negative": (0.9, 0.7, 0.7875), "positive": (0.75, 0.9, 0.8125)})
BASELINE_SCORES = (0.75, {"negative": (0.7, 0.8, 0.7467), "positive": (0.8, 0.7, 0.7533)})
BASELINE_CPU_J = 18_000.0


def _scores(mid: str, scores: tuple[float, dict[str, tuple[float, float, float]]]) -> list[QualityMetric]:
    f1_macro, per_class = scores
    facts = [
        QualityMetric(mid, "f1_macro", f1_macro, "eval"),
        QualityMetric(mid, "accuracy", f1_macro, "eval"),
    ]
    for label, (p, r, f) in per_class.items():
        facts += [
            QualityMetric(mid, "precision", p, "eval", label),
            QualityMetric(mid, "recall", r, "eval", label),
            QualityMetric(mid, "f1", f, "eval", label),
        ]
    return facts


def write_baseline(home: FootprintHome, run: SyntheticRun) -> None:
    """A baseline_model trained on the run's annotations, and the fine-tuned model's scores and its
    'compared_with' edge to it (as assets/training records them)."""
    mid = new_id()
    run.baseline_id = mid
    ann = run.ids["annotations"]
    begin = run.started_at + dt.timedelta(minutes=35)
    end = begin + dt.timedelta(minutes=1)
    batch = FactBatch().add(
        Materialization(mid, run.run_id, "baseline_model", begin, host="synthetic"),
        LineageEdge(mid, ann, "annotations"),
        EnergyReading(
            mid,
            new_id(),
            1,
            True,
            "cpu",
            0,
            "cpu-model",
            "synthetic",
            BASELINE_CPU_J,
            60.0,
            "estimated",
            "cpu-model:tdp_w=85",
            end,
        ),
        *_scores(mid, BASELINE_SCORES),
        MaterializationOutcome(mid, "success", end),
    )
    ft = run.ids["finetuned_model"]
    batch.add(
        LineageEdge(ft, mid, "baseline_model", relation="compared_with"),
        *_scores(ft, MODEL_SCORES),
        QualityMetric(ft, "f1_macro", 0.5, "eval", None, 10),
    )
    write_batch(home, batch)


def write_run(
    home: FootprintHome,
    *,
    started_at: dt.datetime,
    cpu_scale: float = 1.0,
    annotation_ids_from: int = 1,
    annotations: int = 6,
    baseline: bool = True,
) -> SyntheticRun:
    """Publish the facts of one full chain run as batches (not yet synced); with `baseline`, also a
    baseline_model the fine-tuned model is compared with, and both models' scores."""
    run = SyntheticRun(run_id=new_id(), started_at=started_at, annotations=annotations)
    for step, (asset, parents) in enumerate(CHAIN):
        mid = new_id()
        run.ids[asset] = mid
        begin = started_at + dt.timedelta(minutes=10 * step)
        end = begin + dt.timedelta(minutes=5)
        window = new_id()
        cpu_j = 36_000.0 * (step + 1) * cpu_scale  # 0.01 kWh x (step + 1)
        run.cpu_j[asset] = cpu_j
        batch = FactBatch().add(
            Materialization(mid, run.run_id, asset, begin, host="synthetic"),
            *[LineageEdge(mid, run.ids[p], p) for p in parents],
            # a superseded partial reading (seq 1), then the final one (seq 2)
            EnergyReading(
                mid,
                window,
                1,
                False,
                "cpu",
                0,
                "cpu-model",
                "synthetic",
                cpu_j / 2,
                150.0,
                "estimated",
                "cpu-model:tdp_w=85",
                begin + dt.timedelta(minutes=2),
            ),
            EnergyReading(
                mid,
                window,
                2,
                True,
                "cpu",
                0,
                "cpu-model",
                "synthetic",
                cpu_j,
                300.0,
                "estimated",
                "cpu-model:tdp_w=85",
                end,
            ),
            EnergyReading(
                mid,
                window,
                2,
                True,
                "ram",
                0,
                "ram",
                "synthetic",
                3_600.0,
                300.0,
                "estimated",
                "ram-model",
                end,
            ),
            EnergyReading(  # a host without a GPU, as the pre-ledger meter reported it (index -1)
                mid, window, 2, True, "gpu", -1, "gpu", "synthetic", None, 300.0, "unavailable", "nvml", end
            ),
            Transfer(mid, 1_000_000 * (step + 1), 1.0, "read", "file", "local", end),
            Storage(
                mid, 2_000_000, f"/synthetic/{asset}", "checkpoint" if "model" in asset else "dataset", end
            ),
            MaterializationOutcome(mid, "success", end),
        )
        if asset == "raw_corpus":
            batch.add(Transfer(mid, 50_000_000, 3.0, "download", "hub", "network", end))
        if asset == "pretrained_model":
            batch.add(PersonTime(mid, "engineer", "ml", 1800.0))
        if asset == "annotations":
            for i in range(annotations):
                at = begin + dt.timedelta(minutes=i)
                batch.add(
                    AnnotationWork(
                        mid,
                        annotation_ids_from + i,
                        100 + i,
                        f"annotator-{i % 2}",
                        "demo",
                        40.0,
                        30.0,
                        300.0,
                        False,
                        "positive",
                        "",
                        at,
                        at,
                    )
                )
        write_batch(home, batch)
    if baseline:
        write_baseline(home, run)
    return run


@pytest.fixture
def two_runs(home: FootprintHome) -> tuple[SyntheticRun, SyntheticRun]:
    """Two complete chains in one warehouse; the second run is twice as costly in CPU energy."""
    first = write_run(home, started_at=T0)
    second = write_run(
        home, started_at=T0 + dt.timedelta(days=1), cpu_scale=2.0, annotation_ids_from=1000, annotations=4
    )
    sync(home, wait_s=5.0)
    return first, second


@pytest.fixture
def run_factory(home: FootprintHome) -> Callable[..., SyntheticRun]:
    def make(**kwargs: object) -> SyntheticRun:
        return write_run(home, started_at=kwargs.pop("started_at", T0), **kwargs)  # type: ignore[arg-type]

    return make
