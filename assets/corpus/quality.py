"""What `clean_corpus`'s quality checks judge: figures measured once by the asset (`measure`), the
thresholds it ran with, and the verdicts with a message that names the numbers and the likely cause.

The asset measures and puts a `CleanQuality` in its ArtifactHandle; each check receives that handle as
its input, i.e. exactly the materialization it checks, with the thresholds of that run's config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assets.corpus.cleaner import CleanReport

SMALLEST_LISTED = 10  # classes named in a message / metadata


@dataclass(frozen=True)
class CleanQuality:
    rows_in: int
    rows_out: int
    dropped: dict[str, int]
    raw_distinct_texts: int
    raw_distinct_labels: int  # 0: the source has no labels
    classes_below_min: int  # raw classes with fewer than min_train_rows_per_class training rows
    smallest_classes: list[tuple[str, int]] = field(default_factory=list)  # (label, train rows), fewest first
    min_kept_fraction: float = 0.5
    min_train_rows_per_class: int = 5
    min_chars: int = 0
    # raw one-word texts (letters only) shorter than min_chars, longest first (not stray punctuation)
    short_examples: list[str] = field(default_factory=list)

    @property
    def kept_fraction(self) -> float:
        return self.rows_out / self.rows_in if self.rows_in else 0.0

    def as_extra(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> CleanQuality:
        values = dict(extra)
        values["smallest_classes"] = [tuple(x) for x in values.get("smallest_classes", [])]
        return cls(**values)


def measure(
    raw_path: Path,
    clean_path: Path,
    report: CleanReport,
    *,
    min_kept_fraction: float,
    min_train_rows_per_class: int,
    min_chars: int,
) -> CleanQuality:
    """Distinct texts and labels of the raw corpus, training rows per raw class (DuckDB, one pass each)."""
    con = duckdb.connect()
    try:
        texts, labels = con.execute(
            "SELECT count(DISTINCT text), count(DISTINCT source_label) FROM read_parquet(?)", [str(raw_path)]
        ).fetchone() or (0, 0)
        per_class = con.execute(
            """
            WITH raw AS (SELECT DISTINCT source_label AS label FROM read_parquet($raw)
                         WHERE source_label IS NOT NULL),
                 train AS (SELECT source_label AS label, count(*) AS n FROM read_parquet($clean)
                           WHERE split = 'train' GROUP BY 1)
            SELECT label, coalesce(train.n, 0) AS rows_,
                   count(*) FILTER (WHERE coalesce(train.n, 0) < $min) OVER () AS below
            FROM raw LEFT JOIN train USING (label) ORDER BY rows_, label LIMIT $k
            """,
            {
                "raw": str(raw_path),
                "clean": str(clean_path),
                "min": min_train_rows_per_class,
                "k": SMALLEST_LISTED,
            },
        ).fetchall()
        short = con.execute(
            "SELECT DISTINCT trim(text) AS t FROM read_parquet(?) "
            "WHERE length(trim(text)) BETWEEN 1 AND ? AND regexp_full_match(trim(text), '[[:alpha:]]+') "
            "ORDER BY length(t) DESC, t LIMIT 3",
            [str(raw_path), min_chars - 1],
        ).fetchall()
    finally:
        con.close()
    return CleanQuality(
        rows_in=report.rows_in,
        rows_out=report.rows_out,
        dropped=dict(report.dropped),
        raw_distinct_texts=int(texts),
        raw_distinct_labels=int(labels),
        classes_below_min=int(per_class[0][2]) if per_class else 0,
        smallest_classes=[(str(label), int(n)) for label, n, _ in per_class],
        min_kept_fraction=min_kept_fraction,
        min_train_rows_per_class=min_train_rows_per_class,
        min_chars=min_chars,
        short_examples=[str(r[0]) for r in short],
    )


def drop_summary(q: CleanQuality) -> str:
    """'dropped 9,997 of 10,001 rows: duplicate_exact 9,990 (99.9 %), empty 7 (0.1 %)' (largest first)."""
    parts = [
        f"{reason} {n:,} ({_pct(n, q.rows_in)})"
        for reason, n in sorted(q.dropped.items(), key=lambda kv: -kv[1])
        if n
    ]
    dropped = q.rows_in - q.rows_out
    return f"dropped {dropped:,} of {q.rows_in:,} rows" + (f": {', '.join(parts)}" if parts else "")


def short_rows_sentence(q: CleanQuality) -> str | None:
    """The sentence a user needs when the minimum length dropped rows (one-word labelled phrases)."""
    n = q.dropped.get("too_short", 0)
    if not n:
        return None
    examples = f" (e.g. {', '.join(repr(t) for t in q.short_examples)})" if q.short_examples else ""
    return (
        f"dropped {n:,} rows shorter than min_chars={q.min_chars} characters after cleaning{examples}; "
        "set min_chars = 0 to keep them"
    )


def likely_cause(q: CleanQuality) -> str:
    """The most probable reason for a corpus that lost most rows or classes, in one sentence."""
    if q.raw_distinct_labels > q.raw_distinct_texts * 10 and q.raw_distinct_labels > 50:
        return (
            f"labels look like texts: {q.raw_distinct_labels:,} distinct labels but only "
            f"{q.raw_distinct_texts:,} distinct texts in {q.rows_in:,} rows; are text_column and "
            "label_column swapped?"
        )
    worst = max(q.dropped.items(), key=lambda kv: kv[1], default=("", 0))[0]
    return {
        "duplicate_exact": f"most texts repeat ({q.raw_distinct_texts:,} distinct texts in {q.rows_in:,} "
        "rows); is text_column the column with the texts?",
        "duplicate_normalised": "most texts differ only by case or punctuation; set dedupe_normalised = "
        "false to keep them",
        "too_short": f"most texts are shorter than min_chars={q.min_chars}; is text_column the column with "
        "the texts? Lower min_chars to keep short texts",
        "too_long": "most texts are longer than max_chars; raise max_chars",
        "empty": "most texts are empty after cleaning; is text_column the column with the texts?",
    }.get(worst, "see the drop reasons")


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    metadata: dict[str, Any]


def rows_kept_verdict(q: CleanQuality) -> Verdict:
    share = _pct(q.rows_out, q.rows_in)
    if q.kept_fraction >= q.min_kept_fraction:
        message = f"kept {q.rows_out:,} of {q.rows_in:,} rows ({share}), floor {q.min_kept_fraction:.0%}"
    else:
        message = (
            f"kept {q.rows_out:,} of {q.rows_in:,} rows ({share}), below the floor min_kept_fraction = "
            f"{q.min_kept_fraction:.0%}; {drop_summary(q)}; {likely_cause(q)}"
        )
    return Verdict(
        q.kept_fraction >= q.min_kept_fraction,
        message,
        {"kept_fraction": q.kept_fraction, "min_kept_fraction": q.min_kept_fraction},
    )


def rows_per_class_verdict(q: CleanQuality) -> Verdict:
    metadata: dict[str, Any] = {
        "classes": q.raw_distinct_labels,
        "classes_below_min": q.classes_below_min,
        "min_train_rows_per_class": q.min_train_rows_per_class,
    }
    if q.raw_distinct_labels == 0:
        return Verdict(True, "the source has no labels: no class to count", metadata)
    smallest = ", ".join(f"{label[:40]!r}: {n:,}" for label, n in q.smallest_classes)
    metadata["smallest_classes"] = smallest
    if q.classes_below_min == 0:
        return Verdict(
            True,
            f"every one of {q.raw_distinct_labels:,} classes has at least {q.min_train_rows_per_class} "
            f"training rows (fewest: {smallest})",
            metadata,
        )
    cause = (
        likely_cause(q)
        if q.raw_distinct_labels > 50 or q.kept_fraction < q.min_kept_fraction
        else "collect or annotate more rows of these classes, or lower min_train_rows_per_class"
    )
    return Verdict(
        False,
        f"{q.classes_below_min:,} of {q.raw_distinct_labels:,} classes have fewer than "
        f"min_train_rows_per_class = {q.min_train_rows_per_class} training rows (fewest: {smallest}); "
        f"{cause}",
        metadata,
    )


def _pct(n: int, total: int) -> str:
    if not total:
        return "0 %"
    share = 100 * n / total
    return f"{share:.2f} %" if 0 < share < 0.1 or 99.9 < share < 100 else f"{share:.1f} %"
