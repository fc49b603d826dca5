"""Clean N generated rows (default 1M): the vectorised cleaner (assets.corpus.cleaner) against a
straightforward pandas `.apply` implementation of the same rules, side by side in the same run.

Both variants repair (escape remnants included), filter, de-duplicate, split and write the label
conflicts file. Each variant runs in its own subprocess (file -> file, Parquet in and out) and
reports its wall time and its peak RSS (VmHWM, reset through /proc/self/clear_refs once the imports
are done) minus its RSS just before cleaning started, so the libraries' own footprint is not counted
and the two figures are comparable. Targets: rows/s >= 5x the pandas variant, peak working memory
<= 2x the input's Arrow size.

    python -m bench.bench_cleaning [--rows N]
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import resource
import string
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from bench.common import BenchRow, print_rows

ROWS = 1_000_000
EVAL_FRACTION, MIN_CHARS, MAX_CHARS = 0.2, 5, 2000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM), so that imports' transient peak is not counted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- the pandas `.apply` baseline: same rules, one Python call per row --------------------------------
def _pandas_rules() -> tuple[re.Pattern[str], ...]:
    from assets.corpus.cleaning import (
        _AG_ENTITY,
        _BACKSLASH_RUN,
        _ESCAPED_SYMBOL,
        ENTITY_TOKEN,
        HTML_TAG,
        MOJIBAKE_TOKEN,
    )

    moji = re.sub(r"\\x\{([0-9A-F]+)\}", lambda m: chr(int(m.group(1), 16)), MOJIBAKE_TOKEN)
    return (
        re.compile(moji),
        re.compile(_AG_ENTITY),
        re.compile(ENTITY_TOKEN),
        re.compile(HTML_TAG),
        re.compile(_ESCAPED_SYMBOL),
        re.compile(_BACKSLASH_RUN),
        re.compile("[\u200b-\u200d\u2060\ufeff]"),
        re.compile(r"[\s\x00-\x1f\x7f-\x9f]+"),
        re.compile("[" + re.escape(string.punctuation) + "’‘“”«»…–—]+"),
    )


def clean_pandas(src: Path, dst: Path) -> tuple[int, int]:
    import pandas as pd

    from assets.corpus.cleaning import fix_mojibake_token

    moji, ag, entity, tag, escaped, backslash, zero_width, space, punct = _pandas_rules()

    def clean_one(text: str | None) -> str:
        text = text or ""
        for _ in range(2):
            text = moji.sub(lambda m: fix_mojibake_token(m.group(0)), text)
        text = ag.sub(r"&\1;", text)
        text = entity.sub(lambda m: html.unescape(m.group(0)), text)
        text = tag.sub(" ", text)
        text = unicodedata.normalize("NFKC", text)
        if "\\" in text:  # escape remnants
            text = backslash.sub(" ", escaped.sub(r"\1", text))
        return space.sub(" ", zero_width.sub("", text)).strip()

    def split_of(row_id: str) -> str:
        return (
            "eval"
            if int(hashlib.md5(row_id.encode()).hexdigest()[:8], 16) / 2**32 < EVAL_FRACTION
            else "train"
        )

    df = pd.read_parquet(src)
    df["text"] = df["text"].apply(clean_one)
    df["text_chars"] = df["text"].apply(len)
    df = df[(df["text_chars"] >= MIN_CHARS) & (df["text_chars"] <= MAX_CHARS)]
    df["key"] = df["text"].apply(lambda t: " ".join(punct.sub("", t.lower()).split()))
    # label conflicts: groups of one key holding 2+ distinct non-null source labels
    in_conflict = df.groupby("key")["source_label"].transform("nunique") > 1
    conflicts = df.loc[in_conflict, ["key", "row_id", "text", "source_label"]]
    conflicts.insert(0, "group_row_id", conflicts.groupby("key")["row_id"].transform("first"))
    conflicts.drop(columns="key").to_parquet(dst.with_name(f"{dst.stem}.conflicts.parquet"))
    df = df.drop_duplicates("text")
    df = df[~df["key"].duplicated()].copy()
    df["split"] = df["row_id"].apply(split_of)
    df.loc[df["key"].isin(conflicts["key"]), "split"] = "conflict"
    df.drop(columns="key").to_parquet(dst)
    return len(df), int(conflicts["group_row_id"].nunique())


def clean_arrow(src: Path, dst: Path) -> tuple[int, int]:
    from assets.corpus.cleaner import CleaningRules, clean_parquet

    rules = CleaningRules(min_chars=MIN_CHARS, max_chars=MAX_CHARS, eval_fraction=EVAL_FRACTION)
    report = clean_parquet(src, dst, rules)
    return report.rows_out, report.label_conflict_groups


def _child(variant: str, src: Path, dst: Path) -> None:
    import pandas  # noqa: F401  (both variants pay the same imports before the baseline RSS)
    import pyarrow.parquet  # noqa: F401

    import assets.corpus.cleaner  # noqa: F401

    reset = _reset_peak_rss()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    rows_out, conflict_groups = (clean_arrow if variant == "arrow" else clean_pandas)(src, dst)
    duration_s = time.perf_counter() - started
    peak = _peak_rss_bytes()
    out = {
        "duration_s": duration_s,
        "peak_extra_bytes": peak - rss_before,
        "rows_out": rows_out,
        "conflict_groups": conflict_groups,
        "reset": reset,
    }
    print(json.dumps(out))


def _measure(variant: str, src: Path, dst: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.bench_cleaning", "--child", variant, str(src), str(dst)]
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(workdir: Path, rows: int = ROWS) -> list[BenchRow]:
    from assets.corpus.generator import generate_reviews
    from assets.corpus.storage import RAW_SCHEMA, write_table

    table = generate_reviews(rows, seed=1)
    input_bytes = table.nbytes
    src = workdir / "raw.parquet"
    write_table(table, src, RAW_SCHEMA)  # as raw_corpus writes it
    del table
    arrow = _measure("arrow", src, workdir / "clean-arrow.parquet")
    pandas = _measure("pandas", src, workdir / "clean-pandas.parquet")
    mib = 1024 * 1024
    note = f"{rows:,} generated rows; input Arrow {input_bytes / mib:,.0f} MiB"
    return [
        BenchRow("cleaning", "vectorised rows/s", rows / arrow["duration_s"], "rows/s",
                 f">= {5 * rows / pandas['duration_s']:.0f}", rows / pandas["duration_s"], note),
        BenchRow("cleaning", "vectorised peak working memory", arrow["peak_extra_bytes"] / mib, "MiB",
                 f"<= {2 * input_bytes / mib:.0f}", pandas["peak_extra_bytes"] / mib,
                 "peak RSS - RSS before cleaning; baseline = pandas"),
        BenchRow("cleaning", "peak memory / input Arrow size", arrow["peak_extra_bytes"] / input_bytes, "x",
                 "<= 2", pandas["peak_extra_bytes"] / input_bytes),
        BenchRow("cleaning", "rows out", arrow["rows_out"], "rows", "", pandas["rows_out"],
                 "baseline = pandas .apply (same rules)"),
        BenchRow("cleaning", "label conflict groups", arrow["conflict_groups"], "groups", "",
                 pandas["conflict_groups"], "baseline = pandas groupby (same rule)"),
    ]  # fmt: skip


def main(rows: int = ROWS) -> list[BenchRow]:
    with tempfile.TemporaryDirectory(prefix="bench-cleaning-") as tmp:
        result = run(Path(tmp), rows)
    print_rows(result, title="bench_cleaning")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "SRC", "DST"))
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    else:
        main(args.rows)
