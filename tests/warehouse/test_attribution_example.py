"""The worked example of docs/warehouse.md ("Attribution"): two concurrent steps and a `footprint meter`
nested in one of them. Its table is read from the doc and compared with the views, so the doc and the
code cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.warehouse.ledger_facts import T0, Device, tick, window
from warehouse.facts import FactBatch, Materialization, MaterializationOutcome

DOC = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
PARTY = {"step A": "A", "meter M (inside A)": "M", "step B": "B", "unattributed": None}


def doc_table() -> dict[str, list[float]]:
    text = DOC.read_text()
    body = text.split("<!-- attribution-example:start -->")[1].split("<!-- attribution-example:end -->")[0]
    rows = [line.strip().strip("|").split("|") for line in body.strip().splitlines()[2:]]
    return {cells[0].strip(): [float(c) for c in cells[1:]] for cells in rows}


def example(cpu: Device) -> FactBatch:
    b = FactBatch()
    for mid in ("A", "M", "B"):
        b.add(Materialization(mid, "run", mid, T0), MaterializationOutcome(mid, "success", T0))
    window(b, "wa", "A")
    window(b, "wm", "M", role="meter", parent="wa")
    window(b, "wb", "B")
    ram = Device("ram", 0, "ram", 16.0)
    tick(
        b,
        start=T0,
        duration_s=10.0,
        devices=[cpu, ram],
        use={
            "wa": {("cpu", 0): 4.0, ("ram", 0): 10.0},
            "wm": {("cpu", 0): 6.0, ("ram", 0): 5.0},
            "wb": {("cpu", 0): 5.0, ("ram", 0): 20.0},
        },
        busy={("cpu", 0): 16.0, ("ram", 0): 60.0},
        energy_j={("cpu", 0): 40.0},
    )
    return b


@pytest.mark.parametrize("measured", [False, True])
def test_the_docs_worked_example(mem_warehouse, query, measured: bool) -> None:  # type: ignore[no-untyped-def]
    table = doc_table()
    cpu = Device(method="measured" if measured else "estimated")  # 2 threads, 'test-family' 0.5 / 2 W
    con = mem_warehouse(example(cpu))
    got = {
        (r["party"], r["materialization_id"], r["device_kind"]): r
        for r in query(con, "SELECT * FROM device_attribution")
    }
    for name, (threads, share, device_s, cpu_j, ram_gbs, ram_j, rapl_j) in table.items():
        if name == "device total":
            continue
        mid = PARTY[name]
        key_cpu = ("window" if mid else "unattributed", mid, "cpu")
        key_ram = ("window" if mid else "unattributed", mid, "ram")
        assert got[key_cpu]["share"] == pytest.approx(share) and got[key_cpu]["seconds"] == pytest.approx(
            device_s
        )
        assert got[key_cpu]["share"] * 20 == pytest.approx(threads)
        assert got[key_cpu]["energy_j"] == pytest.approx(rapl_j if measured else cpu_j), name
        assert got[key_ram]["share"] * 160 == pytest.approx(ram_gbs) and got[key_ram][
            "energy_j"
        ] == pytest.approx(ram_j)
    total = table["device total"]
    assert got[("window", "A", "cpu")]["device_energy_j"] == pytest.approx(total[6] if measured else total[3])
    # the analyst view charges the same: A's energy is its own 8 J of CPU + 5 J of RAM, PUE 1.5
    fp = {r["materialization_id"]: r for r in query(con, "SELECT * FROM asset_footprint")}
    assert fp["A"]["device_kwh"] == pytest.approx((8 + 5) / 3.6e6)
    assert fp["A"]["energy_method"] == ("mixed" if measured else "estimated")  # RAM is always a model
    assert fp["M"]["cost_hardware_usd"] == pytest.approx(3 / 3600)  # 3 device-seconds of a $1/h host
    rest = query(con, "SELECT sum(device_s) AS s FROM host_unattributed WHERE device_kind = 'cpu'")[0]
    assert rest["s"] == pytest.approx(2.5)
