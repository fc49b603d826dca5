"""A tiny code location for the load suite: metered assets that burn a little CPU, write a file and
consume each other, so every run produces materialization, energy, transfer, storage and lineage
facts through the same `accounted()` bridge the product's assets use."""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition
# time and refuses the string "dg.AssetExecutionContext".
import dagster as dg

from pipelines.accounting import accounted
from pipelines.io_manager import AtomicFilesystemIOManager
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle


def _burn(n: int) -> int:
    return sum(i * i for i in range(n))


@dg.asset
def load_source(context: dg.AssetExecutionContext, footprint: FootprintHomeResource) -> ArtifactHandle:
    with accounted(context, footprint, heartbeat_s=0.5) as rec:
        _burn(300_000)
        out = footprint.home().artifacts_dir / "load_source" / f"{rec.materialization_id}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("x" * 10_000)
        rec.add_transfer(
            bytes_=10_000, duration_s=0.001, direction="write", endpoint_kind="file", scope="local"
        )
        rec.add_storage(out, kind="dataset")
        return rec.handle(out, rows=1)


@dg.asset
def load_sink(
    context: dg.AssetExecutionContext, footprint: FootprintHomeResource, load_source: ArtifactHandle
) -> ArtifactHandle:
    with accounted(context, footprint, upstream=[load_source], heartbeat_s=0.5) as rec:
        _burn(300_000)
        return rec.handle(load_source.local_path, rows=1)


@dg.definitions
def defs() -> dg.Definitions:
    # in-process executor: one Python process per run (not one per step), so 8 concurrent runs fit
    # on 2 cores; the runs still race each other on the batch directory, the warehouse and the I/O
    # manager's one file per asset (atomic writes: a reader never sees a half-written value).
    return dg.Definitions(
        assets=[load_source, load_sink],
        resources={"footprint": FootprintHomeResource(), "io_manager": AtomicFilesystemIOManager()},
        executor=dg.in_process_executor,
    )
