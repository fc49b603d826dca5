"""Source specs and the `file:` source.

    demo                      the seeded review generator, 2 classes (assets.corpus.generator)
    demo-topics[:<k>]         the seeded news-topic generator, k classes (2-6, default 4;
                              assets.corpus.topics)
    hub:<name>[:<split>]      a Hugging Face dataset through `datasets.load_dataset` (assets.corpus.hub)
    file:<path>               Parquet (.parquet/.pq), CSV (.csv), TSV (.tsv/.tab) or JSON Lines
                              (.jsonl/.ndjson/.json); `file_format` overrides the suffix

Every loader returns a `Loaded`: a table with `text` (string) and `source_label` (string or null)
columns, plus what it read, for the transfer fact. Files without a header row (AG News TSV): set
`has_header=False` and name columns by 0-based index, e.g. text_column="0", label_column="1".
CSV and TSV fields may be quoted CSV-style; `quoting=False` reads quote characters literally.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from assets.corpus.errors import CorpusError
from assets.corpus.topics import DEFAULT_CLASSES, MAX_CLASSES, MIN_CLASSES
from assets.corpus.validation import ColumnLimits, ColumnProfile, validate_columns

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}  # fmt: skip


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # 'demo' | 'demo-topics' | 'hub' | 'file'
    name: str = ""  # hub dataset name or file path
    split: str = "train"
    classes: int = 0  # demo-topics: number of topic classes

    @property
    def id_prefix(self) -> str:
        """Prefix of the stable row ids: '<kind>-<sanitised name>'."""
        stem = Path(self.name).stem if self.kind == "file" else f"{self.name}-{self.split}"
        return f"{self.kind}-{re.sub(r'[^A-Za-z0-9]+', '_', stem).strip('_')}"


@dataclass(frozen=True)
class Loaded:
    table: pa.Table  # columns text: string, source_label: string (nullable)
    bytes_: int
    duration_s: float
    direction: str  # 'read' | 'download'
    endpoint_kind: str  # 'file' | 'hub'
    scope: str  # 'local' | 'network'
    endpoint: str
    profile: ColumnProfile | None = None  # what the column checks saw


def parse_source(spec: str) -> SourceSpec:
    spec = spec.strip()
    if spec == "demo":
        return SourceSpec("demo")
    kind, sep, rest = spec.partition(":")
    if kind == "demo-topics":
        return SourceSpec("demo-topics", classes=_topic_classes(rest if sep else None, spec))
    if kind == "file" and sep and rest:
        return SourceSpec("file", rest)
    if kind == "hub" and sep and rest:
        name, _, split = rest.partition(":")
        return SourceSpec("hub", name, split or "train")
    raise CorpusError(
        "unknown source; use 'demo', 'demo-topics[:<classes>]', 'hub:<name>[:<split>]' or 'file:<path>'",
        source=repr(spec),
    )


def _topic_classes(text: str | None, spec: str) -> int:
    """The k of 'demo-topics:<k>' (None, no ':<k>': the default), within the generator's range."""
    if text is None:
        return DEFAULT_CLASSES
    if not text.isdigit() or not MIN_CLASSES <= int(text) <= MAX_CLASSES:
        raise CorpusError(
            f"demo-topics takes a number of classes from {MIN_CLASSES} to {MAX_CLASSES} "
            f"('demo-topics:4'), got {text!r}",
            source=repr(spec),
        )
    return int(text)


def first_invalid_utf8(values: pa.Array) -> int:
    """Index of the first value that is not valid UTF-8 (bisection over vectorised casts), or -1."""
    lo, hi = 0, len(values)
    if _valid(values):
        return -1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _valid(values.slice(lo, mid - lo)):
            lo = mid
        else:
            hi = mid
    return lo


def _valid(values: pa.Array) -> bool:
    try:
        values.cast(pa.string())
        return True
    except pa.ArrowInvalid:
        return False


def as_text(
    values: pa.ChunkedArray | pa.Array,
    *,
    source: str,
    column: str,
    what: str,
    locate: Callable[[int], str] | None = None,
) -> pa.Array:
    """`values` as a string array; binary is decoded as UTF-8; other types are an error.

    `locate(i)` names the place of 0-based row i in the source for messages ("line 20"); default
    "row <i + 1>"."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        bad = first_invalid_utf8(arr)
        if bad >= 0:
            place = locate(bad) if locate is not None else f"row {bad + 1}"
            raise CorpusError(
                f"{place} holds bytes that are not valid UTF-8 ({arr[bad].as_py()[:40]!r}); "
                "re-encode the file as UTF-8",
                source=source,
                column=column,
            )
        return arr.cast(pa.string())
    if what == "label" and (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        return pc.cast(arr, pa.string())
    allowed = "string" if what == "text" else "string, integer or boolean"
    raise CorpusError(
        f"has type {t}, expected {allowed} {what}s; set {what}_column to the column that holds the "
        f"{what}s (are text_column and label_column swapped?)",
        source=source,
        column=column,
    )


def to_loaded_table(
    table: pa.Table,
    *,
    source: str,
    text_column: str,
    label_column: str,
    limit_rows: int,
    limits: ColumnLimits,
    locate: Callable[[int], str] | None = None,
) -> tuple[pa.Table, ColumnProfile]:
    """Select and type the text/label columns; refuse missing columns, empty sources and columns that
    do not hold what they are named for (`validation.validate_columns`, the same for every format)."""
    for col in (text_column, label_column):
        if col and col not in table.column_names:
            raise CorpusError(
                f"column not found; available columns: {table.column_names}", source=source, column=col
            )
    if limit_rows > 0:
        table = table.slice(0, limit_rows)
    if table.num_rows == 0:
        raise CorpusError("the source has no rows", source=source)
    text = as_text(table.column(text_column), source=source, column=text_column, what="text", locate=locate)
    label = (
        as_text(table.column(label_column), source=source, column=label_column, what="label", locate=locate)
        if label_column
        else None
    )
    profile = validate_columns(
        text, label, limits, source=source, text_column=text_column, label_column=label_column
    )
    if label is None:
        label = pa.nulls(table.num_rows, pa.string())
    return pa.table({"text": text, "source_label": label}), profile


def load_file(
    path: str,
    *,
    text_column: str,
    label_column: str,
    has_header: bool,
    file_format: str,
    limit_rows: int,
    quoting: bool = True,
    limits: ColumnLimits | None = None,
) -> Loaded:
    p = Path(path).expanduser()
    fmt = file_format or FORMATS.get(p.suffix.lower(), "")
    if not fmt:
        known = sorted(set(FORMATS.values()))
        raise CorpusError(f"unknown file type {p.suffix!r}; set file_format to one of {known}", source=str(p))
    if not p.is_file():
        raise CorpusError("file not found (or not a regular file)", source=str(p))
    started = time.perf_counter()
    try:
        table = _read(p, fmt, [c for c in (text_column, label_column) if c], has_header, quoting)
    except CorpusError:
        raise
    except (OSError, pa.ArrowException, ValueError) as err:
        raise CorpusError(f"cannot read as {fmt}: {err}", source=str(p)) from err
    loaded, profile = to_loaded_table(
        table,
        source=str(p),
        text_column=text_column,
        label_column=label_column,
        limit_rows=limit_rows,
        limits=limits or ColumnLimits(),
        locate=_file_lines(p, header_lines=int(has_header and fmt != "jsonl")) if fmt != "parquet" else None,
    )
    duration_s = time.perf_counter() - started
    return Loaded(loaded, p.stat().st_size, duration_s, "read", "file", "local", str(p), profile)


def _file_lines(p: Path, *, header_lines: int) -> Callable[[int], str]:
    """Row -> "line <1-based file line>" for a line-per-row file (CSV/TSV without newlines in values,
    JSON Lines): the header counts, and so do the blank lines the readers skip. Runs only for an
    error message (vectorised: numpy over the file's bytes)."""

    def locate(row: int) -> str:
        data = np.frombuffer(p.read_bytes(), np.uint8)
        newlines = np.flatnonzero(data == ord("\n"))
        starts = np.concatenate([[0], newlines + 1])
        ends = np.concatenate([newlines, [data.size]])
        has_cr = (ends > starts) & (data[np.maximum(ends - 1, 0)] == ord("\r"))
        non_blank = np.flatnonzero(ends - starts - has_cr > 0)
        idx = row + header_lines
        return f"line {int(non_blank[idx]) + 1}" if idx < non_blank.size else f"row {row + 1}"

    return locate


def _read(p: Path, fmt: str, columns: list[str], has_header: bool, quoting: bool) -> pa.Table:
    if fmt == "parquet":
        schema = pq.read_schema(p)
        return pq.read_table(p, columns=[c for c in columns if c in schema.names])
    if fmt in ("csv", "tsv"):
        # quoting as in CSV ("a ""b""" -> a "b"), for TSV too (AG News quotes fields that hold quotes)
        parse = pacsv.ParseOptions(
            delimiter="\t" if fmt == "tsv" else ",", quote_char='"' if quoting else False
        )
        read = pacsv.ReadOptions(autogenerate_column_names=not has_header, block_size=1 << 22)
        names = {c: (f"f{c}" if not has_header and c.isdigit() else c) for c in columns}
        # text/label read as bytes: invalid UTF-8 then names its row instead of failing the parse
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names.values(), pa.binary()))
        table = pacsv.read_csv(p, read_options=read, parse_options=parse, convert_options=convert)
        if not has_header:
            renamed = [n[1:] if n[:1] == "f" and n[1:].isdigit() else n for n in table.column_names]
            table = table.rename_columns(renamed)
        return table
    if fmt == "jsonl":
        return pajson.read_json(p)
    raise CorpusError(f"unknown file_format {fmt!r}; use parquet, csv, tsv or jsonl", source=str(p))
