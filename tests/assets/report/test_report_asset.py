"""`footprint_report` materialized in-process by Dagster, with a stub `finetuned_model` that hands it
the finetuned materialization of a synthetic run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from assets.report import definitions
from pipelines.resources import FootprintHomeResource
from warehouse.artifacts import ArtifactHandle
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync


def _stub_finetuned(handle: ArtifactHandle) -> dg.AssetsDefinition:
    @dg.asset(name="finetuned_model")
    def finetuned_model() -> ArtifactHandle:
        return handle

    return finetuned_model


def test_materialized_report_is_scoped_accounted_and_described(home: FootprintHome, two_runs: tuple) -> None:
    first, second = two_runs
    handle = ArtifactHandle("finetuned_model", first.finetuned_id, "/synthetic/finetuned_model", 2_000_000)
    result = dg.materialize(
        [_stub_finetuned(handle), *definitions()],
        resources={"footprint": FootprintHomeResource(root=str(home.root))},
        selection=["finetuned_model", "footprint_report"],
    )
    assert result.success
    mat = next(
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("footprint_report")
    )
    meta: dict[str, Any] = dict(mat.metadata)
    assert meta["report/for_materialization_id"].value == first.finetuned_id
    assert meta["report/lineage_materializations"].value == 6
    tables = meta["report/tables"].value
    assert "### Per asset (this lineage)" in tables and "pretrained_model" in tables
    assert first.finetuned_id not in tables  # ids are in the HTML facts, the tables show asset keys
    assert meta["report/charts"].value.count("data:image/png;base64,") == 3
    assert meta["end_to_end/cost_usd"].value > 0
    assert "footprint/energy_kwh" in meta  # the report itself is accounted
    html = Path(meta["report/html"].value)
    assert html.exists() and html.parent.parent == home.reports_dir
    assert (home.reports_dir / "latest").resolve() == html.parent.resolve()
    assert second.finetuned_id not in html.read_text()

    report_mid = meta["footprint/materialization_id"].value
    sync(home)  # the loader merges the report step's last facts (a step never merges)
    con = connect(home, read_only=True)
    try:
        edges = con.execute(
            "SELECT upstream_materialization_id FROM lineage_edge WHERE materialization_id = ?", [report_mid]
        ).fetchall()
        kinds = con.execute("SELECT kind FROM storage WHERE materialization_id = ?", [report_mid]).fetchall()
    finally:
        con.close()
    assert edges == [(first.finetuned_id,)]
    assert kinds == [("report",)]
