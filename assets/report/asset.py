"""The `footprint_report` asset: the footprint of exactly the lineage it was handed.

Its input is the `ArtifactHandle` of the `finetuned_model` materialization this run produced (or
loaded); the report walks `lineage_edge` up from that handle's materialization id, so it never
reports "the latest" of anything. The report itself is accounted like every other asset.

The report directory is written under the step's home (`reports/<name>/`, `reports/latest` pointing
at it: a local convenience only) and published to the store (`<store>/reports/<name>/` with a
remote store); the handle's path is its URL.
"""

from typing import Any

import dagster as dg

from assets.report.build import BuiltReport, build_report
from assets.report.data import DEFAULT_SYNC_WAIT_S
from assets.report.render import markdown_section
from pipelines.accounting import accounted
from pipelines.artifact_store import publish_handle
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle

UPSTREAM_KEY = "finetuned_model"


class FootprintReportConfig(dg.Config):  # type: ignore[misc]
    sync_wait_s: float = DEFAULT_SYNC_WAIT_S
    """How long to wait for the warehouse lock before reporting what is already loaded."""
    labeling_budget_usd: float | None = None
    """Labelling budget; when set, the burn-down also shows the budget left."""


def report_metadata(report: BuiltReport, directory_url: str | None = None) -> dict[str, Any]:
    """Markdown tables, charts (embedded PNGs), file paths (URLs with a remote store: `directory_url`)
    and numeric end-to-end totals."""
    charts_md = "\n\n".join(f"**{c.title}**\n\n![{c.name}]({c.data_uri()})" for c in report.charts)
    directory = directory_url or str(report.directory)
    html = f"{directory}/{report.html_path.relative_to(report.directory).as_posix()}"
    meta: dict[str, Any] = {
        "report/html": dg.MetadataValue.path(html),
        "report/directory": dg.MetadataValue.path(directory),
        "report/for_materialization_id": report.data.materialization_id,
        "report/lineage_materializations": dg.MetadataValue.int(len(report.data.lineage_ids)),
        "report/pending_batches": dg.MetadataValue.int(report.data.pending_batches),
        "report/tables": dg.MetadataValue.md("\n\n".join(markdown_section(s) for s in report.sections)),
        "report/charts": dg.MetadataValue.md(charts_md),
    }
    if report.data.notices:
        meta["report/notices"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in report.data.notices))
    for name, value in report.totals.items():
        if value != value:  # NaN: unknown (its `_at_least` figure and unknown_parts are beside it)
            meta[f"end_to_end/{name}"] = dg.MetadataValue.null()
        elif name in ("bytes_moved", "unknown_parts"):
            meta[f"end_to_end/{name}"] = dg.MetadataValue.int(int(value))
        else:
            meta[f"end_to_end/{name}"] = dg.MetadataValue.float(value)
    return meta


@dg.asset(
    group_name="report",
    kinds={"html", "duckdb"},
    ins={UPSTREAM_KEY: dg.AssetIn(key=UPSTREAM_KEY)},
    description=(
        "Footprint of the fine-tuned model's whole lineage: per-asset and end-to-end tables, D = S + L "
        "per dataset, charts; also an HTML page under $FOOTPRINT_HOME/reports/ (reports/latest)."
    ),
)
def footprint_report(
    context: dg.AssetExecutionContext,
    config: FootprintReportConfig,
    footprint: FootprintHomeResource,
    finetuned_model: ArtifactHandle,
) -> ArtifactHandle:
    with accounted(context, footprint, upstream=[finetuned_model]) as rec:
        report = build_report(
            rec.home,
            materialization_id=finetuned_model.materialization_id,
            label=context.run.run_id[:8],
            sync_wait_s=config.sync_wait_s,
            labeling_budget_usd=config.labeling_budget_usd,
        )
        rec.add_storage(report.directory, kind="report")
        handle = publish_handle(
            rec, footprint, report.directory, for_materialization_id=finetuned_model.materialization_id
        )
        for notice in report.data.notices:
            context.log.warning(notice)
        where = (
            report.html_path
            if handle.path == str(report.directory)
            else f"{report.html_path} ({handle.path})"
        )
        context.log.info(f"footprint report written to {where}")
        context.add_output_metadata(report_metadata(report, handle.path))
        return handle
