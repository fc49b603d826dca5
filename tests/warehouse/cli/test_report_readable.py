"""`footprint report` reads well in a terminal: at 80 and 200 columns no line is wider than the terminal,
every asset key is whole on one line (never `baseline_mod` / `el`), figures are in readable units
(`1.11 mWh`, never `1.111e-06`), and `--format json` keeps the raw numbers."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from rich.cells import cell_len

from warehouse.batches import write_batch
from warehouse.facts import FactBatch
from warehouse.home import FootprintHome
from warehouse.loader import sync

T0 = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
# long keys, tiny figures: what broke keys across lines and printed exponents before
ASSETS = (
    ("m-pre", "pretrained_model", 43.09, 4.0),
    ("m-base", "baseline_model", 3.25, 0.1),
    ("m-long", "an_asset_with_a_rather_long_descriptive_key", 0.058, 0.0005),
)
EXPONENT = re.compile(r"\d[eE][-+]?\d")


@pytest.fixture
def tiny_run(home: FootprintHome, facts) -> FootprintHome:  # type: ignore[no-untyped-def]
    b = FactBatch()
    for i, (mid, asset, seconds, joules) in enumerate(ASSETS):
        upstream = [(ASSETS[0][0], ASSETS[0][1])] if i else None
        facts.add_materialization(
            b,
            mid,
            "run-tiny",
            asset,
            T0 + dt.timedelta(minutes=i),
            seconds=seconds,
            joules=joules,
            upstream=upstream,
        )
    write_batch(home, b)
    assert not sync(home, wait_s=10).quarantined
    return home


@pytest.mark.parametrize("columns", [80, 200])
def test_keys_whole_units_readable_and_fits_the_terminal(cli, tiny_run, columns: int) -> None:  # type: ignore[no-untyped-def]
    proc = cli("report", env={"COLUMNS": str(columns)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    for _, asset, _, _ in ASSETS:
        whole = [line for line in lines if asset in line]
        assert len(whole) >= 2, asset  # in the per-asset and the end-to-end tables
        # no line holds a piece of the key without the whole key (a key broken across lines)
        for line in lines:
            for piece in (asset[:8], asset[-8:]):
                if piece in line:
                    assert asset in line, (asset, line)
    assert not EXPONENT.search(proc.stdout), EXPONENT.search(proc.stdout)
    # the energies (device, PUE and the 1 MB transfer) are a few mWh: shown as such, read from the JSON
    raw = json.loads(cli("report", "--format", "json").stdout)
    energy = {r["asset_key"]: r["energy_kwh"] for r in raw["asset_footprint"]}
    assert all(1e-6 <= kwh < 1e-5 for kwh in energy.values()), energy
    shown = [f"{energy[a] * 1e6:.2f} mWh" for _, a, _, _ in ASSETS]
    for cell in (*shown, "43.1 s", "58.0 ms", "1.00 MB", "0.500 h"):
        assert cell in proc.stdout, cell


def test_json_keeps_the_raw_numbers(cli, tiny_run) -> None:  # type: ignore[no-untyped-def]
    out = json.loads(cli("report", "--format", "json", env={"COLUMNS": "80"}).stdout)
    per_asset = {r["asset_key"]: r for r in out["asset_footprint"]}
    energy = per_asset["pretrained_model"]["energy_kwh"]
    assert isinstance(energy, float) and 0 < energy < 1e-5  # a number, not "2.59 mWh"
    assert per_asset["baseline_model"]["duration_s"] == pytest.approx(3.25)
    assert per_asset["pretrained_model"]["bytes_moved"] == 1_000_000
