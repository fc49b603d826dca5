"""Hand-computed checks of every analyst view column against the test card (conftest.TEST_CARD):
pue 1.5, grid 400 g/kWh, electricity $0.2/kWh, data 0.05 kWh/GB, cpu $1/h, gpu $3/h, H100 $4/h,
annotators $20/h (alice $30/h), people $50/h (bob $100/h), storage $0.02/GB-month and 0.001 kWh/GB-month
over 12 months, transfer $0.1/GB."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from warehouse.facts import (
    AnnotationWork,
    EnergyReading,
    FactBatch,
    LineageEdge,
    Materialization,
    MaterializationOutcome,
    PersonTime,
    Storage,
    Transfer,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
KWH_J = 3.6e6


def reading(
    mid: str,
    seq: int,
    kwh: float | None,
    seconds: float,
    *,
    kind: str = "cpu",
    name: str = "cpu0",
    method: str = "measured",
    window: str = "w",
    index: int = 0,
    at: dt.datetime = T0,
) -> EnergyReading:
    return EnergyReading(
        mid,
        f"{window}-{mid}",
        seq,
        False,
        kind,
        index,
        name,
        "host",
        None if kwh is None else kwh * KWH_J,
        seconds,
        method,
        "test",
        at,  # type: ignore[arg-type]
    )


def annotation(
    mid: str, aid: int, who: str, active_s: float, updated: dt.datetime, lead_s: float = 0.0
) -> AnnotationWork:
    return AnnotationWork(
        mid, aid, aid, who, "proj", lead_s or active_s, active_s, 300.0, False, "x", "", T0, updated
    )


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.fixture
def main_facts() -> FactBatch:
    """Materialization M (1 h, success) with upstream U; the numbers the tests below work out by hand."""
    b = FactBatch()
    b.add(Materialization("U", "run", "raw", T0 - H), MaterializationOutcome("U", "success", T0))
    b.add(Materialization("M", "run", "labels", T0), MaterializationOutcome("M", "success", T0 + H))
    b.add(LineageEdge("M", "U", "raw"))
    # heartbeat 1 kWh then final 2 kWh: only the final one counts -> device energy 2 kWh, 3600 s
    b.add(reading("M", 1, 1.0, 1800), reading("M", 2, 2.0, 3600))
    b.add(Transfer("M", 10 * 10**9, 5.0, "download", "hub", "network", T0))  # 10 GB network -> E_data
    b.add(Transfer("M", 5 * 10**9, 5.0, "read", "file", "local", T0))  # 5 GB local: bytes only
    b.add(Storage("M", 100 * 10**9, "/data/labels", "dataset", T0))
    # annotation 1: two versions, newest counts (1 h at alice's $30); annotation 2: carol at default $20
    b.add(annotation("M", 1, "alice", 1800, T0), annotation("M", 1, "alice", 3600, T0 + H, lead_s=5400))
    b.add(annotation("M", 2, "carol", 1800, T0))
    b.add(annotation("U", 3, "alice", 3600, T0))
    b.add(PersonTime("M", "bob", "eng", 7200), PersonTime("M", "dave", "review", 3600))
    return b


def test_asset_footprint_hand_computed(mem_warehouse, query, main_facts) -> None:
    con = mem_warehouse(main_facts)
    m = query(con, "SELECT * FROM asset_footprint WHERE materialization_id = 'M'")[0]
    assert m["status"] == "success" and m["run_id"] == "run" and m["asset_key"] == "labels"
    assert m["duration_s"] == approx(3600.0)
    assert m["energy_method"] == "measured"
    assert m["device_kwh"] == approx(2.0)
    assert m["e_compute_kwh"] == approx(3.0)  # 2 kWh x pue 1.5
    assert m["e_data_kwh"] == approx(0.5)  # 10 GB x 0.05 kWh/GB (local 5 GB excluded)
    assert m["energy_kwh"] == approx(3.5)
    assert m["co2e_kg"] == approx(1.4)  # 3.5 kWh x 400 g/kWh
    assert m["bytes_moved"] == 15 * 10**9
    assert m["human_hours"] == approx(1.5 + 3.0)  # annotations 1 h + 0.5 h; people 2 h + 1 h
    assert m["cost_person_usd"] == approx(2 * 100 + 1 * 50)
    assert m["cost_hardware_usd"] == approx(1.0)  # 1 cpu-hour x $1
    assert m["cost_energy_usd"] == approx(0.6)  # E_compute 3 kWh x $0.2
    assert m["cost_labeling_usd"] == approx(1 * 30 + 0.5 * 20)
    assert m["cost_usd"] == approx(250 + 1.0 + 40 + 0.6)
    assert m["rate_card_version"] == 1


def test_energy_methods_models_and_missing_rates(mem_warehouse, query) -> None:
    b = FactBatch()
    for mid in ("mixed", "unavail", "norate", "est"):
        b.add(Materialization(mid, "run", mid, T0), MaterializationOutcome(mid, "success", T0 + H))
    # an H100 (model rate $4/h) estimated and another gpu (kind rate $3/h) measured, half an hour each
    b.add(reading("mixed", 1, 1.0, 1800, kind="gpu", name="NVIDIA H100", method="estimated", index=0))
    b.add(reading("mixed", 1, 1.0, 1800, kind="gpu", name="Other GPU", index=1))
    b.add(reading("unavail", 1, None, 3600, method="unavailable"))
    b.add(reading("norate", 1, 1.0, 3600, kind="tpu", name="tpu0"))
    b.add(reading("est", 1, 1.0, 3600, method="estimated"))
    b.add(reading("est", 1, 0.5, 3600, kind="ram", name="ram", method="estimated"))
    con = mem_warehouse(b.add())
    got = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint")}
    assert got["mixed"]["energy_method"] == "mixed"
    assert got["mixed"]["cost_hardware_usd"] == approx(0.5 * 4 + 0.5 * 3)
    assert got["mixed"]["energy_kwh"] == approx(2 * 1.5)
    assert got["unavail"]["energy_method"] == "unavailable"
    assert got["unavail"]["energy_kwh"] is None and got["unavail"]["cost_hardware_usd"] == approx(1.0)
    assert (
        got["unavail"]["unknown_parts"] == 1
        and "cpu:0 energy unavailable" in got["unavail"]["unknown_detail"]
    )
    assert got["unavail"]["cost_usd"] is None and got["unavail"]["cost_usd_at_least"] == approx(1.0)
    assert got["norate"]["cost_hardware_usd"] is None and got["norate"]["cost_usd"] is None  # no silent 0
    assert got["norate"]["unknown_parts"] == 1 and "tpu:0 has no price" in got["norate"]["unknown_detail"]
    assert got["est"]["energy_method"] == "estimated"
    assert got["est"]["energy_kwh"] == approx(1.5 * 1.5) and got["est"]["cost_hardware_usd"] == approx(1.0)


def test_no_gpu_reading_is_neither_billed_nor_mixed(mem_warehouse, query) -> None:
    """A CPU-only host reports its missing GPU as index -1 'unavailable': no GPU-hours are charged
    and the CPU estimate stays 'estimated' (not 'mixed')."""
    b = FactBatch().add(Materialization("C", "run", "c", T0), MaterializationOutcome("C", "success", T0 + H))
    b.add(reading("C", 1, 1.0, 3600, method="estimated"))
    b.add(reading("C", 1, None, 3600, kind="gpu", name="gpu", method="unavailable", index=-1))
    m = query(mem_warehouse(b), "SELECT * FROM asset_footprint")[0]
    assert m["energy_method"] == "estimated"
    assert m["cost_hardware_usd"] == approx(1.0)  # the cpu hour only; no $3 gpu hour
    assert m["energy_kwh"] == approx(1.5)


def test_unavailable_heartbeat_supersedes_a_measured_one(mem_warehouse, query) -> None:
    b = FactBatch().add(Materialization("X", "run", "x", T0), MaterializationOutcome("X", "success", T0 + H))
    b.add(reading("X", 1, 5.0, 600), reading("X", 2, None, 1200, method="unavailable"))
    m = query(mem_warehouse(b), "SELECT * FROM asset_footprint")[0]
    assert m["energy_kwh"] is None and m["energy_method"] == "unavailable" and m["unknown_parts"] == 1


def test_status_incomplete_and_failed(mem_warehouse, query) -> None:
    b = FactBatch()
    b.add(
        Materialization("inc", "run", "a", T0), reading("inc", 1, 1.0, 60, at=T0 + dt.timedelta(seconds=90))
    )
    b.add(Materialization("bad", "run", "b", T0), MaterializationOutcome("bad", "failed", T0 + H, "boom"))
    got = {r["materialization_id"]: r for r in query(mem_warehouse(b), "SELECT * FROM asset_footprint")}
    assert got["inc"]["status"] == "incomplete"
    assert got["inc"]["duration_s"] == approx(90.0)  # until the last heartbeat
    assert got["bad"]["status"] == "failed" and got["bad"]["duration_s"] == approx(3600.0)


def test_rate_card_in_force_and_repricing(mem_warehouse, query, tmp_path) -> None:
    from warehouse.ratecard import read_rate_card
    from warehouse.ratecard_store import install_rate_card

    b = FactBatch()
    for mid, start in (("old", T0.replace(year=2019)), ("jan", T0), ("jul", T0.replace(month=7))):
        b.add(Materialization(mid, "run", mid, start), MaterializationOutcome(mid, "success", start + H))
        b.add(reading(mid, 1, 2.0, 3600))
    con = mem_warehouse(b)
    card = tmp_path / "v2.toml"
    card.write_text(
        'effective_from = 2025-06-01T00:00:00Z\n[rates.pue]\nvalue = 2.0\nsource = "site audit"\n'
    )
    assert install_rate_card(con, read_rate_card(card)).version == 2
    got = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint")}
    assert got["old"]["rate_card_version"] == 1  # older than every card: the earliest card
    assert got["jan"]["rate_card_version"] == 1 and got["jan"]["energy_kwh"] == approx(3.0)
    assert got["jul"]["rate_card_version"] == 2
    # v2 extends the *default* card: pue 2.0, default grid 473 g/kWh
    assert got["jul"]["energy_kwh"] == approx(4.0) and got["jul"]["co2e_kg"] == approx(4.0 * 0.473)
    repriced = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint_at(2)")}
    assert repriced["jan"]["energy_kwh"] == approx(4.0) and repriced["jan"]["rate_card_version"] == 2


def test_end_to_end_diamond_by_hand(mem_warehouse, query) -> None:
    """A -> B, A -> C, B -> D, C -> D: A counted once in D; allocated: A split in halves."""
    b = FactBatch()
    for i, mid in enumerate("ABCD"):
        b.add(Materialization(mid, "run", mid, T0), MaterializationOutcome(mid, "success", T0 + H))
        b.add(reading(mid, 1, float(i + 1), 3600))  # device kWh 1, 2, 3, 4 -> E = 1.5, 3, 4.5, 6
    b.add(LineageEdge("B", "A", "A"), LineageEdge("C", "A", "A"), LineageEdge("B", "A", "A"))  # dup edge
    b.add(LineageEdge("D", "B", "B"), LineageEdge("D", "C", "C"))
    got = {r["materialization_id"]: r for r in query(mem_warehouse(b), "SELECT * FROM end_to_end_footprint")}
    assert got["D"]["energy_kwh"] == approx(1.5 + 3 + 4.5 + 6) and got["D"]["upstream_count"] == 3
    assert got["B"]["energy_kwh"] == approx(1.5 + 3)
    assert got["B"]["alloc_energy_kwh"] == approx(0.75 + 3) and got["C"]["alloc_energy_kwh"] == approx(
        0.75 + 4.5
    )
    assert got["D"]["alloc_energy_kwh"] == approx(15.0)  # the only final consumer carries the whole
    assert got["D"]["co2e_kg"] == approx(15.0 * 0.4) and got["D"]["cost_hardware_usd"] == approx(4.0)


def test_data_requirement_and_labeling_spend(mem_warehouse, query, main_facts) -> None:
    con = mem_warehouse(main_facts)
    d = query(con, "SELECT * FROM data_requirement WHERE materialization_id = 'M'")[0]
    assert d["s_bytes"] == 100 * 10**9 + 15 * 10**9
    assert d["s_usd"] == approx(100 * 0.02 * 12 + 10 * 0.1)
    assert d["s_kwh"] == approx(100 * 0.001 * 12 * 1.5 + 0.5)
    assert d["s_co2e_kg"] == approx(d["s_kwh"] * 0.4)
    assert d["l_hours"] == approx(1.5 + 1.0)  # its own annotations and upstream U's
    assert d["l_usd"] == approx(40 + 30)
    assert d["d_usd"] == approx(25 + 70) and d["d_kwh"] == approx(d["s_kwh"])
    spend = {r["annotator"]: r for r in query(con, "SELECT * FROM labeling_spend")}
    assert spend["alice"]["annotations"] == 2 and spend["alice"]["day"] == dt.date(2025, 1, 1)
    assert spend["alice"]["hours_active"] == approx(2.0) and spend["alice"]["hours_raw"] == approx(2.5)
    assert spend["alice"]["cost_usd"] == approx(60.0) and spend["carol"]["cost_usd"] == approx(10.0)
    total = query(con, "SELECT sum(cost_labeling_usd) AS t FROM asset_footprint")[0]["t"]
    assert sum(r["cost_usd"] for r in spend.values()) == approx(total)


def test_view_columns_are_the_contract(mem_warehouse, query, main_facts) -> None:
    con = mem_warehouse(main_facts)

    def cols(view: str) -> list[str]:
        return [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description or []]

    assert cols("asset_footprint")[:16] == [
        "materialization_id",
        "run_id",
        "asset_key",
        "status",
        "started_at",
        "duration_s",
        "energy_kwh",
        "energy_method",
        "co2e_kg",
        "bytes_moved",
        "human_hours",
        "cost_person_usd",
        "cost_hardware_usd",
        "cost_energy_usd",
        "cost_labeling_usd",
        "cost_usd",
    ]
    assert {"s_bytes", "s_usd", "s_kwh", "s_co2e_kg", "l_hours", "l_usd", "d_usd"} <= set(
        cols("data_requirement")
    )
    assert cols("labeling_spend") == [
        "annotator",
        "project",
        "day",
        "annotations",
        "skipped",
        "unknown_time",
        "hours_raw",
        "hours_active",
        "cost_usd",
        "hours_active_at_least",
        "cost_usd_at_least",
    ]
    at_least = {
        "energy_kwh_at_least",
        "co2e_kg_at_least",
        "cost_usd_at_least",
        "unknown_parts",
        "unknown_detail",
    }
    assert at_least <= set(cols("asset_footprint"))
    assert at_least - {"unknown_detail"} <= set(cols("end_to_end_footprint"))
    assert {"energy_kwh", "cost_usd", "alloc_cost_usd", "alloc_co2e_kg"} <= set(cols("end_to_end_footprint"))
