"""The `demo` source: a deterministic, seeded generator of labelled product/restaurant reviews with the
dirt real corpora have. Vectorised (numpy picks, pyarrow string kernels): 1M rows take seconds.

Each review has 1-3 opinion sentences built from subject x copula x (negation) x adjective x tail,
whose polarity mostly follows the review's gold label (negation flips the adjective pool, so a
model must read "not terrible" as positive), plus optional filler and closing sentences.

Dirt (disjoint row fractions, see `DIRT`): exact duplicates, near duplicates (case, punctuation,
spacing), empty / whitespace-only / null texts, HTML remnants, mojibake (UTF-8 read as cp1252),
over-long spam; independently, label noise: `source_label` differs from `gold_label` on
`label_noise` of the rows.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.corpus import vocab
from assets.corpus.storage import RAW_SCHEMA

DIRT: dict[str, float] = {
    "exact_duplicate": 0.03,
    "near_duplicate": 0.03,
    "empty": 0.01,
    "whitespace": 0.01,
    "null": 0.005,
    "html": 0.04,
    "mojibake": 0.03,
    "overlong": 0.01,
}
WHITESPACE_ONLY = ("   ", "\t", " \n ", "\u00a0\u00a0", "\u200b")


def pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), n)]


def _sentence(rng: np.random.Generator, polarity: np.ndarray) -> pa.Array:
    """One opinion sentence per row; `polarity` 1 = positive, 0 = negative."""
    n = len(polarity)
    opener_idx = rng.integers(0, len(vocab.OPENERS), n)
    openers = np.asarray(vocab.OPENERS, dtype=object)[opener_idx]
    subj_idx = rng.integers(0, len(vocab.SUBJECTS), n)
    subjects = np.asarray(vocab.SUBJECTS, dtype=object)[subj_idx]
    capital = np.asarray([s[0].upper() + s[1:] for s in vocab.SUBJECTS], dtype=object)[subj_idx]
    subjects = np.where(openers == "", capital, subjects)
    negate = rng.random(n) < 0.2
    use_pos = (polarity == 1) != negate
    adjectives = np.where(use_pos, pick(rng, vocab.POSITIVE_ADJ, n), pick(rng, vocab.NEGATIVE_ADJ, n))
    negations = np.where(negate, pick(rng, vocab.NEGATIONS, n), "")
    parts = [
        openers,
        subjects,
        np.full(n, " ", dtype=object),
        pick(rng, vocab.COPULAS, n),
        np.full(n, " ", dtype=object),
        negations,
        pick(rng, vocab.INTENSIFIERS, n),
        adjectives,
        pick(rng, vocab.TAILS, n),
    ]
    return pc.binary_join_element_wise(*[pa.array(p, pa.string()) for p in parts], "")


def _clean_reviews(rng: np.random.Generator, gold: np.ndarray) -> pa.Array:
    n = len(gold)
    n_opinions = rng.integers(1, 4, n)
    sentences: list[pa.Array] = []
    filler_at = rng.integers(0, 3, n)
    has_filler = rng.random(n) < 0.3
    for slot in range(3):
        if slot > 0:
            fillers = pa.array(pick(rng, vocab.FILLERS, n), pa.string())
            sentences.append(pc.if_else(pa.array(has_filler & (filler_at == slot)), fillers, None))
        mixed = rng.random(n) < 0.1  # a mixed review: this sentence goes against the overall label
        polarity = np.where(mixed, 1 - gold, gold)
        sentence = _sentence(rng, polarity)
        sentences.append(pc.if_else(pa.array(n_opinions > slot), sentence, None))
    closers = np.where(gold == 1, pick(rng, vocab.POSITIVE_CLOSERS, n), pick(rng, vocab.NEGATIVE_CLOSERS, n))
    sentences.append(pc.if_else(pa.array(rng.random(n) < 0.5), pa.array(closers, pa.string()), None))
    return pc.binary_join_element_wise(*sentences, " ", null_handling="skip")


def word_alphabet(module: ModuleType) -> frozenset[str]:
    """Every character of the word lists of a vocabulary module (tuples, and dicts of tuples)."""
    lists: list[tuple[object, ...]] = []
    for value in vars(module).values():
        if isinstance(value, tuple):
            lists.append(value)
        elif isinstance(value, dict):
            lists.extend(v for v in value.values() if isinstance(v, tuple))
    return frozenset(ch for words in lists for w in words for ch in str(w))


def _mojibake(text: pa.Array, alphabet: frozenset[str]) -> pa.Array:
    """UTF-8 bytes read as cp1252 (latin-1 where cp1252 has no character): 'café' -> 'cafÃ©', for the
    non-ASCII characters of `alphabet` (those the generated text can hold)."""
    for ch in sorted(c for c in alphabet if ord(c) > 127):
        broken = "".join(
            bytes([b]).decode("cp1252", errors="ignore") or bytes([b]).decode("latin-1")
            for b in ch.encode("utf-8")
        )
        text = pc.replace_substring(text, ch, broken)
    return text


def _html(rng: np.random.Generator, text: pa.Array) -> pa.Array:
    wraps = rng.integers(0, len(vocab.HTML_WRAPS), len(text))
    out = pc.replace_substring(pc.replace_substring(text, "’", "&#39;"), ". ", ".<br/>&nbsp;")
    out = pc.replace_substring(out, " and ", " &amp; ")
    pre = pa.array([vocab.HTML_WRAPS[i][0] for i in range(len(vocab.HTML_WRAPS))])
    post = pa.array([vocab.HTML_WRAPS[i][1] for i in range(len(vocab.HTML_WRAPS))])
    return pc.binary_join_element_wise(pc.take(pre, wraps), out, pc.take(post, wraps), "")


def _near_duplicate(rng: np.random.Generator, text: pa.Array) -> pa.Array:
    variant = rng.integers(0, 4, len(text))
    upper = pc.utf8_upper(text)
    shout = pc.binary_join_element_wise(pc.utf8_rtrim(text, characters=".!"), "!!!", "")
    spaced = pc.replace_substring(text, " ", "  ")
    lower = pc.utf8_lower(text)
    out = pc.if_else(pa.array(variant == 0), upper, shout)
    out = pc.if_else(pa.array(variant == 2), spaced, out)
    return pc.if_else(pa.array(variant == 3), lower, out)


def generate_reviews(rows: int, seed: int = 42, *, label_noise: float = 0.05) -> pa.Table:
    """`rows` labelled reviews (RAW_SCHEMA), identical for identical (rows, seed, label_noise)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, rows)
    text, gold = add_dirt(rng, _clean_reviews(rng, gold), gold, word_alphabet(vocab))
    noisy = np.where(rng.random(rows) < label_noise, 1 - gold, gold)
    return labelled_table(f"demo{seed}-", text, vocab.LABELS, gold, noisy)


def add_dirt(
    rng: np.random.Generator, text: pa.Array, gold: np.ndarray, alphabet: frozenset[str]
) -> tuple[pa.Array, np.ndarray]:
    """`text` with the `DIRT` fractions of rows made dirty, and `gold` updated where a duplicate copied
    another row (text and label). `alphabet`: the characters the text can hold (for mojibake)."""
    rows = len(gold)
    gold = gold.copy()
    kinds = list(DIRT)
    probs = [*DIRT.values(), 1.0 - sum(DIRT.values())]
    kind = rng.choice(len(probs), size=rows, p=probs)

    def rows_of(name: str) -> np.ndarray:
        return np.flatnonzero(kind == kinds.index(name))

    # duplicates copy both text and gold label of another row
    for name in ("exact_duplicate", "near_duplicate"):
        idx = rows_of(name)
        src = rng.integers(0, rows, len(idx))
        gold[idx] = gold[src]
        copied = pc.take(text, pa.array(src))
        if name == "near_duplicate":
            copied = _near_duplicate(rng, copied)
        text = _scatter(text, idx, copied)
    for name, make in (
        ("html", lambda t: _html(rng, t)),
        ("mojibake", lambda t: _mojibake(t, alphabet)),
        ("overlong", lambda t: pc.binary_repeat(pc.binary_join_element_wise(t, " ", ""), 40)),
    ):
        idx = rows_of(name)
        text = _scatter(text, idx, make(pc.take(text, pa.array(idx))))
    ws = rows_of("whitespace")
    text = _scatter(text, ws, pa.array(pick(rng, WHITESPACE_ONLY, len(ws)), pa.string()))
    text = _scatter(text, rows_of("empty"), pa.array([""] * len(rows_of("empty")), pa.string()))
    text = _scatter(text, rows_of("null"), pa.nulls(len(rows_of("null")), pa.string()))
    return text, gold


def labelled_table(
    id_prefix: str, text: pa.Array, labels: tuple[str, ...], gold: np.ndarray, source: np.ndarray
) -> pa.Table:
    """RAW_SCHEMA rows: ids '<id_prefix><0-based row, 8 digits>', `gold`/`source` as indices of `labels`."""
    names = np.asarray(labels, dtype=object)
    ids = pc.utf8_lpad(pc.cast(pa.array(np.arange(len(gold))), pa.string()), width=8, padding="0")
    row_id = pc.binary_join_element_wise(id_prefix, ids, "")
    return pa.table(
        [row_id, text, pa.array(names[source], pa.string()), pa.array(names[gold], pa.string())],
        schema=RAW_SCHEMA,
    )


def _scatter(base: pa.Array, idx: np.ndarray, values: pa.Array) -> pa.Array:
    """`base` with positions `idx` (sorted) replaced by `values`."""
    if len(idx) == 0:
        return base
    mask = np.zeros(len(base), dtype=bool)
    mask[idx] = True
    return pc.replace_with_mask(base, pa.array(mask), values.cast(pa.string()))
