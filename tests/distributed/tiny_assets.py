"""Two tiny assets for the Dagster-on-Postgres tests, loaded by `dagster asset materialize -f`.

`numbers` writes a Parquet object to the store, `doubled` reads it back and writes its own: the
processes share only the store (FOOTPRINT_STORE=s3://bucket/prefix, AWS_* keys) and the Postgres
instance (DAGSTER_PG_URL via $DAGSTER_HOME/dagster.yaml), no local path.
"""

from __future__ import annotations

import os

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def _store() -> tuple[pafs.S3FileSystem, str]:
    url = os.environ["FOOTPRINT_STORE"]
    if not url.startswith("s3://"):
        raise ValueError(f"FOOTPRINT_STORE must be an s3:// URL here, got {url!r}")
    fs = pafs.S3FileSystem(
        endpoint_override=os.environ["AWS_ENDPOINT_URL"],
        scheme="http",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ["AWS_REGION"],
    )
    return fs, url.removeprefix("s3://").rstrip("/")


@dg.asset
def numbers() -> dg.MaterializeResult:
    fs, root = _store()
    table = pa.table({"n": list(range(10))})
    pq.write_table(table, f"{root}/numbers.parquet", filesystem=fs)
    return dg.MaterializeResult(metadata={"rows": table.num_rows, "pid": os.getpid()})


@dg.asset(deps=[numbers])
def doubled() -> dg.MaterializeResult:
    fs, root = _store()
    table = pq.read_table(f"{root}/numbers.parquet", filesystem=fs)
    out = pa.table({"n2": pc.multiply(table.column("n"), 2)})
    pq.write_table(out, f"{root}/doubled.parquet", filesystem=fs)
    return dg.MaterializeResult(metadata={"rows": out.num_rows, "sum": int(pc.sum(out.column("n2")).as_py())})


defs = dg.Definitions(assets=[numbers, doubled])
