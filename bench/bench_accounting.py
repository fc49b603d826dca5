"""Fixed accounting cost per materialization, side by side with CodeCarbon's tracker.

    .venv/bin/python -m bench.bench_accounting [--runs 15]

Product: a no-op asset materialized in-process (`dagster.materialize` of a one-asset job) with
`accounted` (meter window, fact batches, in-process pricing of its metadata) minus the same no-op
asset plain; runs alternate, figures are medians. Beside it, in the same run: CodeCarbon's
`OfflineEmissionsTracker(country_iso_code="USA", output_dir=D, log_level="error")` made, started and
stopped around the same no-op, one tracker per materialization as the product has one window per
materialization (median after its first, warm-up call; start + stop alone is shown beside it), in a
subprocess of its own venv
(`scripts/codecarbon-venv.sh`: CodeCarbon is bench-only), alternated with the product's runs. Also
informative rows: the breakdown of the product's cost (meter + batches, pricing).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

from bench.common import BenchRow
from metering.recorder import MaterializationRecorder
from pipelines.accounting import accounted
from pipelines.resources import FootprintHomeResource
from warehouse.home import FootprintHome
from warehouse.pricing import price_materialization

ROOT = Path(__file__).resolve().parent.parent
BENCH = "accounting"

# Runs in CodeCarbon's venv: one warm-up, then per line read on stdin one tracker around a no-op:
# its ms from construction to stop() (what a per-materialization tracker costs) and start()+stop() alone.
CODECARBON = """
import json, sys, tempfile, time
from codecarbon import OfflineEmissionsTracker
out = tempfile.mkdtemp()
def once():
    t0 = time.perf_counter()
    t = OfflineEmissionsTracker(country_iso_code="USA", output_dir=out, log_level="error")
    t1 = time.perf_counter(); t.start(); t.stop(); t2 = time.perf_counter()
    return {"ms": (t2 - t0) * 1e3, "start_stop_ms": (t2 - t1) * 1e3}
once()
print(json.dumps({"ready": True}), flush=True)
for _ in sys.stdin:
    print(json.dumps(once()), flush=True)
"""


def _noops() -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """The same no-op asset, accounted and plain (built here: nothing happens at import)."""

    @dg.asset(name="noop")
    def accounted_noop(context: dg.AssetExecutionContext, footprint: FootprintHomeResource) -> None:
        with accounted(context, footprint):
            pass

    @dg.asset(name="noop")
    def plain_noop() -> None:
        pass

    return accounted_noop, plain_noop


def _materialize_ms(asset: dg.AssetsDefinition, resources: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    result = dg.materialize([asset], resources=resources)
    ms = (time.perf_counter() - t0) * 1e3
    if not result.success:
        raise RuntimeError("the no-op asset failed")
    return ms


def _codecarbon() -> subprocess.Popen[str] | None:
    try:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "codecarbon-venv.sh"), str(ROOT / ".venv-codecarbon")],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as err:
        print(f"   CodeCarbon venv not available: {err}", file=sys.stderr)
        return None
    python = out.stdout.strip().splitlines()[-1]
    proc = subprocess.Popen(
        [python, "-c", CODECARBON], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if not json.loads(proc.stdout.readline()).get("ready"):
        raise RuntimeError("the CodeCarbon runner did not start")
    return proc


def _codecarbon_ms(proc: subprocess.Popen[str]) -> tuple[float, float]:
    """(construction + start + stop, start + stop) of one tracker, ms."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    got = json.loads(proc.stdout.readline())
    return float(got["ms"]), float(got["start_stop_ms"])


def _model_build_ms() -> float:
    """Building a pricing model (what the first pricing of a process pays), ms."""
    from warehouse.price_model import PriceModel
    from warehouse.ratecard import configured_card_path, read_rate_card

    card = read_rate_card(configured_card_path())
    t0 = time.perf_counter()
    PriceModel(card)
    return (time.perf_counter() - t0) * 1e3


def _breakdown(home: FootprintHome, runs: int) -> tuple[float, float]:
    """Medians (ms) of a recorder around a no-op (meter window + two batches) and of its pricing."""
    meter, price = [], []
    for _ in range(runs):
        rec = MaterializationRecorder(home, asset_key="noop", run_id="bench")
        t0 = time.perf_counter()
        with rec:
            pass
        t1 = time.perf_counter()
        price_materialization(
            home,
            rec.materialization_id,
            rec.written,
            tick_batch_ids=rec.tick_batch_ids,
            in_memory=rec.tick_batch,
        )
        t2 = time.perf_counter()
        meter.append((t1 - t0) * 1e3)
        price.append((t2 - t1) * 1e3)
    return statistics.median(meter), statistics.median(price)


def main(argv: list[str] | None = None) -> list[BenchRow]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15, help="alternated runs of each (>= 12)")
    args = ap.parse_args(argv if argv is not None else [])
    runs = max(args.runs, 12)
    with tempfile.TemporaryDirectory() as d:
        home = FootprintHome.resolve(Path(d) / "home").ensure()
        os.environ.setdefault("DAGSTER_HOME", str(Path(d) / "dagster"))
        resources = {"footprint": FootprintHomeResource(root=str(home.root))}
        accounted_noop, plain_noop = _noops()
        cc = _codecarbon()
        # warm-up: imports, the pricing model, Dagster's first run
        _materialize_ms(accounted_noop, resources)
        _materialize_ms(plain_noop, {})
        accounted_ms, plain_ms, cc_ms, cc_start_stop_ms = [], [], [], []
        for i in range(runs):
            pair = [("a", accounted_noop), ("p", plain_noop)]
            for kind, asset in pair if i % 2 == 0 else pair[::-1]:
                ms = _materialize_ms(asset, resources if kind == "a" else {})
                (accounted_ms if kind == "a" else plain_ms).append(ms)
            if cc is not None:
                whole, start_stop = _codecarbon_ms(cc)
                cc_ms.append(whole)
                cc_start_stop_ms.append(start_stop)
        meter_ms, pricing_ms = _breakdown(home, runs)
        if cc is not None:
            cc.terminate()
            cc.wait()
    fixed_ms = statistics.median(accounted_ms) - statistics.median(plain_ms)
    cc_median = statistics.median(cc_ms) if cc_ms else None
    note = f"median of {runs} alternated runs; accounted {statistics.median(accounted_ms):.1f} ms"
    note += f", plain {statistics.median(plain_ms):.1f} ms"
    rows = [
        BenchRow(
            BENCH,
            "fixed accounting cost per materialization (vs CodeCarbon start+stop)",
            fixed_ms,
            "ms",
            baseline=cc_median,
            note=note if cc_median is not None else note + "; CodeCarbon not measured (no venv)",
            ratio_target="<= 2",
        ),
        BenchRow(BENCH, "  of which meter window + fact batches (recorder)", meter_ms, "ms"),
        BenchRow(BENCH, "  of which in-process pricing of the metadata", pricing_ms, "ms"),
        BenchRow(
            BENCH,
            "pricing model build, once per process (not in the figure above)",
            statistics.median(_model_build_ms() for _ in range(3)),
            "ms",
            note="a process per step (multiprocess executor) pays it at its first pricing",
        ),
    ]
    if cc_median is not None:
        rows += [
            BenchRow(BENCH, "CodeCarbon OfflineEmissionsTracker(...) + start + stop", cc_median, "ms"),
            BenchRow(BENCH, "  of which start + stop alone", statistics.median(cc_start_stop_ms), "ms"),
        ]
    for r in rows:
        print(f"   {r.metric}: {r.value:.1f} {r.unit}" + (f" (ratio {r.ratio:.2f})" if r.ratio else ""))
    return rows


if __name__ == "__main__":
    from bench.common import print_rows

    print_rows(main(sys.argv[1:]), title="accounting: product vs CodeCarbon")
