"""Idempotency: re-materialising assets, re-running a sync and re-loading the same batches never change
the warehouse's numbers for past materializations (asset_footprint compared exactly, every column)."""

from __future__ import annotations

import shutil
from typing import Any

import dagster as dg
import pytest

from assets.corpus.clean import clean_corpus
from assets.corpus.raw import raw_corpus
from pipelines.resources import FootprintHomeResource
from tests.reliability.helpers import footprint_snapshot, rows
from tests.reliability.metered_defs import load_sink, load_source
from tests.warehouse_holder import hold_warehouse
from warehouse.batches import pending_batches
from warehouse.home import FootprintHome
from warehouse.loader import sync

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CONFIG = {"ops": {"raw_corpus": {"config": {"rows": 200}}}}


def _materialize(home: FootprintHome) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [raw_corpus, clean_corpus, load_source, load_sink],
        resources={"footprint": FootprintHomeResource(root=str(home.root), heartbeat_s=0.5)},
        run_config=CONFIG,
    )
    assert result.success
    return result


def _same(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], what: str) -> None:
    changed = {m: (row, after.get(m)) for m, row in before.items() if after.get(m) != row}
    assert not changed, f"{what} changed past materializations: {changed}"


def test_rematerialise_resync_and_reload_change_no_past_number(home: FootprintHome) -> None:
    _materialize(home)
    sync(home)
    first = footprint_snapshot(home)
    assert len(first) == 4 and {r["status"] for r in first.values()} == {"success"}

    # 1. a sync with nothing new, twice
    assert sync(home).loaded_batches == 0 and sync(home).loaded_batches == 0
    _same(first, footprint_snapshot(home), "re-running sync")

    # 2. re-materialise every asset while the warehouse is held (steps never open it anyway), so the
    #    batches stay pending and can be kept after loading (keep_loaded) for step 3
    with hold_warehouse(home.warehouse_path):
        _materialize(home)
    second_batches = [b.name for b in pending_batches(home)]
    n_pending = len(second_batches)
    assert n_pending >= 8, "each materialization publishes at least a begin batch and its window's ticks"
    res = sync(home, keep_loaded=True)
    assert res.loaded_batches == n_pending and not res.quarantined
    second = footprint_snapshot(home)
    assert len(second) == 8
    _same(first, second, "re-materialising")
    facts_before = rows(home, "SELECT sum(fact_count), count(*) FROM loaded_batch")

    # 3. the same batches delivered again (e.g. restored from a backup into pending/)
    for name in second_batches:
        shutil.copytree(home.loaded_dir / name, home.pending_dir / name)
    again = sync(home)
    assert again.skipped_batches == n_pending and again.loaded_batches == 0 and not again.quarantined
    assert not pending_batches(home)
    _same(second, footprint_snapshot(home), "re-loading the same batches")
    assert rows(home, "SELECT sum(fact_count), count(*) FROM loaded_batch") == facts_before
    for table in (
        "materialization",
        "meter_window",
        "device_interval",
        "window_usage",
        "transfer",
        "lineage_edge",
    ):
        assert rows(home, f"SELECT count(*) - count(DISTINCT fact_id) FROM {table}") == [(0,)], table
