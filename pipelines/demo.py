"""`make demo`: the main job on embedded defaults, stage by stage, with wall times.

1. start (or reuse) the local Label Studio under $FOOTPRINT_HOME/labelstudio (own venv, loopback);
2. run the `footprint_pipeline` job into the local Dagster instance at $DAGSTER_HOME, so the run is
   visible later in `make dev`; the demo annotators are a SIMULATION (labeling/replay.py) switched on
   by FOOTPRINT_SIMULATE_ANNOTATORS=1, because a fresh machine has no human annotators;
3. merge pending facts, print the footprint report and where to go next.

Stage timings are written to $FOOTPRINT_HOME/reports/demo-timings.json (read by bench/bench_demo.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from warehouse.home import FootprintHome

SIMULATE_ENV = "FOOTPRINT_SIMULATE_ANNOTATORS"


@dataclass
class DemoTimings:
    stages_s: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    total_s: float = 0.0

    def write(self, home: FootprintHome) -> Path:
        path = home.reports_dir / "demo-timings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def start_labelstudio(home: FootprintHome, port: int) -> str:
    from labeling.install import ensure_venv
    from labeling.server import ServerPaths, status, up

    paths = ServerPaths.under(home.labelstudio_dir)
    if not status(paths).running:
        if not paths.executable.exists():
            _say(f"installing Label Studio into its own venv {paths.venv} (once; about 1-2 min)")
        ensure_venv(paths.venv)
        _say("starting Label Studio on 127.0.0.1 (first start runs migrations: about 1 min)")
    info = up(paths, port=port, ledger_home=home)  # metered as a service in this home's ledger
    return info.url


def run_main_job(home: FootprintHome) -> tuple[str, dict[str, float], bool]:
    """Execute the main job in this process against the local instance; returns (run id, step s, ok)."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.jobs import MAIN_JOB

    instance = dg.DagsterInstance.get()
    job = defs().resolve_job_def(MAIN_JOB)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    steps = {
        s.step_key: (s.end_time or 0) - (s.start_time or 0)
        for s in instance.get_run_step_stats(result.run_id)
        if s.start_time and s.end_time
    }
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data is not None:
                err = event.step_failure_data.error
                _say(f"step {event.step_key} failed: {err.message.strip() if err else 'unknown error'}")
    return result.run_id, steps, result.success


def print_report(run_id: str) -> None:
    from typer.testing import CliRunner

    from warehouse.cli.main import build_app

    out = CliRunner().invoke(build_app(), ["report", "--run", run_id])
    print(out.output, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("FOOTPRINT_LABELSTUDIO_PORT", "8080")))
    args = parser.parse_args(argv)
    os.environ.setdefault(SIMULATE_ENV, "1")
    home = FootprintHome.resolve().ensure()
    timings = DemoTimings()
    t_all = time.perf_counter()

    _say(f"state directory: {home.root}")
    t0 = time.perf_counter()
    url = start_labelstudio(home, args.port)
    timings.stages_s["labelstudio_up"] = time.perf_counter() - t0
    _say(f"Label Studio at {url} ({timings.stages_s['labelstudio_up']:.1f} s)")

    t0 = time.perf_counter()
    run_id, steps, ok = run_main_job(home)
    timings.stages_s["main_job"] = time.perf_counter() - t0
    timings.stages_s.update({f"step:{k}": v for k, v in steps.items()})
    timings.run_id = run_id

    from warehouse.loader import sync

    t0 = time.perf_counter()
    sync(home, wait_s=30)
    timings.stages_s["warehouse_sync"] = time.perf_counter() - t0
    timings.total_s = time.perf_counter() - t_all
    path = timings.write(home)

    print_report(run_id)
    for name, seconds in timings.stages_s.items():
        _say(f"  {name:<28} {seconds:8.1f} s")
    _say(f"total {timings.total_s:.1f} s (timings in {path})")
    if not ok:
        _say(f"the run {run_id} FAILED; the failed steps' energy is in the warehouse as 'failed'.")
        return 1
    latest = home.reports_dir / "latest"
    _say(f"report page: {latest / 'index.html' if latest.exists() else home.reports_dir}")
    _say("next: `make dev` opens the Dagster UI at http://127.0.0.1:3000 (this run is in it);")
    _say('      `.venv/bin/footprint sql "SELECT asset_key, cost_usd, energy_kwh FROM asset_footprint"`;')
    _say(f"      Label Studio keeps running at {url} (`.venv/bin/footprint labelstudio down` stops it).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
