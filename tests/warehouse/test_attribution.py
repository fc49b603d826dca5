"""Attribution by example: re-estimation by a new card, the power model's fallback, a service charged to
the steps that use it, a GPU whose users are unknown, and network energy for the transfer's year."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.warehouse.ledger_facts import T0, Device, tick, window
from warehouse.facts import FactBatch, Materialization, MaterializationOutcome, Transfer
from warehouse.ratecard import read_rate_card
from warehouse.ratecard_store import install_rate_card


def mats(b: FactBatch, *mids: str, start: dt.datetime = T0) -> None:
    for mid in mids:
        b.add(Materialization(mid, "run", mid, start), MaterializationOutcome(mid, "success", start))


def card(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "v2.yaml"
    path.write_text("name: v2\nprofile: on_prem\neffective_from: 2030-01-01T00:00:00Z\nrates:\n" + body)
    return path


def test_a_card_with_other_cpu_watts_re_estimates_history_and_leaves_measured_alone(
    mem_warehouse, query, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    mats(b, "est", "meas")
    window(b, "we", "est", host="vm")
    window(b, "wm", "meas", host="metal")
    tick(b, host="vm", start=T0, duration_s=10, devices=[Device()], use={"we": {("cpu", 0): 6.0}})
    rapl = Device(method="measured")
    tick(b, host="metal", start=T0, duration_s=10, devices=[rapl], use={"wm": {("cpu", 0): 5.0}},
         energy_j={("cpu", 0): 100.0})  # fmt: skip
    con = mem_warehouse(b)
    before = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint")}
    assert before["est"]["device_kwh"] == pytest.approx(6 * 2.0 / 3.6e6)  # 6 busy thread-s x 2 W
    assert before["meas"]["device_kwh"] == pytest.approx(100 * 5 / 20 / 3.6e6)  # a quarter of 100 J
    v2 = install_rate_card(
        con,
        read_rate_card(
            card(tmp_path, "  cpu_watts_per_thread: {test-family: {min: 1, max: 5, source: lab}}\n")
        ),
    ).version
    after = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint_at(?)", [v2])}
    assert after["est"]["device_kwh"] == pytest.approx(6 * 5.0 / 3.6e6)  # re-estimated from the usage
    assert after["meas"]["device_kwh"] == pytest.approx(before["meas"]["device_kwh"])  # measured: unchanged
    detail = query(
        con, "SELECT device_energy_j FROM device_attribution WHERE party = 'unattributed' AND host = 'vm'"
    )
    assert detail[0]["device_energy_j"] == pytest.approx(6 * 2.0 + 14 * 0.5)  # in force: the first card


def test_an_unknown_processor_uses_the_fallback_and_says_so(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    mats(b, "x")
    window(b, "w", "x")
    tick(b, start=T0, duration_s=10, devices=[Device(power_model="unknown")], use={"w": {("cpu", 0): 3.0}})
    [fp] = query(mem_warehouse(b), "SELECT * FROM asset_footprint")
    assert fp["device_kwh"] == pytest.approx(3 * 4.0 / 3.6e6)  # the card's default: 4 W per busy thread
    assert fp["unknown_parts"] == 0 and "default" in fp["energy_note"]


def test_a_service_is_charged_to_the_steps_that_use_it_while_they_run(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    """Label Studio used 4 thread-seconds in the first interval, while two annotation steps that use it
    ran, and 2 in the second, when nothing that uses it ran: half each, then its own line."""
    b = FactBatch()
    mats(b, "label_tasks", "annotations", "train")
    window(b, "lt", "label_tasks", uses_services="label-studio")
    window(b, "an", "annotations", uses_services="label-studio")
    window(b, "tr", "train")
    window(b, "ls", None, role="service", name="label-studio")
    cpu = [Device()]
    first = {"lt": 1.0, "an": 1.0, "tr": 2.0, "ls": 4.0}
    tick(b, start=T0, duration_s=10, devices=cpu, use={w: {("cpu", 0): u} for w, u in first.items()})
    later = T0 + dt.timedelta(seconds=10)
    tick(b, start=later, duration_s=10, devices=cpu, use={"tr": {("cpu", 0): 5.0}, "ls": {("cpu", 0): 2.0}})
    con = mem_warehouse(b)
    usage = {
        (r["materialization_id"], r["service"]): r["power_use"]
        for r in query(con, "SELECT materialization_id, service, power_use FROM device_usage")
    }
    assert usage == {
        ("label_tasks", ""): 1.0,
        ("label_tasks", "label-studio"): 2.0,
        ("annotations", ""): 1.0,
        ("annotations", "label-studio"): 2.0,
        ("train", ""): 7.0,
    }
    lines = query(con, "SELECT party, service, device_s FROM host_unattributed WHERE party = 'service'")
    assert lines == [{"party": "service", "service": "label-studio", "device_s": pytest.approx(10 * 2 / 20)}]


def test_a_gpu_whose_users_are_unknown_is_unknown_not_zero(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    mats(b, "train")
    window(b, "w", "train")
    gpu = Device("gpu", 0, "NVIDIA H100", 1.0, "measured", split="unknown")
    tick(b, start=T0, duration_s=10, devices=[Device(), gpu],
         use={"w": {("cpu", 0): 2.0, ("gpu", 0): None}}, energy_j={("gpu", 0): 3000.0})  # fmt: skip
    [fp] = query(mem_warehouse(b), "SELECT * FROM asset_footprint")
    assert fp["energy_kwh"] is None and fp["cost_hardware_usd"] is None and fp["cost_usd"] is None
    assert fp["unknown_parts"] == 1 and "gpu:0 used by unknown processes" in fp["unknown_detail"]
    assert fp["energy_kwh_at_least"] == pytest.approx(1.5 * 2 * 2.0 / 3.6e6)  # the CPU part is known


def test_network_energy_is_charged_for_the_transfers_year(mem_warehouse, query, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    mats(b, "old", "new")
    window(b, "w1", "old")
    window(b, "w2", "new")
    tick(
        b, start=T0, duration_s=1, devices=[Device()], use={"w1": {("cpu", 0): 0.0}, "w2": {("cpu", 0): 0.0}}
    )
    b.add(Transfer("old", 10**9, 1.0, "download", "hub", "network", dt.datetime(2015, 6, 1, tzinfo=dt.UTC)))
    b.add(Transfer("new", 10**9, 1.0, "download", "hub", "network", dt.datetime(2021, 6, 1, tzinfo=dt.UTC)))
    con = mem_warehouse(b)
    v2 = install_rate_card(
        con, read_rate_card(card(tmp_path, "  data_kwh_per_gb_halving_years: {value: 2, source: Aslan}\n"))
    )
    got = {
        r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint_at(?)", [v2.version])
    }
    # v2 extends the shipped on_prem card: Aslan's 0.06 kWh/GB for 2015, halving every 2 years
    assert got["old"]["e_data_kwh"] == pytest.approx(0.06) and got["old"]["e_data_year"] == 2015
    assert got["new"]["e_data_kwh"] == pytest.approx(0.06 / 8)
    assert got["new"]["e_data_kwh_per_gb"] == pytest.approx(0.06 / 8)
    [e2e] = query(con, "SELECT * FROM end_to_end_footprint_of('new', pinned_version := ?)", [v2.version])
    assert e2e["e_data_kwh"] == pytest.approx(0.06 / 8)
