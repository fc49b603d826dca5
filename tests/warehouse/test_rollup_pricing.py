"""end_to_end_footprint_of prices sums of usage (per card version and rate subject) instead of
summing priced rows: its totals must equal the sum of its upstreams' asset_footprint rows, column by
column, across two rate card versions, per-annotator and per-person rates, device models and kinds,
local and network bytes, and a missing GPU (index -1). Plus its own rules: the energy method, a
device without a rate, an incomplete upstream, an upstream never recorded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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
    Transfer,
)
from warehouse.ratecard import read_rate_card
from warehouse.ratecard_store import install_rate_card

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
JUL = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
SUMMED = (
    "duration_s", "energy_kwh", "co2e_kg", "bytes_moved", "human_hours", "cost_person_usd",
    "cost_hardware_usd", "cost_energy_usd", "cost_labeling_usd", "cost_usd", "e_compute_kwh", "e_data_kwh",
)  # fmt: skip


def read(
    mid: str, kwh: float | None, s: float, kind: str = "cpu", name: str = "cpu0", **kw: Any
) -> EnergyReading:
    method = kw.pop("method", "measured" if kwh is not None else "unavailable")
    return EnergyReading(
        mid, f"w-{mid}-{kind}-{name}", 1, True, kind, kw.pop("index", 0), name, "h",
        None if kwh is None else kwh * 3.6e6, s, method, "t", kw.pop("at", T0),
    )  # fmt: skip


def work(mid: str, ann: int, who: str, active_s: float) -> AnnotationWork:
    return AnnotationWork(mid, ann, ann, who, "p", active_s, active_s, 300.0, False, "x", "", T0, T0)


def mat(b: FactBatch, mid: str, start: dt.datetime, status: str | None = "success") -> None:
    b.add(Materialization(mid, "run", mid, start))
    if status:
        b.add(MaterializationOutcome(mid, status, start + H))  # type: ignore[arg-type]


def graph() -> FactBatch:
    """raw (Jan) -> clean (Jan) -> labels (Jul, card v2) -> model (Jul); raw -> model too (diamond)."""
    b = FactBatch()
    mat(b, "raw", T0)
    mat(b, "clean", T0)
    mat(b, "labels", JUL)
    mat(b, "model", JUL)
    b.add(read("raw", 0.5, 600), Transfer("raw", 3 * 10**9, 5.0, "download", "hub", "network", T0))
    b.add(
        read("clean", 0.2, 1200, method="estimated"),
        read("clean", 0.1, 1200, "ram", "ram", method="estimated"),
    )
    b.add(Transfer("clean", 10**9, 1.0, "write", "file", "local", T0))
    b.add(
        work("labels", 1, "alice", 1800),
        work("labels", 2, "zed", 900),
        PersonTime("labels", "bob", "lead", 600),
        read("labels", 0.05, 900),
    )
    b.add(read("model", 2.0, 3600, "gpu", "NVIDIA H100"), read("model", None, 3600, "gpu", "gpu", index=-1))
    b.add(read("model", 0.4, 3600), PersonTime("model", "eve", "eng", 1800))
    b.add(LineageEdge("clean", "raw", "raw"), LineageEdge("labels", "clean", "clean"))
    b.add(LineageEdge("model", "labels", "labels"), LineageEdge("model", "raw", "raw"))
    return b


@pytest.fixture
def con(mem_warehouse, tmp_path: Path):  # type: ignore[no-untyped-def]
    con = mem_warehouse(graph())
    card = tmp_path / "v2.toml"  # from June: pue 2.0, H100 $9/h, alice $40/h (extends the default card)
    card.write_text(
        "effective_from = 2025-06-01T00:00:00Z\n"
        '[rates.pue]\nvalue = 2.0\nsource = "audit"\n'
        '[rates.device_usd_per_hour."NVIDIA H100"]\nvalue = 9.0\nsource = "quote"\n'
        '[rates.annotator_usd_per_hour.alice]\nvalue = 40.0\nsource = "contract"\n'
    )
    install_rate_card(con, read_rate_card(card))
    return con


def test_totals_equal_the_sum_of_the_upstreams_asset_footprint(con, query) -> None:  # type: ignore[no-untyped-def]
    fp = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint")}
    assert fp["labels"]["rate_card_version"] == 2 and fp["raw"]["rate_card_version"] == 1
    [e2e] = query(con, "SELECT * FROM end_to_end_footprint_of('model')")
    assert e2e["upstream_count"] == 3 and e2e["asset_key"] == "model" and e2e["status"] == "success"
    for col in SUMMED:
        assert e2e[col] == pytest.approx(sum(r[col] for r in fp.values()), rel=1e-12), col
    for col in ("energy_kwh_at_least", "co2e_kg_at_least", "cost_usd_at_least", "unknown_parts"):
        assert e2e[col] == pytest.approx(sum(r[col] for r in fp.values()), rel=1e-12), col
    # model is the only final consumer: it carries the whole of every upstream, raw included (half
    # through clean, half directly); clean carries half of raw (raw has two consumers)
    assert e2e["alloc_cost_usd"] == pytest.approx(e2e["cost_usd"], rel=1e-12)
    [clean] = query(con, "SELECT * FROM end_to_end_footprint_of('clean')")
    for col in ("cost_usd", "energy_kwh", "co2e_kg", "human_hours", "cost_hardware_usd"):
        want = fp["clean"][col] + 0.5 * fp["raw"][col]
        assert clean[f"alloc_{col}"] == pytest.approx(want, rel=1e-12), col
    assert clean["alloc_bytes_moved"] == pytest.approx(10**9 + 1.5 * 10**9)
    assert e2e["energy_method"] == "mixed"  # measured and estimated upstreams
    # pinned to version 1, every upstream is priced with card 1
    [pinned] = query(con, "SELECT * FROM end_to_end_footprint_of('model', pinned_version := 1)")
    at1 = query(con, "SELECT sum(cost_usd) AS c, sum(energy_kwh) AS e FROM asset_footprint_at(1)")[0]
    assert pinned["cost_usd"] == pytest.approx(at1["c"]) and pinned["energy_kwh"] == pytest.approx(at1["e"])
    assert pinned["cost_usd"] != pytest.approx(e2e["cost_usd"])


def test_methods_missing_rates_incomplete_and_unrecorded(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    b = FactBatch()
    for mid in ("m1", "m2", "top"):
        mat(b, mid, T0)
    mat(b, "running", T0, status=None)
    b.add(read("m1", 1.0, 3600), read("m2", 1.0, 3600), read("top", 1.0, 3600))
    b.add(read("running", 0.1, 60, at=T0 + dt.timedelta(seconds=90)))
    b.add(LineageEdge("top", "m1", "m1"), LineageEdge("top", "m2", "m2"))
    b.add(LineageEdge("top", "ghost", "ghost"))  # an upstream id with no materialization fact
    b.add(LineageEdge("late", "running", "running"))
    mat(b, "late", T0)
    b.add(read("late", 1.0, 3600, "tpu", "tpu0"))  # no rate for a tpu in the test card
    got = {r["materialization_id"]: r for r in query(mem_warehouse(b), "SELECT * FROM end_to_end_footprint")}
    top = got["top"]
    assert (
        top["energy_method"] == "measured" and top["upstream_count"] == 2 and top["upstream_unrecorded"] == 1
    )
    assert top["cost_hardware_usd"] == pytest.approx(3.0) and top["duration_s"] == pytest.approx(3 * 3600)
    late = got["late"]
    assert late["cost_hardware_usd"] is None and late["cost_usd"] is None  # unknown, not smaller
    assert late["unknown_parts"] == 1 and late["cost_usd_at_least"] > 0
    assert late["energy_kwh"] == pytest.approx((1.0 + 0.1) * 1.5)
    assert late["duration_s"] == pytest.approx(3600 + 90)  # the incomplete upstream: until its heartbeat
    assert late["not_successful_count"] == 1
    assert got["running"]["status"] == "incomplete"


def test_an_unknown_upstream_makes_the_total_unknown_and_is_counted(mem_warehouse, query) -> None:  # type: ignore[no-untyped-def]
    """An upstream never metered and one annotation without a lead time: the end-to-end energy, cost
    and hours are NULL (never the smaller sum), the known parts are `_at_least`, 2 parts unknown."""
    b = FactBatch()
    for mid in ("raw", "labels", "model"):
        mat(b, mid, T0)
    b.add(read("model", 1.0, 3600), read("labels", 0.5, 600))
    b.add(AnnotationWork("labels", 1, 1, "ann", "p", None, None, 300.0, False, None, "rejected", T0, T0))
    b.add(work("labels", 2, "ann", 1800))
    b.add(LineageEdge("labels", "raw", "raw"), LineageEdge("model", "labels", "labels"))
    con = mem_warehouse(b)
    [e2e] = query(con, "SELECT * FROM end_to_end_footprint_of('model')")
    assert e2e["energy_kwh"] is None and e2e["cost_usd"] is None and e2e["human_hours"] is None
    assert e2e["unknown_parts"] == 2  # raw not metered (1) + one annotation without time (1)
    assert e2e["energy_kwh_at_least"] == pytest.approx((1.0 + 0.5) * 1.5)
    assert e2e["human_hours_at_least"] == pytest.approx(0.5)
    assert e2e["cost_usd_at_least"] == pytest.approx(1.0 + 600 / 3600 + 0.5 * 20 + 1.5 * 0.2 * 1.5)
    fp = {r["asset_key"]: r for r in query(con, "SELECT * FROM asset_footprint")}
    assert fp["raw"]["energy_kwh"] is None and fp["raw"]["unknown_parts"] == 1
    assert fp["raw"]["unknown_detail"].startswith("not metered")
    assert fp["labels"]["cost_labeling_usd"] is None and fp["labels"]["cost_labeling_usd_at_least"] == 10.0
    assert "1 annotation(s) without a valid lead time" in fp["labels"]["unknown_detail"]
    spend = query(con, "SELECT * FROM labeling_spend")
    assert len(spend) == 1 and spend[0]["unknown_time"] == 1 and spend[0]["cost_usd"] is None
    assert spend[0]["cost_usd_at_least"] == pytest.approx(10.0) and spend[0]["hours_active"] is None
    [d] = query(con, "SELECT * FROM data_requirement WHERE materialization_id = 'labels'")
    assert d["l_usd"] is None and d["l_usd_at_least"] == pytest.approx(10.0) and d["unknown_parts"] == 1
