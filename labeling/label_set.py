"""The label set of an annotation project: decided once, by `label_tasks`, and carried downstream.

`annotation_policy.choices` set: that list, in that order. Left empty (the default): the distinct
labels the corpus carries (non-null `source_label`, and `gold_label`, which the eval split and the
demo's simulated annotators use), in a stable order (numerically when every label is an integer,
else alphabetically), so the same corpus always gives the same list.

Refused, with what to do, before anything is created in Label Studio (`LabelSetError`):
- fewer than 2 labels (a classifier needs two classes);
- a configured set that misses a label of the corpus (the simulated annotators label from
  `gold_label`; fine-tuning scores every eval row's `gold_label`: a label outside the set would fail
  there, after annotation money was spent);
- ill-formed labels: empty, surrounding whitespace, control characters (XML attributes cannot keep
  them: Label Studio would store another value than the one configured), longer than
  `MAX_LABEL_CHARS`, or the same label twice (also when only letter case differs: two buttons that
  look alike);
- more than `MAX_CHOICES`: Label Studio's editor gives each choice a one-key shortcut from the 33 keys
  "1234567890qwetasdfgzxcvbyiopjklnm" (`Hotkey.makeComb` in the 1.23 editor bundle); a longer flat
  list leaves choices without a shortcut and is what Label Studio's `Taxonomy` tag is for, not a
  single-choice classification.

The configured set may hold labels the corpus lacks (annotators may find them); `label_tasks`
reports them as `choices_without_corpus_rows`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

MAX_CHOICES = 33  # one keyboard shortcut each in Label Studio's editor (see the module docstring)
MAX_LABEL_CHARS = 100  # a button caption, not a sentence
LABEL_COLUMNS = ("source_label", "gold_label")


class LabelSetError(ValueError):
    """The label set cannot be used: the message names the problem and what to do."""


@dataclass(frozen=True)
class LabelSet:
    choices: tuple[str, ...]
    derived: bool  # True: from the corpus; False: annotation_policy.choices
    corpus_labels: tuple[str, ...]  # distinct labels of the corpus, ordered as `stable_order`

    @property
    def without_corpus_rows(self) -> tuple[str, ...]:
        """Configured choices no corpus row carries."""
        present = set(self.corpus_labels)
        return tuple(c for c in self.choices if c not in present)


def stable_order(labels: Iterable[str]) -> tuple[str, ...]:
    """Distinct labels, numerically when all are integers ('2' before '10'), else by text."""
    distinct = set(labels)
    if distinct and all(_is_int(x) for x in distinct):
        return tuple(sorted(distinct, key=lambda x: (int(x), x)))
    return tuple(sorted(distinct))


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def corpus_labels(corpus_path: str | Path) -> tuple[str, ...]:
    """Distinct non-null labels of a clean_corpus Parquet (`LABEL_COLUMNS` that exist), stable order."""
    names = set(pq.read_schema(corpus_path).names)
    columns = [c for c in LABEL_COLUMNS if c in names]
    if not columns:
        return ()
    table = pq.read_table(corpus_path, columns=columns)
    found: set[str] = set()
    for column in columns:
        found.update(str(x) for x in pc.unique(table.column(column).drop_null()).to_pylist())
    return stable_order(found)


def check_choices(choices: Sequence[str]) -> None:
    """Refuse an ill-formed label set (see the module docstring) with a LabelSetError."""
    problems: list[str] = []
    if len(choices) < 2:
        problems.append(f"{len(choices)} label(s) {list(choices)}: a classifier needs at least 2")
    if len(choices) > MAX_CHOICES:
        problems.append(
            f"{len(choices)} labels: at most {MAX_CHOICES} (Label Studio's one-key shortcuts); "
            "merge classes, or use a Taxonomy labelling config of your own"
        )
    for c in choices:
        if not c.strip():
            problems.append(f"label {c!r} is empty")
        elif c != c.strip():
            problems.append(f"label {c!r} has leading or trailing whitespace")
        elif any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in c):
            problems.append(f"label {c!r} holds a control or non-character code point")
        elif len(c) > MAX_LABEL_CHARS:
            problems.append(f"label {c[:40]!r}... is {len(c)} characters long (at most {MAX_LABEL_CHARS})")
    seen: dict[str, str] = {}
    for c in choices:
        key = c.casefold()
        if key in seen:
            same = "is listed twice" if seen[key] == c else f"differs from {seen[key]!r} only in letter case"
            problems.append(f"label {c!r} {same}")
        seen.setdefault(key, c)
    if problems:
        raise LabelSetError("ill-formed label set: " + "; ".join(problems))


def decide_label_set(configured: Sequence[str], corpus_path: str | Path) -> LabelSet:
    """The label set of the project for this corpus: `configured` if given (checked against the
    corpus), else derived from it. Raises LabelSetError before anything is created anywhere."""
    labels = corpus_labels(corpus_path)
    if configured:
        check_choices(configured)
        missing = [x for x in labels if x not in set(configured)]
        if missing:
            raise LabelSetError(
                f"annotation_policy.choices {list(configured)} do not cover the corpus's labels "
                f"{missing} (source_label/gold_label of {corpus_path}); annotators could not give them "
                "and fine-tuning could not score them: add them to choices, leave choices empty to "
                f"use the corpus's labels {list(labels)}, or map them in the source data"
            )
        return LabelSet(tuple(configured), False, labels)
    if len(labels) < 2:
        raise LabelSetError(
            f"cannot derive the label set from the corpus {corpus_path}: it has {len(labels)} distinct "
            f"label(s) {list(labels)} in source_label/gold_label, a classifier needs at least 2; set "
            "annotation_policy.choices, or give the source a label column (raw_corpus label_column)"
        )
    try:
        check_choices(labels)
    except LabelSetError as err:
        raise LabelSetError(
            f"the corpus's labels cannot be Label Studio choices ({err}); clean the label column of the "
            "source, or set annotation_policy.choices to a valid set that covers them"
        ) from err
    return LabelSet(labels, True, labels)
