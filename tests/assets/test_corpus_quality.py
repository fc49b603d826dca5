"""clean_corpus's quality figures and verdicts (assets.corpus.quality): measured on small Parquet files,
judged with hand-computed numbers."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from assets.corpus.cleaner import CleanReport
from assets.corpus.quality import (
    CleanQuality,
    drop_summary,
    likely_cause,
    measure,
    rows_kept_verdict,
    rows_per_class_verdict,
    short_rows_sentence,
)


def _quality(**kw: object) -> CleanQuality:
    base: dict[str, object] = {
        "rows_in": 100,
        "rows_out": 80,
        "dropped": {"empty": 5, "too_short": 15, "duplicate_exact": 0},
        "raw_distinct_texts": 95,
        "raw_distinct_labels": 2,
        "classes_below_min": 0,
        "smallest_classes": [("neg", 30), ("pos", 34)],
        "min_chars": 5,
    }
    return CleanQuality(**{**base, **kw})  # type: ignore[arg-type]


def test_measure_counts_training_rows_of_every_raw_class(tmp_path: Path) -> None:
    raw = pa.table(
        {
            "row_id": [f"r{i}" for i in range(8)],
            "text": ["a", "a", "bb", "c", "?!", "e", "f", "g"],
            "source_label": ["x", "x", "y", "y", "z", None, "x", "x"],
            "gold_label": [None] * 8,
        }
    )
    clean = pa.table(
        {
            "row_id": ["r0", "r2", "r3", "r6", "r7"],
            "split": ["train", "train", "eval", "train", "train"],
            "source_label": ["x", "y", "y", "x", "x"],
        }
    )
    pq.write_table(raw, tmp_path / "raw.parquet")
    pq.write_table(clean, tmp_path / "clean.parquet")
    report = CleanReport(rows_in=8, rows_out=5)
    q = measure(
        tmp_path / "raw.parquet",
        tmp_path / "clean.parquet",
        report,
        min_kept_fraction=0.5,
        min_train_rows_per_class=2,
        min_chars=5,
    )
    # classes x: 3 train, y: 1 train (1 eval), z: 0 (its row is gone) -> y and z below 2
    assert (q.raw_distinct_texts, q.raw_distinct_labels, q.classes_below_min) == (7, 3, 2)
    assert q.smallest_classes == [("z", 0), ("y", 1), ("x", 3)]
    # raw one-word texts shorter than min_chars (not "?!"), longest first, then in order
    assert q.short_examples == ["bb", "a", "c"]
    assert CleanQuality.from_extra(q.as_extra()) == q  # survives the ArtifactHandle round trip


def test_rows_kept_verdict_names_the_numbers() -> None:
    ok = rows_kept_verdict(_quality())
    assert ok.passed and ok.message == "kept 80 of 100 rows (80.0 %), floor 50%"
    bad = rows_kept_verdict(_quality(rows_out=40, dropped={"too_short": 50, "empty": 10}))
    assert not bad.passed
    assert bad.message.startswith(
        "kept 40 of 100 rows (40.0 %), below the floor min_kept_fraction = 50%; "
        "dropped 60 of 100 rows: too_short 50 (50.0 %), empty 10 (10.0 %); most texts are shorter"
    )
    assert rows_kept_verdict(_quality(rows_out=50)).passed  # at the floor: passes


def test_likely_cause_for_swapped_columns() -> None:
    q = _quality(
        rows_in=10_001,
        rows_out=4,
        dropped={"duplicate_exact": 9_997},
        raw_distinct_texts=4,
        raw_distinct_labels=10_001,
    )
    assert likely_cause(q) == (
        "labels look like texts: 10,001 distinct labels but only 4 distinct texts in 10,001 rows; "
        "are text_column and label_column swapped?"
    )
    # many texts repeated but labels few: not a swap
    assert "most texts repeat" in likely_cause(_quality(rows_out=10, dropped={"duplicate_exact": 90}))


def test_rows_per_class_verdict() -> None:
    assert rows_per_class_verdict(_quality()).passed
    assert rows_per_class_verdict(_quality(raw_distinct_labels=0, smallest_classes=[])).message == (
        "the source has no labels: no class to count"
    )
    bad = rows_per_class_verdict(
        _quality(raw_distinct_labels=3, classes_below_min=1, smallest_classes=[("rare", 2), ("neg", 30)])
    )
    assert not bad.passed
    assert bad.message == (
        "1 of 3 classes have fewer than min_train_rows_per_class = 5 training rows (fewest: 'rare': 2, "
        "'neg': 30); collect or annotate more rows of these classes, or lower min_train_rows_per_class"
    )
    assert bad.metadata["classes_below_min"] == 1


def test_drop_summary_and_short_rows_sentence() -> None:
    q = _quality()
    assert drop_summary(q) == "dropped 20 of 100 rows: too_short 15 (15.0 %), empty 5 (5.0 %)"
    assert short_rows_sentence(q) == (
        "dropped 15 rows shorter than min_chars=5 characters after cleaning; set min_chars = 0 to keep them"
    )
    assert short_rows_sentence(_quality(short_examples=["cute", "hate"])) == (
        "dropped 15 rows shorter than min_chars=5 characters after cleaning (e.g. 'cute', 'hate'); "
        "set min_chars = 0 to keep them"
    )
    assert short_rows_sentence(_quality(dropped={"too_short": 0})) is None
    tiny = _quality(rows_in=10_000, rows_out=9_999, dropped={"empty": 1})
    assert drop_summary(tiny) == "dropped 1 of 10,000 rows: empty 1 (0.01 %)"
    most = _quality(rows_in=10_001, rows_out=4, dropped={"duplicate_exact": 9_997})
    assert drop_summary(most) == "dropped 9,997 of 10,001 rows: duplicate_exact 9,997 (99.96 %)"  # not 100
