"""Bad corpus input through the real entry point: `dagster asset materialize` of the code location in a
subprocess, against a temp DAGSTER_HOME and FOOTPRINT_HOME. Each case asserts the exit code, the
message a user reads, and what is (not) left under $FOOTPRINT_HOME/artifacts. Data is generated here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
TOPICS = ("World", "Sports", "Business", "Sci/Tech")
WORDS = ("markets", "games", "elections", "chips", "rain", "courts", "oil", "stars", "trains", "banks")


@dataclass(frozen=True)
class Run:
    rc: int
    output: str
    dagster_home: Path
    footprint_home: Path

    def artifacts(self, asset: str) -> list[Path]:
        """The asset's datasets (the label-conflicts list written beside a clean corpus left out)."""
        folder = self.footprint_home / "artifacts" / asset
        found = sorted(folder.iterdir()) if folder.exists() else []
        return [p for p in found if not p.name.endswith(".conflicts.parquet")]

    def latest_metadata(self, asset: str) -> dict[str, Any]:
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None and event.asset_materialization is not None, asset
            return dict(event.asset_materialization.metadata)

    def check_evaluations(self) -> dict[str, dg.AssetCheckEvaluation]:
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            records = instance.get_records_for_run(
                run_id=instance.get_runs(limit=1)[0].run_id,
                of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            ).records
            evals = [r.event_log_entry.dagster_event.event_specific_data for r in records]  # type: ignore[union-attr]
        return {e.check_name: e for e in evals}


def materialize(tmp: Path, raw: dict[str, Any], clean: dict[str, Any] | None = None) -> Run:
    """`dagster asset materialize` of raw_corpus and clean_corpus (and their checks), in one process."""
    dagster_home, footprint_home = tmp / "dagster", tmp / "footprint"
    dagster_home.mkdir(exist_ok=True)
    (dagster_home / "dagster.yaml").touch()
    config = {
        "execution": {"config": {"in_process": {}}},
        "ops": {"raw_corpus": {"config": raw}, "clean_corpus": {"config": clean or {}}},
    }
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "FOOTPRINT_HOME": str(footprint_home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "pipelines.definitions",
         "--select", "raw_corpus,clean_corpus", "--config-json", json.dumps(config)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout + proc.stderr, dagster_home, footprint_home)


def news_tsv(path: Path, rows: int, *, seed: int = 0) -> Path:
    """AG News layout: no header, text<TAB>topic; every text distinct."""
    rng = random.Random(seed)
    lines = [
        f"headline {i} about {rng.choice(WORDS)} and {rng.choice(WORDS)}\t{TOPICS[i % 4]}"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reviews_csv(path: Path, rows: int, *, one_word: int = 0, seed: int = 0) -> Path:
    """SST-2 layout: header sentence,label with 0/1 labels; `one_word` extra one-word labelled rows."""
    rng = random.Random(seed)
    body = [
        f"review {i}: the film was {rng.choice(WORDS)} and {rng.choice(WORDS)},{i % 2}" for i in range(rows)
    ]
    body += [f"{w[:4]},{i % 2}" for i, w in enumerate(WORDS[:one_word])]
    path.write_text("sentence,label\n" + "\n".join(body) + "\n", encoding="utf-8")
    return path


def _tsv(src: Path, text: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"source": f"file:{src}", "has_header": False, "text_column": text, "label_column": label, **extra}


def test_swapped_columns_refused_at_ingestion(tmp_path: Path) -> None:
    src = news_tsv(tmp_path / "news.tsv", 600)
    run = materialize(tmp_path, _tsv(src, "1", "0"))
    assert run.rc != 0
    assert "label column '0' has 600 distinct values in 600 rows" in run.output, run.output[-3000:]
    assert "labels look like texts; are text_column and label_column swapped?" in run.output
    assert str(src) in run.output
    assert run.artifacts("raw_corpus") == [] and run.artifacts("clean_corpus") == []


def test_numeric_text_column_in_csv_refused_at_ingestion(tmp_path: Path) -> None:
    src = reviews_csv(tmp_path / "reviews.csv", 300)
    raw = {"source": f"file:{src}", "text_column": "label", "label_column": "sentence"}
    run = materialize(tmp_path, raw)
    assert run.rc != 0
    assert "text column 'label' holds numbers, not texts: 300 of 300 non-blank values" in run.output
    assert "label column 'sentence' has 300 distinct values" in run.output  # both problems, one error
    assert "reviews.csv" in run.output
    assert run.artifacts("raw_corpus") == []


def test_empty_text_column_and_invalid_utf8_refused(tmp_path: Path) -> None:
    src = tmp_path / "blank.csv"
    src.write_text("text,label\n" + "".join(f" ,{i % 2}\n" for i in range(20)))
    run = materialize(tmp_path, {"source": f"file:{src}"})
    assert run.rc != 0 and "text column 'text' is empty: all 20 rows are null or blank" in run.output
    assert run.artifacts("raw_corpus") == []

    bad = tmp_path / "latin1.csv"
    rows = [f"fine review {i},pos" for i in range(18)] + ["caf\xe9 au lait,neg"]
    bad.write_bytes(("text,label\n" + "\n".join(rows) + "\n").encode("latin-1"))
    run = materialize(tmp_path, {"source": f"file:{bad}"})
    # data row 19 (1-based) is the file's line 20: the header counts
    assert run.rc != 0 and "column 'text': line 20 holds bytes that are not valid UTF-8" in run.output
    assert run.artifacts("raw_corpus") == []


def test_swapped_columns_past_ingestion_fail_the_clean_checks(tmp_path: Path) -> None:
    """With the ingestion limit lifted, the swap reaches cleaning: the blocking checks fail the run."""
    src = news_tsv(tmp_path / "news.tsv", 400)
    run = materialize(tmp_path, _tsv(src, "1", "0", max_label_share=1.0, max_labels=1000))
    assert run.rc != 0
    checks = run.check_evaluations()
    kept, per_class = checks["clean_corpus_rows_kept"], checks["clean_corpus_train_rows_per_class"]
    assert not kept.passed and kept.severity == dg.AssetCheckSeverity.ERROR and kept.blocking
    assert kept.description == (
        "kept 4 of 400 rows (1.0 %), below the floor min_kept_fraction = 50%; dropped 396 of 400 rows: "
        "duplicate_exact 396 (99.0 %); labels look like texts: 400 distinct labels but only 4 distinct "
        "texts in 400 rows; are text_column and label_column swapped?"
    )
    assert not per_class.passed and per_class.severity == dg.AssetCheckSeverity.ERROR
    assert per_class.description is not None
    assert per_class.description.startswith("400 of 400 classes have fewer than min_train_rows_per_class = 5")
    assert per_class.description.endswith("are text_column and label_column swapped?")
    assert "labels look like texts: 400 distinct labels" in run.output  # the user's terminal says it too
    # the asset itself is written (the check judges it); its metadata points at the Parquet artifacts
    [raw_file], [clean_file] = run.artifacts("raw_corpus"), run.artifacts("clean_corpus")
    assert run.latest_metadata("raw_corpus")["path"].value == str(raw_file)
    clean_meta = run.latest_metadata("clean_corpus")
    assert clean_meta["path"].value == str(clean_file)
    assert clean_meta["dropped_duplicate_exact"].value == 396
    assert clean_meta["dropped_duplicate_exact_share"].value == pytest.approx(0.99)


def test_healthy_corpus_passes_and_says_what_min_chars_dropped(tmp_path: Path) -> None:
    src = reviews_csv(tmp_path / "reviews.csv", 300, one_word=6)
    run = materialize(tmp_path, {"source": f"file:{src}", "text_column": "sentence"})
    assert run.rc == 0, run.output[-3000:]
    checks = run.check_evaluations()
    assert len(checks) == 5 and all(c.passed for c in checks.values()), checks
    assert "dropped 6 of 306 rows: too_short 6 (2.0 %)" in run.output
    examples = ", ".join(repr(w) for w in sorted(w[:4] for w in WORDS[:6])[:3])  # all 4 letters long
    assert (
        f"dropped 6 rows shorter than min_chars=5 characters after cleaning (e.g. {examples})" in run.output
    )
    assert "set min_chars = 0 to keep them" in run.output
    meta = run.latest_metadata("clean_corpus")
    assert meta["dropped_too_short"].value == 6
    assert meta["drop_summary"].value.endswith("set min_chars = 0 to keep them")
    [clean_file] = run.artifacts("clean_corpus")
    assert meta["path"].value == str(clean_file)
