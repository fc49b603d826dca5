"""A step only writes its facts and leaves: it prices itself in-process, never opens the warehouse, and
its price is the warehouse's once the loader has merged the same facts."""

import math
import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from metering.ledger import Ledger
from metering.nvml import GpuReader
from metering.nvml_fake import FakeGpu, FakeNvml, autospec_nvml
from metering.recorder import MaterializationRecorder
from pipelines.accounting import accounted
from pipelines.resources import FootprintHomeResource
from tests.warehouse_holder import hold_warehouse
from warehouse.connection import connect
from warehouse.facts import AnnotationWork, EnergyReading, PersonTime, utcnow
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.pricing import PricedFootprint

# another process with a window of its own on this host, ticking often (its heartbeats close intervals
# for every window open on the host, the step's too)
NEIGHBOUR = """
import sys, time
from pathlib import Path
from metering.recorder import MaterializationRecorder
from warehouse.home import FootprintHome
with MaterializationRecorder(FootprintHome(Path(sys.argv[1])), asset_key="neighbour", run_id="n",
                             heartbeat_s=0.05):
    print("open", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _price(rec: MaterializationRecorder) -> PricedFootprint:
    return rec.price()


def _warehouse_row(home: FootprintHome, mid: str) -> dict[str, Any]:
    con = connect(home, read_only=True)
    try:
        cur = con.execute("SELECT * FROM asset_footprint WHERE materialization_id = ?", [mid])
        names = [d[0] for d in cur.description or []]
        [row] = cur.fetchall()
    finally:
        con.close()
    return dict(zip(names, row, strict=True))


def _same(priced: PricedFootprint, row: dict[str, Any]) -> None:
    for f in fields(PricedFootprint):
        if f.name == "rate_card":
            continue
        got, want = getattr(priced, f.name), row[f.name]
        if isinstance(want, float) and got is not None:
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15), (f.name, got, want)
        else:
            assert got == want, (f.name, got, want)


def _neighbour(home: FootprintHome, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", NEIGHBOUR, str(home.root), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


def test_each_step_price_equals_the_warehouse_view(home: FootprintHome, tmp_path: Path) -> None:
    """Windows with a service, a nested window, a GPU (fake NVML), a failed step, unknown parts and
    ticks written by another process: each priced in-process, then compared field by field to
    asset_footprint in a real warehouse file merged by the loader."""
    gpus = GpuReader(autospec_nvml(FakeNvml([FakeGpu(power_w=150.0)])), dev_root=tmp_path)
    ledger = Ledger(home, gpus=gpus)
    service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    svc = ledger.open(materialization_id=None, role="service", name="svc", root_pid=service.pid)[0]
    neighbour = _neighbour(home, 3.0)
    recs: list[MaterializationRecorder] = []
    try:
        with MaterializationRecorder(
            home, asset_key="uses_svc", run_id="r", services=["svc"], ledger=ledger
        ) as a:
            a.add(PersonTime(a.materialization_id, "ana", "review", 60.0))
            a.add_transfer(
                bytes_=5_000_000, duration_s=0.1, direction="read", endpoint_kind="http", scope="network"
            )
            sum(i * i for i in range(200_000))
            with MaterializationRecorder(home, asset_key="nested", run_id="r", ledger=ledger) as b:
                time.sleep(0.3)  # the neighbour's heartbeats close intervals for both windows
            recs.append(b)
        recs.append(a)
        with pytest.raises(ValueError), MaterializationRecorder(home, asset_key="fails", run_id="r") as c:
            raise ValueError("boom")
        recs.append(c)
        with MaterializationRecorder(home, asset_key="labels", run_id="r", ledger=ledger) as d:
            now = utcnow()  # an annotation without a lead time: an unknown part
            d.add(
                AnnotationWork(
                    d.materialization_id, 1, 1, "ann", "p", None, None, 300.0, False, "x", "", now, now
                )
            )
            # a reading of the kind versions before 2026-12 wrote (the legacy path is priced too)
            d.add(
                EnergyReading(
                    d.materialization_id,
                    "old",
                    1,
                    True,
                    "gpu",
                    0,
                    "gpu",
                    "h",
                    36.0,
                    1.0,
                    "measured",
                    "t",
                    now,
                )
            )
        recs.append(d)
    finally:
        ledger.close(svc)
        service.kill()
        neighbour.wait(timeout=30)
        service.wait()
    priced = {r.materialization_id: _price(r) for r in recs}
    theirs = {b for r in recs for b in r.tick_batch_ids or [] if r.tick_batch(b) is None}
    assert theirs, "some tick batches of these windows were written by the neighbour process"
    sync(home)  # what the loader does
    for mid, p in priced.items():
        _same(p, _warehouse_row(home, mid))
    by_key = {p.asset_key: p for p in priced.values()}
    assert by_key["uses_svc"].energy_kwh is not None and by_key["uses_svc"].cost_person_usd > 0
    assert by_key["fails"].status == "failed" and by_key["labels"].unknown_parts >= 1
    assert by_key["uses_svc"].bytes_moved == 5_000_000


def test_a_tick_batch_found_nowhere_makes_the_figures_unknown(home: FootprintHome) -> None:
    neighbour = _neighbour(home, 1.0)
    try:
        with MaterializationRecorder(home, asset_key="a", run_id="r") as rec:
            time.sleep(0.4)
    finally:
        neighbour.wait(timeout=30)
    ids = rec.tick_batch_ids or []
    theirs = [b for b in ids if rec.tick_batch(b) is None]
    assert theirs and all((home.pending_dir / b).is_dir() for b in theirs)  # found by id, and counted
    whole = _price(rec)
    assert whole.unknown_parts == 0 and whole.energy_kwh is not None
    (home.pending_dir / theirs[0] / "MANIFEST").unlink()  # as good as pruned
    pruned = _price(rec)
    assert pruned.energy_kwh is None and pruned.cost_usd is None and pruned.co2e_kg is None
    assert pruned.unknown_parts == 1 and theirs[0] in (pruned.unknown_detail or "")
    assert pruned.energy_kwh_at_least is not None and pruned.energy_kwh_at_least < whole.energy_kwh


@dg.asset
def noop(context: dg.AssetExecutionContext, footprint: FootprintHomeResource) -> None:
    with accounted(context, footprint):
        pass


def test_a_step_never_opens_the_warehouse(home: FootprintHome, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the warehouse read-write for the whole materialization, and opening it
    in this process fails: the step still succeeds with priced metadata, and merges nothing."""
    sync(home)  # a warehouse exists (and is held below)

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a step opened the warehouse")

    with hold_warehouse(home.warehouse_path, read_only=False):
        monkeypatch.setattr("warehouse.connection.connect", refuse)
        monkeypatch.setattr("warehouse.loader.connect", refuse)
        result = dg.materialize([noop], resources={"footprint": FootprintHomeResource(root=str(home.root))})
    monkeypatch.undo()
    assert result.success
    [mat] = result.asset_materializations_for_node("noop")
    meta = mat.metadata
    assert meta["footprint/energy_kwh"].value is not None and meta["footprint/unknown_parts"].value == 0
    assert any(home.pending_dir.iterdir())  # left for the loader
    sync(home)
    row = _warehouse_row(home, str(meta["footprint/materialization_id"].value))
    assert row["energy_kwh"] == pytest.approx(meta["footprint/energy_kwh"].value)
