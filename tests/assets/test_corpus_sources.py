"""file: and hub: sources, including every bad input (errors name file, column and problem)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.corpus.errors import CorpusError
from assets.corpus.hub import load_hub
from assets.corpus.sources import first_invalid_utf8, load_file, parse_source


def _load(path: Path, **kw: object) -> pa.Table:
    opts: dict = {
        "text_column": "text",
        "label_column": "label",
        "has_header": True,
        "file_format": "",
        "limit_rows": 0,
    }
    opts.update(kw)
    return load_file(str(path), **opts).table


def test_parse_source() -> None:
    assert parse_source("demo").kind == "demo"
    hub = parse_source("hub:stanfordnlp/imdb:test")
    assert (hub.kind, hub.name, hub.split, hub.id_prefix) == (
        "hub",
        "stanfordnlp/imdb",
        "test",
        "hub-stanfordnlp_imdb_test",
    )
    assert parse_source("hub:imdb").split == "train"
    assert parse_source("file:/data/my reviews.csv").id_prefix == "file-my_reviews"
    with pytest.raises(CorpusError, match="unknown source"):
        parse_source("s3://bucket/x")


def test_parse_demo_topics() -> None:
    assert (parse_source("demo-topics").kind, parse_source("demo-topics").classes) == ("demo-topics", 4)
    assert parse_source(" demo-topics:3 ").classes == 3
    assert parse_source("demo").classes == 0
    for bad in ("demo-topics:1", "demo-topics:7", "demo-topics:four", "demo-topics:"):
        with pytest.raises(CorpusError, match="demo-topics takes a number of classes from 2 to 6") as info:
            parse_source(bad)
        assert repr(bad) in str(info.value)


def test_parquet_csv_tsv_jsonl(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"text": ["a b c", "d e f"], "label": [0, 1], "other": [1.0, 2.0]}), tmp_path / "x.parquet"
    )
    (tmp_path / "x.csv").write_text('text,label\n"hello, world",pos\nbye,neg\n')
    (tmp_path / "x.tsv").write_text('"quoted" start\tpos\nplain\tneg\n')
    (tmp_path / "x.jsonl").write_text(
        "\n".join(json.dumps({"body": t, "stars": s}) for t, s in [("nice", 5), ("bad", 1)])
    )
    assert _load(tmp_path / "x.parquet").to_pylist() == [
        {"text": "a b c", "source_label": "0"},
        {"text": "d e f", "source_label": "1"},
    ]
    assert _load(tmp_path / "x.csv").column("text").to_pylist() == ["hello, world", "bye"]
    tsv = _load(tmp_path / "x.tsv", has_header=False, text_column="0", label_column="1", quoting=False)
    assert tsv.to_pylist() == [
        {"text": '"quoted" start', "source_label": "pos"},
        {"text": "plain", "source_label": "neg"},
    ]
    (tmp_path / "ag.tsv").write_text('" Corp. &lt;A HREF=""http://x""&gt;KMB"\tBusiness\nplain\tWorld\n')
    ag = _load(tmp_path / "ag.tsv", has_header=False, text_column="0", label_column="1")
    assert ag.column("text").to_pylist() == [' Corp. &lt;A HREF="http://x"&gt;KMB', "plain"]
    js = _load(tmp_path / "x.jsonl", text_column="body", label_column="stars", limit_rows=1)
    assert js.to_pylist() == [{"text": "nice", "source_label": "5"}]
    no_label = _load(tmp_path / "x.csv", label_column="")
    assert no_label.column("source_label").null_count == 2


def test_bytes_read_recorded(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("text\nhello\n")
    loaded = load_file(
        str(tmp_path / "x.csv"),
        text_column="text",
        label_column="",
        has_header=True,
        file_format="",
        limit_rows=0,
    )
    assert loaded.bytes_ == (tmp_path / "x.csv").stat().st_size
    assert (loaded.direction, loaded.endpoint_kind, loaded.scope) == ("read", "file", "local")


def test_missing_text_column(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("body,label\nhello,pos\n")
    with pytest.raises(CorpusError) as info:
        _load(tmp_path / "x.csv")
    assert (
        info.value.column == "text" and "x.csv" in str(info.value) and "['body', 'label']" in str(info.value)
    )


def test_wrong_types(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": [1, 2], "label": ["a", "b"]}), tmp_path / "ints.parquet")
    with pytest.raises(CorpusError, match=r"column 'text': has type int64, expected string") as info:
        _load(tmp_path / "ints.parquet")
    assert "ints.parquet" in str(info.value)
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0.5, 1.5]}), tmp_path / "floats.parquet")
    with pytest.raises(CorpusError, match=r"column 'label': has type double"):
        _load(tmp_path / "floats.parquet")
    (tmp_path / "x.jsonl").write_text('{"text": 3, "label": "a"}\n')
    with pytest.raises(CorpusError, match="expected string"):
        _load(tmp_path / "x.jsonl")


def test_undecodable_bytes(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes(
        "text,label\nfine,pos\nalso fine,neg\ncaf\xe9 bad,pos\n".encode("latin-1")
    )
    # the file's line, 1-based, header counted (row 2 of the data is line 4 of the file)
    with pytest.raises(
        CorpusError, match=r"column 'text': line 4 holds bytes that are not valid UTF-8"
    ) as info:
        _load(tmp_path / "latin1.csv")
    assert "latin1.csv" in str(info.value)
    # blank lines (skipped by the reader) and CRLF still count as lines; no header: nothing to skip
    (tmp_path / "gaps.tsv").write_bytes(b"fine\tpos\r\n\r\n\nalso\tneg\r\ncaf\xe9\tpos\r\n")
    with pytest.raises(CorpusError, match=r"line 5 holds bytes"):
        _load(tmp_path / "gaps.tsv", has_header=False, text_column="0", label_column="1")
    (tmp_path / "lab.csv").write_bytes(b"text,label\nfine,pos\nok text,n\xe9g\n")
    with pytest.raises(CorpusError, match=r"column 'label': line 3 holds bytes"):
        _load(tmp_path / "lab.csv")
    pq.write_table(pa.table({"text": pa.array([b"ok", b"\xff\xfe"], pa.binary())}), tmp_path / "b.parquet")
    with pytest.raises(CorpusError, match="row 2 holds bytes"):  # Parquet has rows, not lines: 1-based
        _load(tmp_path / "b.parquet", label_column="")
    assert first_invalid_utf8(pa.array([b"a"] * 100 + [b"\xc3"] + [b"b"] * 50)) == 100


def test_empty_source(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("text,label\n")
    with pytest.raises(CorpusError, match=r"empty.csv: the source has no rows"):
        _load(tmp_path / "empty.csv")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="file not found"):
        _load(tmp_path / "nope.parquet")
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CorpusError, match=r"garbage.parquet: cannot read as parquet"):
        _load(tmp_path / "garbage.parquet")
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(CorpusError, match=r"unknown file type '.xlsx'"):
        _load(tmp_path / "x.xlsx")


def test_hub_offline_fails_fast_with_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(CorpusError, match=r"offline .* not in the cache") as info:
        load_hub(
            parse_source("hub:no-such-owner/no-such-dataset"),
            cache_dir=tmp_path / "hf",
            text_column="text",
            label_column="label",
            limit_rows=0,
        )
    assert time.monotonic() - started < 10
    assert "hub:no-such-owner/no-such-dataset:train" in str(info.value)


def test_hub_failed_probe_switches_to_offline_and_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets.config as ds_config
    import huggingface_hub.constants as hf_constants

    from assets.corpus import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "probe_hub", lambda timeout_s: "huggingface.co:443 unreachable within 3 s")
    before = (hf_constants.HF_HUB_OFFLINE, ds_config.HF_HUB_OFFLINE)
    with pytest.raises(CorpusError, match="unreachable within 3 s"):
        hub.load_hub(
            parse_source("hub:no-such-owner/x"),
            cache_dir=tmp_path / "hf",
            text_column="text",
            label_column="",
            limit_rows=0,
        )
    assert before == (hf_constants.HF_HUB_OFFLINE, ds_config.HF_HUB_OFFLINE)
    assert "HF_HUB_OFFLINE" not in os.environ
