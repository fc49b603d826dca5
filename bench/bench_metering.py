"""Cost of the host ledger: one tick with N windows over M processes, a window's open + close, and the
overhead of an open window on a CPU-bound loop (with / without, interleaved in one run).

    .venv/bin/python -m bench.bench_metering [--rounds 10] [--round-s 1.0] [--heartbeat-s 1.0]

Ticks read the real /proc (every process of the host), no RAPL here, and two fake GPUs (autospec'd
NVML: each call goes through `mock.create_autospec`, slower than the real driver call) held by the
metered processes. Each tick writes its fact batch (Parquet, fsynced) and commits the state file.
The overhead rounds run a tiny MLP (1 torch thread) with a window open whose heartbeat ticks every
`--heartbeat-s` (default 1 s: ten times the product's default rate, so an upper bound), against the
same loop with no window; order alternates by pair, figures are medians of the pairs' ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import BenchRow
from metering.ledger import Ledger
from metering.nvml import GpuReader
from metering.nvml_fake import FakeGpu, FakeNvml, autospec_nvml
from warehouse.home import FootprintHome

SHAPES = ((1, 1), (4, 16), (16, 64))  # (windows, metered processes)


@dataclass(frozen=True)
class Round:
    steps: int
    wall_s: float
    cpu_s: float  # process CPU time (all threads: the heartbeat's ticks included)


@contextmanager
def _ledger(work: Path, pids: list[int]) -> Iterator[Ledger]:
    (work / "powercap").mkdir(exist_ok=True)
    (work / "dev").mkdir(exist_ok=True)
    util = {pid: 10.0 for pid in pids[:8]}
    gpus = [FakeGpu(300.0, processes=pids, utilization=util), FakeGpu(250.0, processes=pids[:1])]
    reader = GpuReader(autospec_nvml(FakeNvml(gpus)), dev_root=work / "dev")
    home = FootprintHome.resolve(work / "home").ensure()
    yield Ledger(home, powercap=work / "powercap", gpus=reader)


@contextmanager
def _sleepers(n: int) -> Iterator[list[int]]:
    procs = [subprocess.Popen(["sleep", "600"]) for _ in range(n)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def tick_cost(windows: int, processes: int, ticks: int = 30) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of one tick with `windows` open over `processes` processes:
    one window on this process (its children, the sleepers, are in it) and the rest rooted at
    sleepers."""
    with tempfile.TemporaryDirectory() as tmp, _sleepers(processes) as pids, _ledger(Path(tmp), pids) as led:
        opened = [led.open(materialization_id="m", role="step", name="bench")[0]]
        for pid in pids[: windows - 1]:
            opened.append(led.open(materialization_id="m", role="rank", name="r", root_pid=pid)[0])
        walls, cpus = [], []
        for _ in range(ticks):
            t0, c0 = time.perf_counter(), time.process_time()
            led.tick()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        for w in opened:
            led.close(w)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def open_close_cost(pairs: int = 20) -> float:
    """Median wall ms of opening and closing one window (two ticks) with nothing else open."""
    with tempfile.TemporaryDirectory() as tmp, _ledger(Path(tmp), [os.getpid()]) as led:
        times = []
        for _ in range(pairs):
            t0 = time.perf_counter()
            w = led.open(materialization_id="m", role="step", name="bench")[0]
            led.close(w)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _train_steps(seconds: float) -> Round:
    """A tiny MLP training loop for about `seconds`."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 64), torch.randint(0, 2, (64,))
    steps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - t0) < seconds:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        steps += 1
    return Round(steps, elapsed, time.process_time() - c0)


def loop_overhead(rounds: int, round_s: float, heartbeat_s: float) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    _train_steps(0.3)  # warm-up
    pairs: list[tuple[Round, Round]] = []
    with tempfile.TemporaryDirectory() as tmp, _ledger(Path(tmp), [os.getpid()]) as led:

        def metered() -> Round:
            # opened and closed outside the timed loop: the open + close cost is reported apart
            with led.window(materialization_id="m", role="step", name="bench", heartbeat_s=heartbeat_s):
                return _train_steps(round_s)

        for i in range(rounds):
            first_on = i % 2 == 1  # alternate which goes first, so drifts in machine load cancel
            a = metered() if first_on else _train_steps(round_s)
            b = _train_steps(round_s) if first_on else metered()
            pairs.append((b, a) if first_on else (a, b))
    return {
        "steps_per_s_off": statistics.median(off.steps / off.wall_s for off, _ in pairs),
        "steps_per_s_on": statistics.median(on.steps / on.wall_s for _, on in pairs),
        "ratio_on_off": statistics.median(
            (on.steps / on.wall_s) / (off.steps / off.wall_s) for off, on in pairs
        ),
        "cpu_ratio_on_off": statistics.median(
            (on.steps / on.cpu_s) / (off.steps / off.cpu_s) for off, on in pairs
        ),
    }


def main(argv: list[str] | None = None) -> list[BenchRow]:
    """`argv` None (as bench.run_all calls it) = defaults; sys.argv is read only under __main__."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="with/without pairs, order alternating")
    ap.add_argument("--round-s", type=float, default=1.0, help="seconds per round")
    ap.add_argument("--heartbeat-s", type=float, default=1.0, help="the open window's heartbeat")
    args = ap.parse_args(argv or [])
    rows: list[BenchRow] = []
    n_procs = len([p for p in os.listdir("/proc") if p.isdigit()])
    print(f"host ledger tick (real /proc: {n_procs} processes on the host; 2 fake GPUs; no RAPL)")
    print(f"{'windows / metered processes':<30}{'wall ms':>10}{'CPU ms':>10}")
    for windows, processes in SHAPES:
        wall_ms, cpu_ms = tick_cost(windows, processes)
        print(f"{f'{windows} / {processes}':<30}{wall_ms:>10.2f}{cpu_ms:>10.2f}")
        rows.append(BenchRow("metering", f"tick, {windows} windows / {processes} procs", wall_ms, "ms"))
        rows.append(BenchRow("metering", f"tick CPU, {windows} windows / {processes} procs", cpu_ms, "ms"))
    oc = open_close_cost()
    print(f"{'window open + close (2 ticks)':<30}{oc:>10.2f}")
    rows.append(BenchRow("metering", "window open + close", oc, "ms", "<= 50"))
    r = loop_overhead(args.rounds, args.round_s, args.heartbeat_s)
    print(
        f"tiny MLP (1 torch thread), window open (heartbeat {args.heartbeat_s:g} s) vs none, "
        f"{args.rounds} interleaved pairs of {args.round_s:g} s"
    )
    for key, value in r.items():
        print(f"{key:<30}{value:>10.4f}")
    rows += [
        BenchRow(
            "metering",
            f"loop throughput, window open / none (heartbeat {args.heartbeat_s:g} s)",
            r["ratio_on_off"],
            "ratio",
            ">= 0.99",
        ),
        BenchRow(
            "metering", "loop steps per CPU-second, open / none", r["cpu_ratio_on_off"], "ratio", ">= 0.99"
        ),
    ]
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
