"""Cleaning rules on Arrow arrays: vectorised (pyarrow.compute kernels, DuckDB for hashing), no Python
loop per row. Python only ever runs per *distinct* broken token (a mojibake sequence or an HTML
entity), of which a corpus has tens, never per row. The entity, tag and escape steps run only on
the rows holding a ';', a '<' or a backslash, found by one numpy pass over the UTF-8 bytes
(`rows_holding`).

Order (each step sees the previous one's output):
1. null -> ''
2. encoding repair: mojibake tokens (UTF-8 bytes decoded as cp1252/latin-1, e.g. 'cafÃ©') are
   re-encoded and decoded as UTF-8 ('café'); two passes undo double mojibake
3. HTML: AG News style entity remnants (' #39;', ' quot;', ' amp;': '&' became a space) are
   restored to entities; every entity is unescaped (html.unescape per distinct entity, a second
   pass for double escaping such as "&amp;amp;"); tags
   ('<p>', '<br/>', '<A HREF=...>') become a space
4. Unicode NFKC normalisation
5. escape remnants (scraped news, AG News style: a source's line breaks and string escapes left as
   backslashes): a backslash before '$', '"' or "'" is dropped ('\\$828m' -> '$828m'); every other
   backslash, or run of them, becomes a space ('and\\the' -> 'and the', 'Images\\\\Yahoo' ->
   'Images Yahoo'). Every backslash is treated as a remnant: after this step no text holds one (a
   corpus whose backslashes are content, such as code or Windows paths, loses them). Rows without a
   backslash are left as they are
6. whitespace: zero-width characters removed, runs of whitespace/control characters -> one space,
   trimmed
Dedup key (near duplicates): lower-cased cleaned text, ASCII and typographic punctuation removed,
spaces collapsed.
"""

from __future__ import annotations

import contextlib
import functools
import html
import re
import unicodedata
from collections.abc import Callable, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _cp1252_char(byte: int) -> str:
    return bytes([byte]).decode("cp1252", errors="ignore") or bytes([byte]).decode("latin-1")


def _cls(chars: str) -> str:
    return "".join(f"\\x{{{ord(c):04X}}}" for c in chars)


_CONT = _cls("".join(_cp1252_char(b) for b in range(0x80, 0xC0)))
MOJIBAKE_TOKEN = f"[\\x{{00C2}}-\\x{{00DF}}][{_CONT}]|[\\x{{00E0}}-\\x{{00EF}}][{_CONT}][{_CONT}]"
ENTITY_TOKEN = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
_AG_ENTITY = (
    r"(?:^| )(#[0-9]{2,5}|quot|amp|lt|gt|apos|nbsp|hellip|mdash|ndash|lsquo|rsquo|ldquo|rdquo|"
    r"pound|euro|copy|reg|trade);"
)
HTML_TAG = r"<[A-Za-z/!][^<>]{0,500}>"
_ZERO_WIDTH = r"[\x{200B}-\x{200D}\x{2060}\x{FEFF}]"
# whitespace and control characters NFKC leaves (it maps NBSP, U+2000-200A, U+3000 ... to ' ')
_WS = r"\t\n\x0b\f\r\x{85}\x{1680}\x{2028}\x{2029}\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
# a run holding any non-space whitespace, or 2+ spaces (a lone ' ' is not matched: far fewer matches)
_SPACE_RUN = f"[ {_WS}]*[{_WS}][ {_WS}]*| {{2,}}"
# rows touched per repair, as clean_text reports them
REPAIRS = ("encoding_repaired", "html_stripped", "escapes_repaired")
_PUNCT_RUN = r"[[:punct:]’‘“”«»…–—]+"
# escape remnants: a backslash-escaped symbol keeps the symbol; any other backslash run is a space
_ESCAPED_SYMBOL = r"\\([$\"'])"
_BACKSLASH_RUN = r"\\+"


def fix_mojibake_token(token: str) -> str:
    """'Ã©' -> 'é', 'â€™' -> '’'; a token that is not re-decodable as UTF-8 is returned unchanged."""
    try:
        raw = bytes(b for ch in token for b in _encode_cp1252(ch))
        return raw.decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return token


def _encode_cp1252(ch: str) -> bytes:
    try:
        return ch.encode("cp1252")
    except UnicodeEncodeError:
        return ch.encode("latin-1")


@contextlib.contextmanager
def _connection(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """`con`, or a private in-memory connection for this call (opening one costs ~80 ms: callers
    that clean many batches pass theirs)."""
    if con is not None:
        yield con
        return
    own = duckdb.connect()
    try:
        yield own
    finally:
        own.close()


def _distinct_tokens(text: pa.Array, pattern: str, con: duckdb.DuckDBPyConnection | None) -> list[str]:
    with _connection(con) as db:
        db.register("tokens_in", pa.table({"t": text}))
        try:
            rows = db.execute(
                "SELECT DISTINCT unnest(regexp_extract_all(t, ?)) AS tok FROM tokens_in", [pattern]
            ).fetchall()
        finally:
            db.unregister("tokens_in")
    # longest first so that no replacement eats a part of a longer token
    return sorted((r[0] for r in rows if r[0]), key=lambda s: (-len(s), s))


def _replace_tokens(
    text: pa.Array, pattern: str, fix: Callable[[str], str], con: duckdb.DuckDBPyConnection | None
) -> tuple[pa.Array, int]:
    """Replace every distinct token matching `pattern` by fix(token), only in rows that contain one."""
    mask = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    n_rows = pc.sum(mask).as_py() or 0
    if n_rows == 0:
        return text, 0
    subset = pc.filter(text, mask)
    for token in _distinct_tokens(subset, pattern, con):
        fixed = fix(token)
        if fixed != token:
            subset = pc.replace_substring(subset, token, fixed)
    return pc.replace_with_mask(text, mask, subset), int(n_rows)


def repair_mojibake(text: pa.Array, con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Array, int]:
    """Returns the repaired array and the number of rows it changed."""
    before = text
    text, n_rows = _replace_tokens(text, MOJIBAKE_TOKEN, fix_mojibake_token, con)
    if n_rows:  # double mojibake: a second pass
        text, _ = _replace_tokens(text, MOJIBAKE_TOKEN, fix_mojibake_token, con)
    return text, _changed(before, text)


def strip_html(text: pa.Array, con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Array, int]:
    """Unescape entities (AG News ' #39;' remnants included) and replace tags by a space.
    Returns the text and the number of rows it changed. Entities are looked for in rows holding a
    ';' only, tags in rows holding a '<' only (`rows_holding`: one scan of the bytes)."""
    before = text

    def unescape(rows: pa.Array) -> pa.Array:
        rows = pc.replace_substring_regex(rows, _AG_ENTITY, r"&\1;")
        rows, n_rows = _replace_tokens(rows, ENTITY_TOKEN, html.unescape, con)
        if n_rows:  # double escaping ('&amp;amp;'): a second pass
            rows, _ = _replace_tokens(rows, ENTITY_TOKEN, html.unescape, con)
        return rows

    text = _on_rows(text, rows_holding(text, ";"), unescape)
    text = _on_rows(text, rows_holding(text, "<"), lambda t: pc.replace_substring_regex(t, HTML_TAG, " "))
    return text, _changed(before, text)


def rows_holding(text: pa.Array, ascii_chars: str) -> pa.Array:
    """Boolean mask of the rows whose text holds any of `ascii_chars`, from one numpy pass over the
    UTF-8 bytes (an ASCII byte is never part of another character in UTF-8): far cheaper than a
    substring search per row, and rows without a match then skip the regex kernels. Not a plain
    string array (large_string): the regex kernel."""
    codes = [ord(c) for c in ascii_chars]
    if not codes or any(c > 0x7F for c in codes):
        raise ValueError(f"rows_holding takes ASCII characters, got {ascii_chars!r}")
    if not pa.types.is_string(text.type) or len(text) == 0:
        pattern = "[" + "".join(f"\\x{{{c:02X}}}" for c in codes) + "]"
        return pc.fill_null(pc.match_substring_regex(text, pattern), False)
    _, offsets_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[text.offset : text.offset + len(text) + 1]
    mask = np.zeros(len(text), dtype=bool)
    if data_buf is not None and offsets[-1] > offsets[0]:
        data = np.frombuffer(data_buf, np.uint8)[offsets[0] : offsets[-1]]
        hit = data == codes[0]
        for c in codes[1:]:
            hit |= data == c
        mask[np.searchsorted(offsets, np.flatnonzero(hit) + offsets[0], side="right") - 1] = True
    return pa.array(mask)


def _changed(before: pa.Array, after: pa.Array) -> int:
    return int(pc.sum(pc.fill_null(pc.not_equal(before, after), False)).as_py() or 0)


def normalise_whitespace(text: pa.Array) -> pa.Array:
    """Whitespace/control runs -> one space, trimmed (after NFKC, which maps exotic spaces to ' ')."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _SPACE_RUN, " "))


def repair_escapes(text: pa.Array) -> tuple[pa.Array, int]:
    """Step 5 of the module docstring, on the rows holding a backslash only. Returns the repaired
    array and the number of rows it changed."""
    has_backslash = rows_holding(text, "\\")
    fixed = _on_rows(
        text,
        has_backslash,
        lambda t: pc.replace_substring_regex(
            pc.replace_substring_regex(t, _ESCAPED_SYMBOL, r"\1"), _BACKSLASH_RUN, " "
        ),
    )
    return fixed, int(pc.sum(pc.fill_null(has_backslash, False)).as_py() or 0)


def _on_rows(text: pa.Array, mask: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """fn applied to the rows where `mask` holds only (the others are left as they are)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return text
    return pc.replace_with_mask(text, mask, fn(pc.filter(text, mask)))


@functools.cache
def _needs_nfkc_pattern() -> str:
    """A regex matching any character that NFKC may change or that must be removed (zero-width),
    i.e. anything outside ASCII and the NFKC-stable Latin / punctuation / currency characters.
    Built once, on first use; rows without a match skip NFKC (it would leave them as they are)."""
    ranges: list[tuple[int, int]] = []
    for cp in [*range(0x80, 0x250), *range(0x2000, 0x2070), *range(0x20A0, 0x20D0)]:
        ch = chr(cp)
        stable = unicodedata.normalize("NFKC", ch) == ch and unicodedata.combining(ch) == 0
        if stable and not re.fullmatch(_ZERO_WIDTH.replace("\\x{", "\\u").replace("}", ""), ch):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    stable_cls = "".join(f"\\x{{{a:04X}}}-\\x{{{b:04X}}}" for a, b in ranges)
    return f"[^\\x00-\\x7F{stable_cls}]"


def clean_text(
    text: pa.Array, con: duckdb.DuckDBPyConnection | None = None, *, escapes: bool = True
) -> tuple[pa.Array, dict[str, int]]:
    """Steps 1-6 of the module docstring. Returns the cleaned text and rows touched per repair.
    Steps that cannot change ASCII text (encoding repair, NFKC) run on the non-ASCII rows only.
    `escapes=False` skips step 5: every backslash is kept (a corpus where they are content: code,
    paths, LaTeX)."""
    text = pc.fill_null(text.cast(pa.string()), "")
    text, n_moji = repair_mojibake(text, con)
    text, n_html = strip_html(text, con)
    unusual = pc.and_(
        pc.invert(pc.string_is_ascii(text)), pc.match_substring_regex(text, _needs_nfkc_pattern())
    )
    text = _on_rows(
        text, unusual, lambda t: pc.replace_substring_regex(pc.utf8_normalize(t, "NFKC"), _ZERO_WIDTH, "")
    )
    text, n_escapes = repair_escapes(text) if escapes else (text, 0)
    repaired = {"encoding_repaired": n_moji, "html_stripped": n_html, "escapes_repaired": n_escapes}
    return normalise_whitespace(text), repaired


def dedup_key(text: pa.Array) -> pa.Array:
    """Near-duplicate key of *cleaned* text: lower-cased, punctuation removed, spaces collapsed."""
    key = pc.replace_substring_regex(pc.utf8_lower(text), _PUNCT_RUN, "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(key, " {2,}", " "))


def hashes_and_split(
    row_id: pa.Array,
    text: pa.Array,
    key: pa.Array,
    eval_fraction: float,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """64-bit hashes of text and key (in-run dedup only) and the split of each row:
    'eval' iff int(md5(row_id).hexdigest()[:8], 16) / 2**32 < eval_fraction, else 'train'."""
    with _connection(con) as db:
        db.register("hash_in", pa.table({"row_id": row_id, "text": text, "k": key}))
        try:
            out = db.sql(
                """SELECT hash(text) AS h_text, hash(k) AS h_key,
                          CASE WHEN ('0x' || left(md5(row_id), 8))::UBIGINT / 4294967296.0 < ?
                               THEN 'eval' ELSE 'train' END AS split
                   FROM hash_in""",
                params=[float(eval_fraction)],
            ).to_arrow_table()
        finally:
            db.unregister("hash_in")
    return (
        out["h_text"].to_numpy(),
        out["h_key"].to_numpy(),
        out["split"].combine_chunks().cast(pa.string()),
    )


def first_occurrence(hashes: np.ndarray) -> np.ndarray:
    """Boolean mask: True at the first position of each distinct value."""
    keep = np.zeros(len(hashes), dtype=bool)
    if len(hashes):
        _, first = np.unique(hashes, return_index=True)
        keep[first] = True
    return keep
