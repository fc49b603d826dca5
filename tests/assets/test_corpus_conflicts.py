"""Label conflicts: a generated corpus with planted near-duplicate groups whose labels disagree gives
exactly those groups (kept row split 'conflict', every row listed in the conflicts artifact), and
none of their rows is trained or evaluated on unless annotated."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.corpus.clean import CHECKS, CleanCorpusConfig, clean_corpus
from assets.corpus.cleaner import CleaningRules, clean_table
from assets.corpus.cleaning import clean_text
from assets.corpus.conflicts import (
    CONFLICT_RULE,
    CONFLICTS_SCHEMA,
    conflicts_path,
    find_conflicts,
)
from assets.corpus.raw import RawCorpusConfig, raw_corpus
from pipelines.resources import FootprintHomeResource
from training.data import eval_row_ids, eval_set, labelled_set, pretrain_texts
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

LABELS = ("positive", "negative", "neutral")
EVAL_FRACTION = 0.5


def _variants(base: str, n: int, rng: random.Random) -> list[str]:
    """n texts the normaliser folds into `base`'s key (case, punctuation, spacing), `base` first."""
    folds = [
        str.upper,
        lambda t: t + "!!!",
        lambda t: t.replace(" ", "   "),
        lambda t: "  " + t.title() + ".\t",
        lambda t: t.replace(" ", ", ", 1),
        lambda t: f"“{t}” …",
    ]
    return [base, *(fold(base) for fold in rng.sample(folds, n - 1))]


@dataclass
class Planted:
    table: pa.Table  # RAW_SCHEMA
    conflicts: dict[str, list[str]]  # kept row_id -> every row_id of the group, in row order
    texts: dict[str, str]  # raw text by row_id
    labels: dict[str, str | None]


def _planted_corpus(seed: int) -> Planted:
    """Unique sentences, some repeated as variants: groups with disagreeing labels (conflicts, one of
    them exact duplicates), groups that agree (one label, or one label and nulls), all shuffled."""
    rng = random.Random(seed)
    rows: list[tuple[int, str, str | None]] = []  # (group or -1, text, label)
    base = iter(f"the order number {i} arrived {rng.choice(['late', 'early'])} today" for i in range(10**6))
    conflict_groups = 12
    for g in range(conflict_groups):
        texts = _variants(next(base), rng.randint(2, 4), rng)
        labels: list[str | None] = [LABELS[0], LABELS[1], *rng.choices([*LABELS, None], k=len(texts) - 2)]
        rng.shuffle(labels)
        rows += [(g, t, lab) for t, lab in zip(texts, labels, strict=True)]
    same = next(base)
    rows += [(conflict_groups, same, "neutral"), (conflict_groups, same, "positive")]  # exact duplicates
    for _ in range(8):  # agreeing groups: no conflict
        texts = _variants(next(base), 3, rng)
        label = rng.choice(LABELS)
        rows += [(-1, t, lab) for t, lab in zip(texts, [label, None, label], strict=True)]
    rows += [(-1, next(base), rng.choice([*LABELS, None])) for _ in range(150)]
    rng.shuffle(rows)
    ids = [f"r{i:05d}" for i in range(len(rows))]
    conflicts: dict[str, list[str]] = {}
    by_group: dict[int, list[str]] = {}
    for row_id, (group, _, _) in zip(ids, rows, strict=True):
        if group >= 0:
            by_group.setdefault(group, []).append(row_id)
    for members in by_group.values():
        conflicts[members[0]] = members
    labels_col = [r[2] for r in rows]
    table = pa.table(
        {"row_id": ids, "text": [r[1] for r in rows], "source_label": labels_col, "gold_label": labels_col}
    )
    return Planted(
        table,
        conflicts,
        dict(zip(ids, (r[1] for r in rows), strict=True)),
        dict(zip(ids, labels_col, strict=True)),
    )


def _would_be_eval(row_id: str) -> bool:
    return int(hashlib.md5(row_id.encode()).hexdigest()[:8], 16) / 2**32 < EVAL_FRACTION


def test_planted_conflicts_are_reported_exactly_and_kept_out_of_train_and_eval(tmp_path: Path) -> None:
    planted = _planted_corpus(seed=5)
    assert any(_would_be_eval(kept) for kept in planted.conflicts)  # the eval split is exercised too
    rules = CleaningRules(eval_fraction=EVAL_FRACTION, batch_rows=37)  # groups span batches
    out, report = clean_table(planted.table, rules, tmp_path)

    all_conflicting = {r for members in planted.conflicts.values() for r in members}
    assert report.label_conflict_groups == len(planted.conflicts) == 13
    assert report.label_conflict_rows == len(all_conflicting)
    split = dict(zip(out.column("row_id").to_pylist(), out.column("split").to_pylist(), strict=True))
    assert {r for r, s in split.items() if s == "conflict"} == set(planted.conflicts)
    assert not all_conflicting & {r for r, s in split.items() if s in ("train", "eval")}
    assert report.rows_train == sum(s == "train" for s in split.values())
    assert report.rows_eval == sum(s == "eval" for s in split.values())

    listed = pq.read_table(conflicts_path(tmp_path / "clean.parquet"))
    assert listed.schema.remove_metadata().equals(CONFLICTS_SCHEMA)
    expected_pairs = [
        (kept, r) for kept in sorted(planted.conflicts, key=_position) for r in planted.conflicts[kept]
    ]
    got_pairs = list(
        zip(listed.column("group_row_id").to_pylist(), listed.column("row_id").to_pylist(), strict=True)
    )
    assert got_pairs == expected_pairs
    row_ids = listed.column("row_id").to_pylist()
    cleaned, _ = clean_text(pa.array([planted.texts[r] for r in row_ids]))
    assert listed.column("text").to_pylist() == cleaned.to_pylist()
    assert listed.column("source_label").to_pylist() == [planted.labels[r] for r in row_ids]


def _position(row_id: str) -> int:
    return int(row_id[1:])


def test_training_data_leaves_conflicts_out_unless_annotated(tmp_path: Path) -> None:
    planted = _planted_corpus(seed=11)
    out, _ = clean_table(planted.table, CleaningRules(eval_fraction=EVAL_FRACTION), tmp_path)
    corpus = str(tmp_path / "clean.parquet")
    text_of = dict(zip(out.column("row_id").to_pylist(), out.column("text").to_pylist(), strict=True))
    conflict_texts = {text_of[r] for r in planted.conflicts}

    assert not conflict_texts & set(pretrain_texts(corpus))
    assert not conflict_texts & set(eval_set(corpus, LABELS).texts)
    assert not set(planted.conflicts) & eval_row_ids(corpus)

    # an annotation of a conflict row (adjudicated) is a training label like any other
    adjudicated = next(iter(planted.conflicts))
    others = [
        r for r, s in zip(out["row_id"].to_pylist(), out["split"].to_pylist(), strict=True) if s == "train"
    ]
    annotated = [adjudicated, *others[:30]]
    annotations = tmp_path / "annotations.parquet"
    pq.write_table(
        pa.table(
            {
                "row_id": annotated,
                "text": [text_of[r] for r in annotated],
                "label": [LABELS[i % 2] for i in range(len(annotated))],
            }
        ),
        annotations,
    )
    train = labelled_set(str(annotations), LABELS, min_labelled=10, exclude_row_ids=eval_row_ids(corpus))
    assert text_of[adjudicated] in train.texts and len(train.texts) == len(annotated)


def test_exact_duplicates_only_when_normalised_dedup_is_off(tmp_path: Path) -> None:
    table = pa.table(
        {
            "row_id": ["a", "b", "c", "d", "e"],
            "text": ["Great phone!", "great phone", "Good cable", "Good cable", "Good cable"],
            "source_label": ["positive", "negative", "positive", None, "negative"],
            "gold_label": [None] * 5,
        }
    )
    out, report = clean_table(table, CleaningRules(eval_fraction=0.0, dedupe_normalised=False), tmp_path)
    assert dict(zip(out["row_id"].to_pylist(), out["split"].to_pylist(), strict=True)) == {
        "a": "train",
        "b": "train",
        "c": "conflict",
    }
    listed = pq.read_table(conflicts_path(tmp_path / "clean.parquet"))
    assert listed.column("row_id").to_pylist() == ["c", "d", "e"]
    assert (report.label_conflict_groups, report.label_conflict_rows) == (1, 3)


def test_no_conflict_writes_an_empty_artifact(tmp_path: Path) -> None:
    table = pa.table(
        {
            "row_id": ["a", "b", "c"],
            "text": ["Great phone!", "great phone", "Other words"],
            "source_label": ["positive", "positive", "negative"],
            "gold_label": [None] * 3,
        }
    )
    out, report = clean_table(table, CleaningRules(eval_fraction=0.0), tmp_path)
    assert set(out["split"].to_pylist()) == {"train"} and report.label_conflict_groups == 0
    assert pq.read_table(conflicts_path(tmp_path / "clean.parquet")).num_rows == 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b", "c", None])), max_size=40))
def test_find_conflicts_matches_a_plain_walk(rows: list[tuple[int, str | None]]) -> None:
    hashes = np.array([g * 7919 + 13 for g, _ in rows], dtype=np.uint64)
    labels = [lab for _, lab in rows]
    half = len(labels) // 2  # two chunks: labels are read chunk by chunk
    found = find_conflicts(hashes, pa.chunked_array([labels[:half], labels[half:]], pa.string()))
    first: dict[int, int] = {}
    labels: dict[int, set[str]] = {}
    for i, (g, lab) in enumerate(rows):
        first.setdefault(g, i)
        if lab is not None:
            labels.setdefault(g, set()).add(lab)
    conflicting = [g for g in first if len(labels.get(g, ())) > 1]
    expected = sorted(((first[g], i) for i, (g, _) in enumerate(rows) if g in conflicting))
    assert list(zip(found.group_of.tolist(), found.rows.tolist(), strict=True)) == expected
    assert np.flatnonzero(found.kept).tolist() == sorted(first[g] for g in conflicting)
    assert found.groups == len(conflicting)


def _query(home: FootprintHome, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    sync(home)
    con = connect(home, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_clean_corpus_asset_reports_conflicts(home: FootprintHome, tmp_path: Path) -> None:
    planted = _planted_corpus(seed=3)
    src = tmp_path / "reviews.parquet"
    pq.write_table(planted.table.select(["text", "source_label"]).rename_columns(["text", "label"]), src)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [raw_corpus, clean_corpus, *CHECKS],
        resources={"footprint": FootprintHomeResource(root=str(home.root))},
        run_config=dg.RunConfig(
            ops={"raw_corpus": RawCorpusConfig(source=f"file:{src}"), "clean_corpus": CleanCorpusConfig()}
        ),
        instance=instance,
    )
    assert result.success
    clean = result.output_for_node("clean_corpus")
    side = Path(clean.extra["conflicts_path"])
    assert side == conflicts_path(Path(clean.path)) and side.parent == Path(clean.path).parent
    groups = len(planted.conflicts)
    rows = sum(len(m) for m in planted.conflicts.values())
    assert clean.extra["label_conflicts"] == groups
    assert pq.read_table(side).num_rows == rows
    assert clean.extra["rows_train"] + clean.extra["rows_eval"] + groups == clean.rows

    meta = result.asset_materializations_for_node("clean_corpus")[0].metadata
    assert meta["label_conflict_groups"].value == groups and meta["label_conflict_rows"].value == rows
    assert meta["label_conflict_rule"].value == CONFLICT_RULE
    assert meta["conflicts_path"].value == str(side)
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"{groups} label conflict group(s) holding {rows} row(s)" in m for m in messages)
    schema_check = [c for c in result.get_asset_check_evaluations() if c.check_name == "clean_corpus_schema"]
    assert schema_check and schema_check[0].passed
    held = _query(
        home,
        "SELECT bytes_held FROM storage WHERE materialization_id = ? AND location = ?",
        [clean.materialization_id, str(side)],
    )
    assert held == [(side.stat().st_size,)]
