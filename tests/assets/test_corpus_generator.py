"""The demo generator: deterministic for a seed, labelled, and dirty in every documented way."""

from __future__ import annotations

import pyarrow.compute as pc

from assets.corpus.generator import generate_reviews
from assets.corpus.storage import RAW_SCHEMA


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = generate_reviews(500, 7), generate_reviews(500, 7), generate_reviews(500, 8)
    assert a.equals(b)
    assert not a.column("text").equals(c.column("text"))
    assert a.schema.equals(RAW_SCHEMA)


def test_rows_ids_and_labels() -> None:
    t = generate_reviews(3000, 1)
    assert t.num_rows == 3000
    assert pc.count_distinct(t.column("row_id")).as_py() == 3000
    assert t.column("row_id")[5].as_py() == "demo1-00000005"
    assert set(t.column("gold_label").to_pylist()) == {"positive", "negative"}
    flipped = pc.sum(pc.not_equal(t.column("gold_label"), t.column("source_label"))).as_py()
    assert 0.02 * 3000 < flipped < 0.09 * 3000  # ~5% label noise


def test_dirt_is_present() -> None:
    t = generate_reviews(5000, 3)
    texts = t.column("text").to_pylist()
    non_null = [x for x in texts if x is not None]
    assert None in texts
    assert "" in texts
    assert any((x and not x.strip()) or x in ("\u200b", "\u00a0\u00a0") for x in non_null)
    assert any("<br/>" in x or "<p>" in x for x in non_null)
    assert any("Ã" in x or "â€" in x for x in non_null)  # mojibake
    assert any(len(x) > 2000 for x in non_null)
    assert len(non_null) - len(set(non_null)) > 50  # exact duplicates (and repeated empties)
    assert any(x.isupper() and len(x) > 20 for x in non_null)  # shouted near duplicates


def test_negation_present_and_vocabulary_rich() -> None:
    words = " ".join(x or "" for x in generate_reviews(2000, 5).column("text").to_pylist()).lower().split()
    assert {"not", "never"} <= set(words)
    assert len(set(words)) > 300
