"""Column checks at ingestion (assets.corpus.validation), alone and through every file format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.corpus.errors import CorpusError
from assets.corpus.sources import load_file
from assets.corpus.validation import ColumnLimits, column_problems, profile_columns, validate_columns


def _check(text: list[Any], label: list[Any] | None, **limits: Any) -> list[str]:
    profile = profile_columns(
        pa.array(text, pa.string()), None if label is None else pa.array(label, pa.string())
    )
    return column_problems(profile, ColumnLimits(**limits), text_column="t", label_column="l")


def test_profile_counts_by_hand() -> None:
    p = profile_columns(
        pa.array(["good text", " 12 ", None, "  ", "-3.5e2", "1,234.5", "12%", "3 dogs", ".5"]),
        pa.array(["a", "b", None, "a", "c", "c", "c", "c", "c"]),
    )
    # numbers: ' 12 ', '-3.5e2', '1,234.5', '12%', '.5' (not '3 dogs'); blank: None, '  '
    assert (p.rows, p.blank_texts, p.numeric_texts, p.distinct_labels) == (9, 2, 5, 3)
    assert p.numeric_example == " 12 "
    assert profile_columns(pa.array(["x"]), None).distinct_labels is None


def test_good_columns_pass() -> None:
    assert _check(["a review", "another one", "7"], ["pos", "neg", "pos"]) == []


def test_numeric_text_refused_above_share() -> None:
    [problem] = _check(["1", "2", "3", "a text"], ["a", "b", "a", "b"])
    assert "text column 't' holds numbers, not texts: 3 of 4 non-blank values" in problem
    assert "e.g. '1'" in problem and "swapped?" in problem
    assert _check(["1", "2", "3", "a text"], ["a"] * 4, max_numeric_text_share=0.75) == []
    # exactly at the share: accepted (refused only above it)
    assert _check(["1", "a text"], ["a", "b"]) == []


def test_empty_text_column_refused() -> None:
    [problem] = _check([None, " ", "\t"], ["a", "b", "c"])
    assert "text column 't' is empty: all 3 rows are null or blank" in problem


def test_too_many_labels_refused_with_stated_limit() -> None:
    rows = 600
    texts = [f"text number {i}" for i in range(rows)]
    labels = [f"label {i % 61}" for i in range(rows)]  # 61 > max(50, 60)
    [problem] = _check(texts, labels)
    assert "label column 'l' has 61 distinct values in 600 rows" in problem
    assert "= 60)" in problem and "labels look like texts" in problem and "swapped?" in problem
    assert _check(texts, [f"label {i % 60}" for i in range(rows)]) == []  # at the limit: accepted
    assert _check(texts, labels, max_labels=61) == []
    # few rows: the floor max_labels=50 applies (10 % of 100 rows is 10)
    assert _check(texts[:100], [f"l{i % 50}" for i in range(100)]) == []
    assert "has 51 distinct values in 100 rows" in _check(texts[:100], [f"l{i % 51}" for i in range(100)])[0]


def test_every_problem_in_one_error() -> None:
    texts = pa.array(["1", "0"] * 30)
    labels = pa.array([f"a whole sentence {i}" for i in range(60)])
    with pytest.raises(CorpusError) as info:
        validate_columns(texts, labels, ColumnLimits(), source="s.tsv", text_column="t", label_column="l")
    msg = str(info.value)
    assert msg.startswith("source s.tsv: ")
    assert "text column 't' holds numbers" in msg and "label column 'l' has 60 distinct values" in msg


def test_limits_are_checked() -> None:
    with pytest.raises(CorpusError, match="max_label_share must be within"):
        ColumnLimits(max_label_share=1.5)
    with pytest.raises(CorpusError, match="max_labels must be >= 1"):
        ColumnLimits(max_labels=0)


def _write_all_formats(tmp: Path, rows: list[tuple[str, str]], header: tuple[str, str]) -> list[Path]:
    """The same two columns as Parquet, CSV, TSV and JSON Lines."""
    a, b = header
    pq.write_table(pa.table({a: [r[0] for r in rows], b: [r[1] for r in rows]}), tmp / "x.parquet")
    esc = [(x.replace('"', '""'), y) for x, y in rows]
    (tmp / "x.csv").write_text(f"{a},{b}\n" + "".join(f'"{x}","{y}"\n' for x, y in esc))
    (tmp / "x.tsv").write_text(f"{a}\t{b}\n" + "".join(f'"{x}"\t"{y}"\n' for x, y in esc))
    (tmp / "x.jsonl").write_text("".join(json.dumps({a: x, b: y}) + "\n" for x, y in rows))
    return [tmp / f"x.{ext}" for ext in ("parquet", "csv", "tsv", "jsonl")]


def _load(path: Path, **kw: Any) -> pa.Table:
    opts: dict[str, Any] = {"has_header": True, "file_format": "", "limit_rows": 0}
    return load_file(str(path), **{**opts, **kw}).table


def test_swapped_columns_refused_in_every_format(tmp_path: Path) -> None:
    rows = [(f"review {i} says something", str(i % 2)) for i in range(200)]
    for path in _write_all_formats(tmp_path, rows, ("sentence", "label")):
        assert _load(path, text_column="sentence", label_column="label").num_rows == 200
        with pytest.raises(CorpusError) as info:
            _load(path, text_column="label", label_column="sentence")
        msg = str(info.value)
        assert path.name in msg, msg
        assert "text column 'label' holds numbers, not texts: 200 of 200" in msg, msg
        assert "label column 'sentence' has 200 distinct values in 200 rows" in msg, msg


def test_empty_text_column_refused_in_every_format(tmp_path: Path) -> None:
    rows = [("  ", "pos"), ("", "neg")] * 3
    for path in _write_all_formats(tmp_path, rows, ("text", "label")):
        with pytest.raises(CorpusError, match="text column 'text' is empty: all 6 rows are null or blank"):
            _load(path, text_column="text", label_column="label")


def test_numeric_typed_text_column_says_what_to_do(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": [1, 2], "label": ["a b", "c d"]}), tmp_path / "ints.parquet")
    with pytest.raises(CorpusError, match="expected string texts; set text_column") as info:
        _load(tmp_path / "ints.parquet", text_column="text", label_column="label")
    assert "swapped?" in str(info.value)


def test_hub_source_is_validated_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local dataset directory through `load_hub` (datasets.load_dataset, offline: no hub involved):
    swapped or mistaken columns are refused like a file's."""
    import datasets

    from assets.corpus.hub import load_hub
    from assets.corpus.sources import SourceSpec

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    ds = datasets.Dataset.from_dict(
        {"text": [f"review {i} of a film" for i in range(120)], "label": [i % 2 for i in range(120)]},
        features=features,
    )
    (tmp_path / "local").mkdir()
    ds.to_parquet(str(tmp_path / "local" / "train.parquet"))
    spec = SourceSpec("hub", str(tmp_path / "local"), "train")
    kw: dict[str, Any] = {"cache_dir": tmp_path / "hf", "limit_rows": 0}
    ok = load_hub(spec, text_column="text", label_column="label", **kw)
    assert ok.table.num_rows == 120
    # swapped: the class ids are ints, refused by type, with the swap named
    with pytest.raises(CorpusError, match="column 'label': has type int64, expected string texts") as info:
        load_hub(spec, text_column="label", label_column="text", **kw)
    assert f"hub:{tmp_path / 'local'}:train" in str(info.value) and "swapped?" in str(info.value)
    # a label column of texts: refused by the shared validation
    with pytest.raises(CorpusError, match="label column 'text' has 120 distinct values in 120 rows"):
        load_hub(spec, text_column="text", label_column="text", **kw)
