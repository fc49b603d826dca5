"""price_materialization: same figures as the warehouse views, computed while the file is locked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.warehouse_holder import hold_warehouse
from warehouse.batches import write_batch
from warehouse.connection import connect
from warehouse.facts import EnergyReading, FactBatch, Materialization, MaterializationOutcome, PersonTime
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.pricing import PricingError, price_materialization

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def facts(mid: str) -> list[FactBatch]:
    first = FactBatch().add(Materialization(mid, "run", "asset", T0))
    last = FactBatch().add(
        EnergyReading(mid, "w", 1, True, "cpu", 0, "cpu", "h", 3.6e6, 3600.0, "measured", "t", T0),
        PersonTime(mid, "someone", "eng", 1800.0),
        MaterializationOutcome(mid, "success", T0 + dt.timedelta(hours=1)),
    )
    return [first, last]


def test_prices_from_written_batches_while_a_writer_holds_the_lock(
    home: FootprintHome, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOOTPRINT_RATE_CARD", str(card_path))
    sync(home)
    batches = facts("m1")
    with hold_warehouse(home.warehouse_path, read_only=False):
        for b in batches:
            write_batch(home, b)
        priced = price_materialization(home, "m1", written=batches)
    # test card: 1 kWh x pue 1.5; 1 cpu-hour x $1; 0.5 h x $50 default person rate; 1.5 kWh x $0.2
    assert priced.energy_kwh == pytest.approx(1.5) and priced.co2e_kg == pytest.approx(0.6)
    assert priced.cost_usd == pytest.approx(1.0 + 25.0 + 0.3) and priced.human_hours == pytest.approx(0.5)
    assert priced.energy_method == "measured" and priced.duration_s == pytest.approx(3600.0)
    assert "| **cost total** | **$26.3000** |" in priced.markdown() and "test" in priced.rate_card


def test_matches_the_warehouse_view_and_reads_pending_facts(home: FootprintHome) -> None:
    batches = facts("m2")
    for b in batches:
        write_batch(home, b)
    before_sync = price_materialization(home, "m2")  # from pending batches only (no warehouse yet)
    sync(home)
    after_sync = price_materialization(home, "m2")  # from the warehouse
    con = connect(home, read_only=True)
    try:
        row = con.execute("SELECT cost_usd, co2e_kg FROM asset_footprint WHERE materialization_id = 'm2'")
        cost_usd, co2e_kg = row.fetchall()[0]
    finally:
        con.close()
    assert before_sync.cost_usd == pytest.approx(cost_usd) == after_sync.cost_usd
    assert before_sync.co2e_kg == pytest.approx(co2e_kg)


def test_unknown_materialization_is_a_clear_error(home: FootprintHome) -> None:
    with pytest.raises(PricingError, match="no materialization fact for 'nope'"):
        price_materialization(home, "nope", written=[])
