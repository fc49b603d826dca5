"""Reading what the report shows: sync pending facts (bounded), open the warehouse read-only and
select the lineage of exactly one materialization from the analyst views.

A locked warehouse is never fatal: the report says why its figures may be incomplete (or absent) and
what to do, and shows what is there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources

import duckdb
import pandas as pd

from warehouse.batches import pending_batches
from warehouse.connection import WarehouseError, WarehouseLockedError, WarehouseMissingError, connect
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.upload import configured_store

log = logging.getLogger(__name__)

DEFAULT_SYNC_WAIT_S = 10.0
DEFAULT_READ_WAIT_S = 30.0


@dataclass
class ReportData:
    """The lineage of one materialization, as the warehouse views price it."""

    materialization_id: str
    lineage_ids: list[str] = field(default_factory=list)
    per_asset: pd.DataFrame = field(default_factory=pd.DataFrame)
    end_to_end: pd.DataFrame = field(default_factory=pd.DataFrame)
    data_requirement: pd.DataFrame = field(default_factory=pd.DataFrame)
    energy_by_device: pd.DataFrame = field(default_factory=pd.DataFrame)
    labeling_spend: pd.DataFrame = field(default_factory=pd.DataFrame)
    labeling_burndown: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)  # model_quality: the model, its baselines
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)  # model_vs_baseline
    comparison_per_class: pd.DataFrame = field(default_factory=pd.DataFrame)
    baseline_footprint: pd.DataFrame = field(default_factory=pd.DataFrame)  # asset_footprint of baselines
    notices: list[str] = field(default_factory=list)
    pending_batches: int = 0

    @property
    def has_figures(self) -> bool:
        return not self.per_asset.empty


def named_queries() -> dict[str, str]:
    """The `-- name: x` blocks of queries.sql."""
    text = resources.files("assets.report").joinpath("queries.sql").read_text()
    out: dict[str, str] = {}
    name: str | None = None
    for line in text.splitlines():
        if line.startswith("-- name:"):
            name = line.removeprefix("-- name:").strip()
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def sync_for_report(home: FootprintHome, *, wait_s: float) -> tuple[int, list[str]]:
    """Merge pending batches, waiting at most `wait_s`. Returns (batches still pending, notices)."""
    notices: list[str] = []
    try:
        result = sync(home, wait_s=wait_s)
    except WarehouseLockedError:
        left = len(pending_batches(home))
        notices.append(
            f"Warehouse locked by another process for {wait_s:g} s (an open analyst session or a sync): "
            f"{left} fact batches stay pending under {home.pending_dir} and are NOT in these figures. "
            "Close the other session (or wait for it) and re-materialize footprint_report."
        )
        return left, notices
    if result.quarantined:
        notices.append(
            f"{len(result.quarantined)} corrupt fact batches were quarantined under {home.quarantine_dir} "
            "(each has a REASON.txt); their facts are not in these figures."
        )
    return result.pending_left, notices


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def load_report_data(
    home: FootprintHome,
    materialization_id: str,
    *,
    sync_wait_s: float = DEFAULT_SYNC_WAIT_S,
    read_wait_s: float = DEFAULT_READ_WAIT_S,
) -> ReportData:
    """Everything the report shows about `materialization_id` and its upstream lineage. With a remote
    store the step runs on a machine without the warehouse: the figures come from the fact log in the
    store (`warehouse.lake`), priced with the configured rate card by the same views."""
    data = ReportData(materialization_id=materialization_id)
    if not configured_store(home).local:
        return _from_lake(home, data)
    data.pending_batches, data.notices = sync_for_report(home, wait_s=sync_wait_s)
    try:
        con = connect(home, read_only=True, wait_s=read_wait_s)
    except WarehouseLockedError as err:
        data.notices.append(f"No figures: {err}. Re-materialize footprint_report once the warehouse is free.")
        return data
    except WarehouseMissingError as err:
        data.notices.append(f"No figures: {err}.")
        return data
    try:
        _select_lineage(con, data)
    except duckdb.CatalogException as err:
        raise WarehouseError(
            f"the warehouse at {home.warehouse_path} lacks a table or view the report reads ({err}); "
            "run `footprint sync` to create the analyst views"
        ) from err
    finally:
        con.close()
    if not data.has_figures:
        data.notices.append(
            f"The warehouse holds no priced facts for materialization {materialization_id} "
            "(its batches may still be pending)."
        )
    return data


def _from_lake(home: FootprintHome, data: ReportData) -> ReportData:
    from warehouse.lake import insert_lake
    from warehouse.price_model import open_in_memory
    from warehouse.ratecard import configured_card_path, read_rate_card
    from warehouse.views import rebuild_derived

    card = read_rate_card(configured_card_path())
    con = open_in_memory(card)
    try:
        read = insert_lake(con, home)
        rebuild_derived(con)
        _select_lineage(con, data)
    finally:
        con.close()
    data.notices.append(
        f"Figures from the fact log in the store ({read.batches} batches, {read.facts:,} facts), priced with "
        f"the rate card {card.name}; the warehouse may hold other card versions (`footprint report` there)."
    )
    if read.incomplete:
        data.notices.append(f"{read.incomplete} batches were still uploading and are NOT in these figures.")
    if not data.has_figures:
        data.notices.append(f"The store holds no facts for materialization {data.materialization_id}.")
    return data


def _select_lineage(con: duckdb.DuckDBPyConnection, data: ReportData) -> None:
    q = named_queries()
    con.execute(q["lineage"], [data.materialization_id])
    data.lineage_ids = [r[0] for r in con.execute("SELECT materialization_id FROM report_lineage").fetchall()]
    data.per_asset = _frame(con, q["per_asset"])
    data.end_to_end = _frame(con, q["end_to_end"], [data.materialization_id])
    data.data_requirement = _frame(con, q["data_requirement"])
    data.energy_by_device = _frame(con, q["energy_by_device"])
    data.labeling_spend = _frame(con, q["labeling_spend"])
    data.labeling_burndown = _frame(con, q["labeling_burndown"])
    mid = data.materialization_id
    data.quality = _frame(con, q["quality"], [mid, mid])
    data.comparison = _frame(con, q["comparison"], [mid])
    data.comparison_per_class = _frame(con, q["comparison_per_class"], [mid])
    data.baseline_footprint = _frame(con, q["baseline_footprint"], [mid])
