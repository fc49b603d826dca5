"""price_materialization: same figures as the warehouse views, from the step's own facts and tick batches,
without opening the warehouse (computed while another process holds it)."""

from __future__ import annotations

import datetime as dt
import shutil
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


def test_matches_the_warehouse_view(home: FootprintHome) -> None:
    batches = facts("m2")
    for b in batches:
        write_batch(home, b)
    before_sync = price_materialization(home, "m2", written=batches)
    sync(home)
    after_sync = price_materialization(home, "m2", written=batches)
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


def test_ledger_facts_split_across_loaded_and_pending_price_as_the_view(home: FootprintHome) -> None:
    """A step's window shares host ticks with another step and a service: some ticks are merged (kept
    in loaded/), the last one still pending; they are found by batch id. The price sees every window
    of those ticks, as the warehouse will; a tick batch found nowhere makes the figures unknown."""
    from tests.warehouse.ledger_facts import Device, tick, window

    merged, pending = FactBatch(), FactBatch()
    merged.add(Materialization("a", "run", "a", T0), Materialization("b", "run", "b", T0))
    window(merged, "wa", "a", uses_services="label-studio")
    window(merged, "wb", "b", uses_services="label-studio")
    window(merged, "ls", None, role="service", name="label-studio")
    cpu = [Device(power_model="amd-epyc-milan")]
    usage = {"wa": {("cpu", 0): 2.0}, "wb": {("cpu", 0): 1.0}, "ls": {("cpu", 0): 4.0}}
    tick(merged, start=T0, duration_s=10, devices=cpu, use=usage)
    write_batch(home, merged)
    sync(home, keep_loaded=True)
    tick(
        _with_windows(pending, merged),
        start=T0 + dt.timedelta(seconds=10),
        duration_s=10,
        devices=cpu,
        use=usage,
    )
    pending.rows.pop("meter_window")  # declared in the merged batch already
    pending.add(MaterializationOutcome("a", "success", T0 + dt.timedelta(seconds=20)))
    write_batch(home, pending)
    ticks = [merged.batch_id, pending.batch_id]
    priced = price_materialization(home, "a", tick_batch_ids=ticks)
    sync(home, keep_loaded=True)
    con = connect(home, read_only=True)
    try:
        want = con.execute("SELECT energy_kwh, cost_usd FROM asset_footprint WHERE materialization_id = 'a'")
        energy_kwh, cost_usd = want.fetchall()[0]
    finally:
        con.close()
    # a's own 2 thread-s and half of Label Studio's 4, twice, at Milan's 1.9573 W per busy thread
    assert energy_kwh == pytest.approx(1.14 * 2 * (2 + 2) * 1.9573 / 3.6e6)
    assert priced.energy_kwh == pytest.approx(energy_kwh) and priced.cost_usd == pytest.approx(cost_usd)
    assert priced.unknown_parts == 0
    shutil.rmtree(home.loaded_dir / merged.batch_id)  # pruned: its ticks are unknown, never left out
    own = FactBatch().add(Materialization("a", "run", "a", T0))  # as the recorder holds it in `written`
    pruned = price_materialization(home, "a", written=[own], tick_batch_ids=ticks)
    assert pruned.energy_kwh is None and pruned.cost_usd is None and pruned.co2e_kg is None
    assert pruned.unknown_parts == 1 and merged.batch_id in (pruned.unknown_detail or "")
    assert 0 < (pruned.energy_kwh_at_least or 0) < energy_kwh  # the tick still found


def _with_windows(batch: FactBatch, source: FactBatch) -> FactBatch:
    """`batch` that knows `source`'s windows (ledger_facts.tick looks up their materializations)."""
    batch.rows["meter_window"] = list(source.rows["meter_window"])
    return batch
