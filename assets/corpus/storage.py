"""Arrow schemas of the corpus artifacts and their atomic publication.

raw_corpus  (RAW_SCHEMA):   row_id, text, source_label, gold_label
clean_corpus (CLEAN_SCHEMA): see `assets.corpus.clean`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.home import FootprintHome, make_private_dir

# small row groups: a reader holds one decompressed row group per column, so this bounds its memory
ROW_GROUP_ROWS = 65_536

RAW_SCHEMA = pa.schema(
    [
        pa.field("row_id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("source_label", pa.string()),
        pa.field("gold_label", pa.string()),
    ]
)

CLEAN_SCHEMA = pa.schema(
    [
        pa.field("row_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("gold_label", pa.string()),
        pa.field("source_label", pa.string()),
        pa.field("text_chars", pa.int32(), nullable=False),
    ]
)


def artifact_path(home: FootprintHome, asset_key: str, materialization_id: str) -> Path:
    """$FOOTPRINT_HOME/artifacts/<asset>/<materialization_id>.parquet (the directory is created)."""
    folder = make_private_dir(home.artifacts_dir / asset_key.replace("/", "__"))
    return folder / f"{materialization_id}.parquet"


@contextlib.contextmanager
def publishing(final_path: Path) -> Iterator[Path]:
    """Yield a temp path beside `final_path`; rename it into place only if the block succeeds.

    A failed block leaves nothing at `final_path` (no half-written artifact is ever published)."""
    tmp = final_path.with_name(f".tmp-{final_path.name}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        os.replace(tmp, final_path)
    finally:
        tmp.unlink(missing_ok=True)


def write_table(table: pa.Table, final_path: Path, schema: pa.Schema) -> None:
    """Write `table` (cast to `schema`) as Parquet at `final_path`, atomically."""
    with publishing(final_path) as tmp:
        pq.write_table(
            table.select(schema.names).cast(schema), tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS
        )
