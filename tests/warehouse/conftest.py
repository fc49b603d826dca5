"""Helpers for the warehouse suite: a hand-checkable rate card and an in-memory warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from warehouse.facts import FactBatch
from warehouse.price_model import insert_facts, open_in_memory
from warehouse.ratecard import read_rate_card
from warehouse.views import rebuild_derived

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

TEST_CARD = """\
name: test
profile: on_prem
effective_from: 2020-01-01T00:00:00Z
extends: none
source: "round test figures"
rates:
  device_usd_per_hour:
    cpu: {value: 1.0}
    gpu: {value: 3.0}
    NVIDIA H100: {value: 4.0}
    ram: {value: 0}
  cpu_watts_per_thread:
    default: {min: 1.0, max: 4.0}
    test-family: {min: 0.5, max: 2.0}
  ram_watts_per_gb: {value: 0.5}
  electricity_usd_per_kwh: {value: 0.2}
  pue: {value: 1.5}
  grid_gco2e_per_kwh: {value: 400, lifecycle: true}
  data_kwh_per_gb: {value: 0.05, year: 2015}
  data_kwh_per_gb_halving_years: {value: 0}
  storage_usd_per_gb_month: {value: 0.02}
  storage_kwh_per_gb_month: {value: 0.001}
  storage_holding_months: {value: 12}
  transfer_usd_per_gb: {value: 0.1}
  annotator_usd_per_hour:
    default: {value: 20}
    alice: {value: 30}
  person_usd_per_hour:
    default: {value: 50}
    bob: {value: 100}
"""


@pytest.fixture
def card_path(tmp_path: Path) -> Path:
    path = tmp_path / "test-card.yaml"
    path.write_text(TEST_CARD)
    return path


MemWarehouse = Callable[..., duckdb.DuckDBPyConnection]


@pytest.fixture
def mem_warehouse(card_path: Path) -> MemWarehouse:
    """mem_warehouse(*batches) -> an in-memory warehouse priced with the test card."""

    def make(*batches: FactBatch) -> duckdb.DuckDBPyConnection:
        con = open_in_memory(read_rate_card(card_path))
        for batch in batches:
            insert_facts(con, batch.to_tables())
        rebuild_derived(con)
        return con

    return make


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def query() -> Callable[..., list[dict[str, Any]]]:
    return rows
