"""`accounted()` in a real (in-process) Dagster step: the step's window, the services it names, its
metadata, and a `footprint meter` run inside it that nests instead of counting its command twice."""

# No `from __future__ import annotations`: Dagster resolves the asset's annotations at decoration.

import json
import resource
import subprocess

import dagster as dg
import pytest

from pipelines.accounting import accounted
from pipelines.resources import FootprintHomeResource
from tests.metering.ledger_facts import (
    FOOTPRINT,
    Facts,
    burn_command,
    burned_s,
    check_conservation,
    footprint_env,
)
from warehouse.home import FootprintHome

pytestmark = [pytest.mark.slow]


def _cpu_s(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def test_footprint_meter_inside_a_metered_step_nests(home: FootprintHome) -> None:
    seen: dict[str, str] = {}

    @dg.asset
    def metered_step(context: dg.AssetExecutionContext, footprint: FootprintHomeResource) -> None:
        with accounted(context, footprint, services=("label-studio",)) as rec:
            r = subprocess.run(
                [str(FOOTPRINT), "meter", "--json", "--", *burn_command(1.5)],
                env=footprint_env(home),
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            seen.update(step=rec.window_id or "", out=r.stdout)

    children0, own0 = _cpu_s(resource.RUSAGE_CHILDREN), _cpu_s(resource.RUSAGE_SELF)
    res = dg.materialize(
        [metered_step], resources={"footprint": FootprintHomeResource(root=str(home.root), heartbeat_s=0.5)}
    )
    children_s, own_s = _cpu_s(resource.RUSAGE_CHILDREN) - children0, _cpu_s(resource.RUSAGE_SELF) - own0
    assert res.success
    [event] = res.get_asset_materialization_events()
    meta = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    assert meta["footprint/window_id"] == seen["step"]
    assert {"footprint/energy_kwh", "footprint/cost_usd", "footprint/summary"} <= set(meta)
    inner = json.loads(seen["out"].strip().splitlines()[-1])
    [burned] = burned_s(seen["out"])
    f = Facts.read(home)
    check_conservation(f)
    step, meter = f.window(seen["step"]), f.window(inner["window_id"])
    assert (step["role"], step["uses_services"], step["parent_window_id"]) == ("step", "label-studio", None)
    assert (meter["role"], meter["parent_window_id"]) == ("meter", seen["step"])
    meter_s, step_s = f.use(meter["window_id"]), f.use(step["window_id"])
    print(
        f"meter {meter_s:.2f}, step {step_s:.2f}, burn {burned:.2f}; really used: children {children_s:.2f}, "
    )
    print(f"this process (the step's own, with Dagster's bookkeeping) {own_s:.2f}")
    assert meter_s == pytest.approx(burned, rel=0.10)
    assert step_s >= children_s - meter_s - 0.1, "the meter's own start and exit are the step's"
    assert step_s + meter_s <= (children_s + own_s) * 1.02 + 0.1, "the burn is counted once"
