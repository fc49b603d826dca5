"""`clean_corpus`: the raw corpus repaired, stripped, normalised, filtered, de-duplicated and split.

Output contract, $FOOTPRINT_HOME/artifacts/clean_corpus/<materialization_id>.parquet (CLEAN_SCHEMA;
published at the same key to $FOOTPRINT_STORE when set, the handle's path and conflicts_path then
being URLs; docs/corpus.md):
    row_id        string, not null  unique; the raw row id (stable for the same source)
    text          string, not null  cleaned (see assets.corpus.cleaning), min_chars..max_chars long
    split         string, not null  'train' | 'eval' | 'conflict'; 'eval' iff
                                    int(md5(row_id).hexdigest()[:8], 16) / 2**32 < eval_fraction
                                    (deterministic: a row never changes split between runs), except
                                    the kept row of a label conflict: 'conflict' (rule in
                                    assets.corpus.conflicts; every row of each conflicting group is in
                                    <materialization_id>.conflicts.parquet beside this file, and the
                                    handle's extra carries conflicts_path and label_conflicts, the
                                    number of groups)
    gold_label    string, nullable  true label: ONLY for evaluation (split='eval') and demo annotators
    source_label  string, nullable  the label the source shipped (noisy in the demo)
    text_chars    int32,  not null  length of `text` in code points
Rows keep raw order. Annotation imports only split == 'train' rows, sending (row_id as id, text);
eval rows and every gold label stay out of annotation. Training evaluates on split == 'eval' with
gold_label. The returned ArtifactHandle has rows = rows out and extra = {rows_in, rows_train,
rows_eval, eval_fraction, dropped: {reason: rows}, quality: the figures and thresholds its quality checks
judge (assets.corpus.quality.CleanQuality)}.
"""

import dagster as dg
import duckdb
import pyarrow.parquet as pq
from pydantic import Field

from assets.corpus import conflicts
from assets.corpus.cleaner import DROP_REASONS, CleaningRules, clean_parquet
from assets.corpus.quality import (
    CleanQuality,
    Verdict,
    drop_summary,
    measure,
    rows_kept_verdict,
    rows_per_class_verdict,
    short_rows_sentence,
)
from assets.corpus.storage import CLEAN_SCHEMA, artifact_path
from pipelines.accounting import accounted
from pipelines.artifact_store import fetch_inputs, publish_handle, publish_output
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle

MAX_DUPLICATE_RATE = 0.0


class CleanCorpusConfig(dg.Config):  # type: ignore[misc]
    min_chars: int = Field(default=5, description="drop texts shorter than this (code points)")
    max_chars: int = Field(default=2000, description="drop texts longer than this (code points)")
    eval_fraction: float = Field(default=0.2, description="share of rows held out for evaluation")
    dedupe_normalised: bool = Field(default=True, description="also drop case/punctuation variants")
    repair_escapes: bool = Field(
        default=True,
        description="repair backslash remnants of scraped text ('\\$' -> '$', 'and\\the' -> 'and the'); "
        "False keeps every backslash (code, paths)",
    )
    # thresholds of the quality checks below: they live here, beside the rules they judge, and reach
    # the checks through the ArtifactHandle the checks receive (a check cannot read its asset's run
    # config; the handle is exactly the materialization checked, where "the latest materialization's
    # metadata" could be another run's)
    min_kept_fraction: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="check clean_corpus_rows_kept: ERROR when fewer rows than this share survive",
    )
    min_train_rows_per_class: int = Field(
        default=5,
        ge=0,
        description="check clean_corpus_train_rows_per_class: ERROR when a source class has fewer "
        "training rows",
    )


@dg.asset(
    group_name="corpus",
    kinds={"parquet"},
    description="Cleaned, de-duplicated corpus with a deterministic train/eval split.",
)
def clean_corpus(
    context: dg.AssetExecutionContext,
    config: CleanCorpusConfig,
    footprint: FootprintHomeResource,
    raw_corpus: ArtifactHandle,
) -> ArtifactHandle:
    rules = CleaningRules(
        min_chars=config.min_chars,
        max_chars=config.max_chars,
        eval_fraction=config.eval_fraction,
        dedupe_normalised=config.dedupe_normalised,
        repair_escapes=config.repair_escapes,
    )
    inputs = fetch_inputs(footprint, raw_corpus)
    raw_path = inputs.local(raw_corpus)
    with accounted(context, footprint, upstream=[raw_corpus]) as rec:
        inputs.record(rec)
        rec.add_transfer(
            bytes_=raw_corpus.bytes, duration_s=0.0, direction="read", endpoint_kind="file",
            scope="local", endpoint=str(raw_path),
        )  # fmt: skip
        path = artifact_path(rec.home, context.asset_key.to_user_string(), rec.materialization_id)
        report = clean_parquet(raw_path, path, rules)
        quality = measure(
            raw_path, path, report, min_kept_fraction=config.min_kept_fraction,
            min_train_rows_per_class=config.min_train_rows_per_class, min_chars=config.min_chars,
        )  # fmt: skip
        context.log.info(drop_summary(quality))
        if (short := short_rows_sentence(quality)) is not None:
            context.log.info(short)
        bytes_out = rec.add_storage(path, kind="dataset")
        conflicts_file = conflicts.conflicts_path(path)
        rec.add_storage(conflicts_file, kind="dataset")
        conflicts_url = publish_output(rec, footprint, conflicts_file)
        context.log.info(conflicts.conflict_summary(report.label_conflict_groups, report.label_conflict_rows))
        handle = publish_handle(
            rec,
            footprint,
            path,
            rows=report.rows_out,
            rows_in=report.rows_in,
            rows_train=report.rows_train,
            rows_eval=report.rows_eval,
            conflicts_path=conflicts_url,
            label_conflicts=report.label_conflict_groups,
            eval_fraction=rules.eval_fraction,
            dropped=dict(report.dropped),
            quality=quality.as_extra(),
        )
        meta: dict[str, object] = {
            "rows_in": dg.MetadataValue.int(report.rows_in),
            "rows_out": dg.MetadataValue.int(report.rows_out),
            "rows_train": dg.MetadataValue.int(report.rows_train),
            "rows_eval": dg.MetadataValue.int(report.rows_eval),
            "bytes_in": dg.MetadataValue.int(raw_corpus.bytes),
            "bytes_out": dg.MetadataValue.int(bytes_out),
            "upstream_materialization_id": raw_corpus.materialization_id,
            "path": dg.MetadataValue.path(handle.path),
            "label_conflict_groups": dg.MetadataValue.int(report.label_conflict_groups),
            "label_conflict_rows": dg.MetadataValue.int(report.label_conflict_rows),
            "label_conflict_rule": dg.MetadataValue.text(conflicts.CONFLICT_RULE),
            "conflicts_path": dg.MetadataValue.path(conflicts_url),
        }
        meta.update({f"dropped_{k}": dg.MetadataValue.int(v) for k, v in report.dropped.items()})
        meta.update(
            {
                f"dropped_{k}_share": dg.MetadataValue.float(round(v / report.rows_in, 6))
                for k, v in report.dropped.items()
            }
        )
        meta["drop_summary"] = dg.MetadataValue.text(
            "; ".join(filter(None, [drop_summary(quality), short_rows_sentence(quality)]))
        )
        meta.update({f"rows_{k}": dg.MetadataValue.int(v) for k, v in report.repaired.items()})
        context.add_output_metadata(meta)
        return handle


@dg.asset_check(asset=clean_corpus, description="No row has an empty or whitespace-only text.")
def clean_corpus_no_empty_text(
    footprint: FootprintHomeResource, clean_corpus: ArtifactHandle
) -> dg.AssetCheckResult:
    n = _scalar(footprint, clean_corpus, "SELECT count(*) FROM t WHERE text IS NULL OR trim(text) = ''")
    return dg.AssetCheckResult(passed=n == 0, metadata={"empty_rows": n})


@dg.asset_check(asset=clean_corpus, description="Share of rows whose text duplicates an earlier row.")
def clean_corpus_duplicate_rate(
    footprint: FootprintHomeResource, clean_corpus: ArtifactHandle
) -> dg.AssetCheckResult:
    total = _scalar(footprint, clean_corpus, "SELECT count(*) FROM t")
    distinct = _scalar(footprint, clean_corpus, "SELECT count(DISTINCT text) FROM t")
    rate = (total - distinct) / total if total else 0.0
    return dg.AssetCheckResult(
        passed=rate <= MAX_DUPLICATE_RATE,
        metadata={"duplicate_rate": dg.MetadataValue.float(rate), "max_rate": MAX_DUPLICATE_RATE},
    )


@dg.asset_check(asset=clean_corpus, description="Columns and types match the documented contract.")
def clean_corpus_schema(
    footprint: FootprintHomeResource, clean_corpus: ArtifactHandle
) -> dg.AssetCheckResult:
    schema = pq.read_schema(fetch_inputs(footprint, clean_corpus).local(clean_corpus)).remove_metadata()
    expected = {f.name: str(f.type) for f in CLEAN_SCHEMA}
    actual = {f.name: str(f.type) for f in schema}
    splits = ", ".join(f"'{s}'" for s in conflicts.SPLITS)
    bad_split = _scalar(footprint, clean_corpus, f"SELECT count(*) FROM t WHERE split NOT IN ({splits})")
    return dg.AssetCheckResult(
        passed=actual == expected and bad_split == 0,
        metadata={"expected": str(expected), "actual": str(actual), "rows_with_bad_split": bad_split},
    )


@dg.asset_check(
    asset=clean_corpus,
    blocking=True,
    description="Share of raw rows that survive cleaning, at least min_kept_fraction (config of "
    "clean_corpus, default 50 %); the message names the drop reasons and the likely cause.",
)
def clean_corpus_rows_kept(clean_corpus: ArtifactHandle) -> dg.AssetCheckResult:
    return _result(rows_kept_verdict(CleanQuality.from_extra(clean_corpus.extra["quality"])))


@dg.asset_check(
    asset=clean_corpus,
    blocking=True,
    description="Every class the source labels has at least min_train_rows_per_class training rows "
    "(config of clean_corpus, default 5).",
)
def clean_corpus_train_rows_per_class(clean_corpus: ArtifactHandle) -> dg.AssetCheckResult:
    return _result(rows_per_class_verdict(CleanQuality.from_extra(clean_corpus.extra["quality"])))


def _result(verdict: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=verdict.message,
        metadata={"message": dg.MetadataValue.text(verdict.message), **verdict.metadata},
    )


def _scalar(footprint: FootprintHomeResource, handle: ArtifactHandle, sql: str) -> int:
    """A check's figure over the artifact (a local copy: downloaded once, then from the cache)."""
    local = fetch_inputs(footprint, handle).local(handle)
    con = duckdb.connect()
    try:
        con.read_parquet(str(local)).create_view("t")
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


CHECKS = [
    clean_corpus_no_empty_text,
    clean_corpus_duplicate_rate,
    clean_corpus_schema,
    clean_corpus_rows_kept,
    clean_corpus_train_rows_per_class,
]
__all__ = ["CHECKS", "DROP_REASONS", "CleanCorpusConfig", "clean_corpus"]
