"""Arrow schemas of the corpus artifacts and their atomic publication (`warehouse.atomic`).

raw_corpus  (RAW_SCHEMA):   row_id, text, source_label, gold_label
clean_corpus (CLEAN_SCHEMA): see `assets.corpus.clean`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.atomic import atomic_file
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


def write_table(table: pa.Table, final_path: Path, schema: pa.Schema) -> None:
    """Write `table` (cast to `schema`) as Parquet at `final_path`, atomically."""
    with atomic_file(final_path) as tmp:
        pq.write_table(
            table.select(schema.names).cast(schema), tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS
        )
