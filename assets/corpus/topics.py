"""The `demo-topics[:<k>]` source: a deterministic, seeded generator of short news items in k topic
classes (2 to 6: world, sports, business, science, health, culture; the first k), with the same dirt
as the `demo` reviews (`assets.corpus.generator.add_dirt`) and label noise that moves a source label
to another class.

An item has 1-3 sentences "(opener) actor action object (place)(tail)" plus an optional filler and
an optional closing line. Each word slot comes from the item's topic list with probability
`TOPIC_WORD_P`, else from lists every topic shares; a sentence is about another topic with
probability `OFF_TOPIC_P` (a business story quoting a minister); a few words belong to two topics.
So the topic is learnable from the words, but no single word gives it away.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.corpus import topic_vocab as tv
from assets.corpus.generator import add_dirt, labelled_table, pick, word_alphabet

MIN_CLASSES = 2
MAX_CLASSES = len(tv.TOPICS)
DEFAULT_CLASSES = 4
TOPIC_WORD_P = 0.6  # a slot draws from the topic's own list, else from the shared one
OFF_TOPIC_P = 0.15  # a sentence about another topic than the item's


def topic_labels(classes: int) -> tuple[str, ...]:
    """The labels of a `classes`-topic corpus (the first `classes` of `TOPICS`)."""
    if not MIN_CLASSES <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be between {MIN_CLASSES} and {MAX_CLASSES}, got {classes}")
    return tv.TOPICS[:classes]


def _slot(
    rng: np.random.Generator,
    own: dict[str, tuple[str, ...]],
    shared: tuple[str, ...],
    labels: tuple[str, ...],
    topic: np.ndarray,
) -> np.ndarray:
    """One word per row: from its topic's list (probability TOPIC_WORD_P) or from the shared list."""
    n = len(topic)
    per_topic = np.stack([pick(rng, own[label], n) for label in labels])
    specific = per_topic[topic, np.arange(n)]
    return np.where(rng.random(n) < TOPIC_WORD_P, specific, pick(rng, shared, n))


def _capitalised(values: np.ndarray) -> np.ndarray:
    return np.asarray([v[:1].upper() + v[1:] for v in values], dtype=object)


def _sentence(rng: np.random.Generator, labels: tuple[str, ...], topic: np.ndarray) -> pa.Array:
    n = len(topic)
    openers = pick(rng, tv.OPENERS, n)
    actors = _slot(rng, tv.ACTORS, tv.SHARED_ACTORS, labels, topic)
    actors = np.where(openers == "", _capitalised(actors), actors)
    places = np.where(rng.random(n) < 0.4, pick(rng, tv.PLACES, n), "")
    parts = [
        openers,
        actors,
        np.full(n, " ", dtype=object),
        _slot(rng, tv.ACTIONS, tv.SHARED_ACTIONS, labels, topic),
        np.full(n, " ", dtype=object),
        _slot(rng, tv.OBJECTS, tv.SHARED_OBJECTS, labels, topic),
        np.where(places == "", "", " "),
        places,
        pick(rng, tv.TAILS, n),
    ]
    return pc.binary_join_element_wise(*[pa.array(p, pa.string()) for p in parts], "")


def _clean_items(rng: np.random.Generator, labels: tuple[str, ...], gold: np.ndarray) -> pa.Array:
    n, k = len(gold), len(labels)
    n_sentences = rng.integers(1, 4, n)
    has_filler = rng.random(n) < 0.3
    filler_at = rng.integers(0, 3, n)
    sentences: list[pa.Array] = []
    for slot in range(3):
        if slot > 0:
            fillers = pa.array(pick(rng, tv.FILLERS, n), pa.string())
            sentences.append(pc.if_else(pa.array(has_filler & (filler_at == slot)), fillers, None))
        off_topic = rng.random(n) < OFF_TOPIC_P
        topic = np.where(off_topic, (gold + rng.integers(1, k, n)) % k, gold)
        sentences.append(pc.if_else(pa.array(n_sentences > slot), _sentence(rng, labels, topic), None))
    per_topic = np.stack([pick(rng, tv.CLOSERS[label], n) for label in labels])
    closers = pa.array(per_topic[gold, np.arange(n)], pa.string())
    sentences.append(pc.if_else(pa.array(rng.random(n) < 0.4), closers, None))
    return pc.binary_join_element_wise(*sentences, " ", null_handling="skip")


def generate_topics(
    rows: int, seed: int = 42, *, classes: int = DEFAULT_CLASSES, label_noise: float = 0.05
) -> pa.Table:
    """`rows` labelled news items in `classes` topics (RAW_SCHEMA), about equally many per class;
    identical for identical arguments. Row ids 'topics<classes>-<seed>-<row, 8 digits>'."""
    labels = topic_labels(classes)
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be within [0, 1], got {label_noise}")
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, classes, rows)
    text, gold = add_dirt(rng, _clean_items(rng, labels, gold), gold, word_alphabet(tv))
    moved = (gold + rng.integers(1, classes, rows)) % classes  # always another class
    source = np.where(rng.random(rows) < label_noise, moved, gold)
    return labelled_table(f"topics{classes}-{seed}-", text, labels, gold, source)
