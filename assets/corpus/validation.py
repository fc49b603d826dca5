"""Column checks at ingestion, the same for every file format and the hub: a text column must hold
texts and a label column labels, or `raw_corpus` refuses the source before anything is written.

Refused (every problem found is reported in one CorpusError, each naming its column):
- an empty text column: every value null or blank;
- a text column of numbers: more than `max_numeric_text_share` of its non-blank values parse as a
  number (a label or id column picked as text, or text and label columns swapped);
- a label column with too many classes: more than max(max_labels, max_label_share x rows) distinct
  values (texts picked as labels, or the columns swapped).
Columns of a non-string type are refused earlier, by `sources.as_text`.

Everything is computed with pyarrow compute kernels over whole columns (no Python loop per row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from assets.corpus.errors import CorpusError

# an integer or decimal number, optionally signed, with thousands separators, an exponent or a '%'
NUMBER = r"^\s*[-+]?(?:\d+(?:[.,]\d+)*|\d*\.\d+)(?:[eE][-+]?\d+)?\s*%?\s*$"


@dataclass(frozen=True)
class ColumnLimits:
    """Where a text column stops looking like texts and a label column like labels."""

    max_numeric_text_share: float = 0.5
    max_labels: int = 50
    max_label_share: float = 0.1

    def __post_init__(self) -> None:
        for name in ("max_numeric_text_share", "max_label_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise CorpusError(f"{name} must be within [0, 1], got {value}")
        if self.max_labels < 1:
            raise CorpusError(f"max_labels must be >= 1, got {self.max_labels}")

    def label_limit(self, rows: int) -> int:
        """Most distinct labels accepted in `rows` rows: max(max_labels, max_label_share x rows)."""
        return max(self.max_labels, math.floor(self.max_label_share * rows))


@dataclass(frozen=True)
class ColumnProfile:
    """What the checks look at, for the metadata of `raw_corpus`."""

    rows: int
    blank_texts: int  # null, empty or whitespace only
    numeric_texts: int  # non-blank texts that parse as a number
    distinct_labels: int | None  # None: no label column
    numeric_example: str | None = None


def profile_columns(text: pa.Array, label: pa.Array | None) -> ColumnProfile:
    """Counts over string arrays `text` and `label` (None: no label column)."""
    trimmed = pc.utf8_trim_whitespace(text)
    blank = pc.fill_null(pc.equal(trimmed, ""), True)
    numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER), False)
    n_numeric = int(pc.sum(numeric).as_py() or 0)
    example = pc.filter(text, numeric)[0].as_py() if n_numeric else None
    distinct = None if label is None else int(pc.count_distinct(label, mode="only_valid").as_py())
    return ColumnProfile(
        rows=len(text),
        blank_texts=int(pc.sum(blank).as_py() or 0),
        numeric_texts=n_numeric,
        distinct_labels=distinct,
        numeric_example=example,
    )


def column_problems(
    profile: ColumnProfile, limits: ColumnLimits, *, text_column: str, label_column: str
) -> list[str]:
    """Each problem as a sentence that names the column, the figures and what to do; [] if none."""
    problems = []
    swapped = "; are text_column and label_column swapped?" if label_column else ""
    non_blank = profile.rows - profile.blank_texts
    if non_blank == 0:
        problems.append(
            f"text column {text_column!r} is empty: all {profile.rows:,} rows are null or blank; "
            "set text_column to the column that holds the texts"
        )
    elif profile.numeric_texts > limits.max_numeric_text_share * non_blank:
        problems.append(
            f"text column {text_column!r} holds numbers, not texts: {profile.numeric_texts:,} of "
            f"{non_blank:,} non-blank values parse as numbers (e.g. {profile.numeric_example!r}; "
            f"limit {limits.max_numeric_text_share:.0%}); set text_column to the column with the "
            f"texts{swapped}"
        )
    limit = limits.label_limit(profile.rows)
    if profile.distinct_labels is not None and profile.distinct_labels > limit:
        problems.append(
            f"label column {label_column!r} has {profile.distinct_labels:,} distinct values in "
            f"{profile.rows:,} rows (limit max(max_labels={limits.max_labels}, "
            f"max_label_share={limits.max_label_share:g} x rows) = {limit:,}): labels look like texts; "
            "are text_column and label_column swapped? If that many classes is intended, raise "
            "max_labels or max_label_share; label_column='' reads no labels"
        )
    return problems


def validate_columns(
    text: pa.Array,
    label: pa.Array | None,
    limits: ColumnLimits,
    *,
    source: str,
    text_column: str,
    label_column: str,
) -> ColumnProfile:
    """The profile of the two columns; CorpusError listing every problem if they do not look right."""
    profile = profile_columns(text, label)
    problems = column_problems(profile, limits, text_column=text_column, label_column=label_column)
    if problems:  # each problem names its column
        raise CorpusError("; and ".join(problems), source=source)
    return profile
