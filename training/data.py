"""Reading the upstream Parquet artifacts and checking them before any compute.

Pretraining uses the `train` split of `clean_corpus` only: the `eval` rows are the held-out set the
fine-tuned classifier is scored on, so the encoder never sees them, not even unlabelled. Rows with
split `conflict` (duplicates whose source labels disagree, `assets.corpus.conflicts`) are neither
pretrained on nor scored against; an annotation of one (adjudication) is a training label like any
other: `labelled_set` leaves out eval rows only.

The classes (`choices`) are the label set `label_tasks` created, as the annotations handle carries it
(`extra["choices"]`); every annotation label and every eval gold label must be one of them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from training.config import RunSpec, TrainingConfigError, check_classes
from warehouse.artifacts import ArtifactHandle

LABEL_SET_FIX = (
    "the classes are the label set label_tasks created (annotation_policy.choices): make it name every "
    "class of the data, then re-materialize label_tasks and annotations"
)


@dataclass(frozen=True)
class LabelledSet:
    texts: list[str]
    labels: list[int]  # index into choices
    choices: tuple[str, ...]  # the classes (label_tasks' label set)
    dropped_eval_overlap: int = 0  # annotated rows that are in the eval split (left out: no leakage)

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {c: counts.get(i, 0) for i, c in enumerate(self.choices)}


def _read(path: str, columns: list[str], what: str) -> dict[str, list[object]]:
    p = Path(path)
    if not p.is_file():
        raise TrainingConfigError(f"{what} Parquet not found at {p}; materialize the upstream asset first")
    schema = pq.read_schema(p)
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise TrainingConfigError(f"{what} at {p} lacks column(s) {missing}; it has {schema.names}")
    return pq.read_table(p, columns=columns).to_pydict()


def pretrain_texts(corpus_path: str) -> list[str]:
    """Non-empty `text` of the `train` split."""
    cols = _read(corpus_path, ["text", "split"], "clean_corpus")
    texts = [str(t) for t, s in zip(cols["text"], cols["split"], strict=True) if s == "train" and t]
    if not texts:
        raise TrainingConfigError(f"clean_corpus at {corpus_path} has no non-empty rows with split='train'")
    return texts


def eval_set(corpus_path: str, choices: tuple[str, ...]) -> LabelledSet:
    """Held-out rows (split == 'eval') with their `gold_label`; rows without a gold label are skipped."""
    cols = _read(corpus_path, ["text", "split", "gold_label"], "clean_corpus")
    texts: list[str] = []
    labels: list[int] = []
    unknown: set[str] = set()
    for text, split, gold in zip(cols["text"], cols["split"], cols["gold_label"], strict=True):
        if split != "eval" or gold is None or not text:
            continue
        if gold not in choices:
            unknown.add(str(gold))
            continue
        texts.append(str(text))
        labels.append(choices.index(str(gold)))
    if unknown:
        raise TrainingConfigError(
            f"eval gold labels {sorted(unknown)} of clean_corpus are not in label_tasks' label set "
            f"{list(choices)}; {LABEL_SET_FIX}"
        )
    if not texts:
        raise TrainingConfigError(
            f"clean_corpus at {corpus_path} has no rows with split='eval' and a gold_label to evaluate on"
        )
    return LabelledSet(texts, labels, choices)


def eval_row_ids(corpus_path: str) -> set[object]:
    cols = _read(corpus_path, ["row_id", "split"], "clean_corpus")
    return {r for r, s in zip(cols["row_id"], cols["split"], strict=True) if s == "eval"}


def labelled_set(
    annotations_path: str, choices: tuple[str, ...], *, min_labelled: int, exclude_row_ids: set[object]
) -> LabelledSet:
    """Annotated rows, checked: labels all in `choices`, at least two classes, at least `min_labelled`."""
    cols = _read(annotations_path, ["row_id", "text", "label"], "annotations")
    texts: list[str] = []
    labels: list[int] = []
    unknown: Counter[str] = Counter()
    dropped = 0
    for row_id, text, label in zip(cols["row_id"], cols["text"], cols["label"], strict=True):
        if label is None or not text:
            continue
        if row_id in exclude_row_ids:
            dropped += 1
            continue
        if label not in choices:
            unknown[str(label)] += 1
            continue
        texts.append(str(text))
        labels.append(choices.index(str(label)))
    if unknown:
        raise TrainingConfigError(
            f"annotation labels {dict(unknown)} are not in label_tasks' label set {list(choices)}; "
            f"{LABEL_SET_FIX}"
        )
    if len(texts) < min_labelled:
        raise TrainingConfigError(
            f"only {len(texts)} labelled examples (need >= {min_labelled}; {dropped} more were in the eval "
            "split and left out); annotate more or lower min_labelled"
        )
    present = sorted({choices[i] for i in labels})
    if len(present) < 2:
        raise TrainingConfigError(
            f"all {len(texts)} labelled examples are of one class {present}; a classifier needs at least two"
        )
    return LabelledSet(texts, labels, choices, dropped)


def check_checkpoint(path: str, seq_len: int) -> None:
    """The upstream checkpoint exists and can take `seq_len` tokens."""
    config = Path(path) / "config.json"
    if not config.is_file():
        raise TrainingConfigError(
            f"upstream checkpoint {path} is missing (no config.json there); re-materialize pretrained_model"
        )
    max_pos = int(json.loads(config.read_text()).get("max_position_embeddings", seq_len))
    if seq_len > max_pos:
        raise TrainingConfigError(
            f"seq_len={seq_len} exceeds the checkpoint's max_position_embeddings={max_pos}; lower seq_len"
        )


def finetune_inputs(spec: RunSpec) -> tuple[LabelledSet, LabelledSet]:
    """Training and eval sets, checked (the asset calls this before launching any compute)."""
    check_classes(spec.choices)
    check_checkpoint(spec.init_checkpoint, spec.seq_len)
    choices = tuple(spec.choices)
    train_set = labelled_set(
        spec.annotations_path,
        choices,
        min_labelled=spec.min_labelled,
        exclude_row_ids=eval_row_ids(spec.corpus_path),
    )
    return train_set, eval_set(spec.corpus_path, choices)


def annotation_classes(annotations: ArtifactHandle) -> tuple[str, ...]:
    """The classes of a fine-tuning run: the label set label_tasks created, as the annotations handle
    carries it (`extra["choices"]`); never a second setting."""
    choices = annotations.extra.get("choices")
    if not isinstance(choices, list | tuple) or not choices:
        raise TrainingConfigError(
            f"the annotations handle (materialization {annotations.materialization_id}) carries no label "
            "set (extra['choices']); re-materialize label_tasks and annotations"
        )
    classes = tuple(str(c) for c in choices)
    check_classes(classes)
    return classes
