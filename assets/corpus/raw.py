"""`raw_corpus`: the dataset as it arrives, one Parquet file (RAW_SCHEMA) per materialization.

Output: $FOOTPRINT_HOME/artifacts/raw_corpus/<materialization_id>.parquet, published at the same key
to $FOOTPRINT_STORE when set (the handle's path is then its URL; docs/corpus.md), with
    row_id        string, not null  stable for the same source: '<prefix>-<0-based row, 8 digits>'
                                    (prefix 'demo<seed>', 'topics<k>-<seed>', 'file-<stem>',
                                    'hub-<name>_<split>')
    text          string, nullable  as read, dirt included
    source_label  string, nullable  the label the source ships (demo, demo-topics: with label noise)
    gold_label    string, nullable  the true label: demo, demo-topics: the generator's; file/hub: the
                                    source's
Returns an ArtifactHandle (rows, bytes; extra: source, source_kind).
"""

import time

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from assets.corpus.errors import CorpusError
from assets.corpus.generator import generate_reviews
from assets.corpus.hub import load_hub
from assets.corpus.sources import Loaded, SourceSpec, load_file, parse_source
from assets.corpus.storage import RAW_SCHEMA, artifact_path, write_table
from assets.corpus.topics import generate_topics
from assets.corpus.validation import ColumnLimits
from pipelines.accounting import accounted
from pipelines.artifact_store import publish_handle
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle
from warehouse.home import FootprintHome


class RawCorpusConfig(dg.Config):  # type: ignore[misc]
    source: str = Field(
        default="demo",
        description="'demo' (reviews, 2 classes), 'demo-topics[:<classes>]' (news topics, 2-6 classes, "
        "default 4), 'hub:<name>[:<split>]' or 'file:<path>'",
    )
    rows: int = Field(default=2000, description="demo*: number of rows to generate")
    seed: int = Field(default=42, description="demo*: generator seed (same seed, same rows)")
    label_noise: float = Field(default=0.05, description="demo*: fraction of flipped source labels")
    text_column: str = Field(default="text", description="file/hub: text column (index if no header)")
    label_column: str = Field(default="label", description="file/hub: label column; '' for none")
    has_header: bool = Field(default=True, description="csv/tsv: first row holds column names")
    quoting: bool = Field(default=True, description='csv/tsv: fields may be "quoted" (False: literal quotes)')
    file_format: str = Field(default="", description="file: parquet|csv|tsv|jsonl ('' = by suffix)")
    limit_rows: int = Field(default=0, description="file/hub: keep the first N rows (0 = all)")
    max_numeric_text_share: float = Field(
        default=0.5,
        description="file/hub: refuse a text column whose non-blank values are numbers in more than "
        "this share of rows (a label or id column picked as text)",
    )
    max_labels: int = Field(
        default=50,
        description="file/hub: refuse a label column with more than max(max_labels, "
        "max_label_share x rows) distinct values (texts picked as labels)",
    )
    max_label_share: float = Field(default=0.1, description="file/hub: see max_labels")

    def column_limits(self) -> ColumnLimits:
        return ColumnLimits(
            max_numeric_text_share=self.max_numeric_text_share,
            max_labels=self.max_labels,
            max_label_share=self.max_label_share,
        )


def load_raw(
    spec: SourceSpec, config: RawCorpusConfig, home: FootprintHome
) -> tuple[pa.Table, Loaded | None]:
    """The raw table (RAW_SCHEMA) and, for file/hub sources, what was read."""
    if spec.kind in ("demo", "demo-topics"):
        if config.rows < 1:
            raise CorpusError(f"rows must be >= 1, got {config.rows}", source=spec.kind)
        if not 0.0 <= config.label_noise <= 1.0:
            raise CorpusError(
                f"label_noise must be within [0, 1], got {config.label_noise}", source=spec.kind
            )
        if spec.kind == "demo-topics":
            table = generate_topics(
                config.rows, config.seed, classes=spec.classes, label_noise=config.label_noise
            )
            return table, None
        return generate_reviews(config.rows, config.seed, label_noise=config.label_noise), None
    if spec.kind == "file":
        loaded = load_file(
            spec.name,
            text_column=config.text_column,
            label_column=config.label_column,
            has_header=config.has_header,
            file_format=config.file_format,
            limit_rows=config.limit_rows,
            quoting=config.quoting,
            limits=config.column_limits(),
        )
    else:
        loaded = load_hub(
            spec,
            cache_dir=home.cache_dir / "huggingface",
            text_column=config.text_column,
            label_column=config.label_column,
            limit_rows=config.limit_rows,
            limits=config.column_limits(),
        )
    n = loaded.table.num_rows
    digits = pc.utf8_lpad(pc.cast(pa.array(range(n), pa.int64()), pa.string()), width=8, padding="0")
    row_id = pc.binary_join_element_wise(f"{spec.id_prefix}-", digits, "")
    label = loaded.table.column("source_label")
    table = pa.table([row_id, loaded.table.column("text"), label, label], schema=RAW_SCHEMA)
    return table, loaded


@dg.asset(
    group_name="corpus",
    kinds={"parquet"},
    description="The corpus as it arrives (demo generator, Hugging Face hub or a local file).",
)
def raw_corpus(
    context: dg.AssetExecutionContext, config: RawCorpusConfig, footprint: FootprintHomeResource
) -> ArtifactHandle:
    spec = parse_source(config.source)
    with accounted(context, footprint) as rec:
        started = time.perf_counter()
        table, loaded = load_raw(spec, config, rec.home)
        if loaded is not None:
            rec.add_transfer(
                bytes_=loaded.bytes_,
                duration_s=loaded.duration_s,
                direction=loaded.direction,
                endpoint_kind=loaded.endpoint_kind,
                scope=loaded.scope,
                endpoint=loaded.endpoint,
                requests=1,
            )
        path = artifact_path(rec.home, context.asset_key.to_user_string(), rec.materialization_id)
        write_table(table, path, RAW_SCHEMA)
        rec.add_storage(path, kind="dataset")
        handle = publish_handle(rec, footprint, path, rows=table.num_rows, source=config.source,
                                source_kind=spec.kind)  # fmt: skip
        meta: dict[str, object] = {}
        profile = loaded.profile if loaded is not None else None
        if profile is not None:  # what the column checks saw (file/hub sources)
            meta["blank_texts"] = dg.MetadataValue.int(profile.blank_texts)
            meta["numeric_texts"] = dg.MetadataValue.int(profile.numeric_texts)
            if profile.distinct_labels is not None:
                meta["label_classes"] = dg.MetadataValue.int(profile.distinct_labels)
        context.add_output_metadata(
            meta
            | {
                "rows": dg.MetadataValue.int(table.num_rows),
                "bytes_read": dg.MetadataValue.int(loaded.bytes_ if loaded else 0),
                "bytes_written": dg.MetadataValue.int(path.stat().st_size),
                "arrow_bytes": dg.MetadataValue.int(table.nbytes),
                "load_duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
                "source": config.source,
                "path": dg.MetadataValue.path(handle.path),
            }
        )
        return handle
