"""Metering overhead on a CPU training loop, meter on vs off interleaved in one run.

    .venv/bin/python -m bench.bench_metering [--rounds 8] [--round-s 1.5]

"on" = a meter window with this machine's default backends (CPU, RAM, GPU) PLUS two fake GPUs
sampled at 100 ms through the autospec'd fake NVML (so that a power-sampling thread runs even here;
with real NVML each sample is a driver call instead), and a heartbeat-style `read_window` every second.
Figures: throughput ratio on/off (median over rounds; target <= 1 % loss) and the sampler threads'
own CPU time (time.thread_time inside each sampler thread). GPU part (counter vs sampled power over
the same window, target within 2 %) runs only where NVML sees a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass

from bench.common import BenchRow
from metering.backends import default_backends
from metering.meter import Meter
from metering.nvml import NvmlGpuBackend
from metering.nvml_fake import FakeGpu, FakeNvml, autospec_nvml
from metering.sampler import sampler_cpu_s


@dataclass(frozen=True)
class Round:
    steps: int
    wall_s: float
    cpu_s: float  # process CPU time (all threads: the meter's samplers included)


def _train_steps(seconds: float) -> Round:
    """Run a tiny MLP training loop for about `seconds`."""
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


def _metered_round(seconds: float) -> Round:
    fake = autospec_nvml(FakeNvml([FakeGpu(300.0, counter=False), FakeGpu(250.0, counter=False)]))
    meter = Meter([*default_backends(), NvmlGpuBackend(nvml=fake, visible_devices=None, interval_s=0.1)])
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(1.0):
            meter.read_window("bench")

    meter.begin_window("bench")
    hb = threading.Thread(target=heartbeat, daemon=True)
    hb.start()
    try:
        return _train_steps(seconds)
    finally:
        stop.set()
        hb.join()
        meter.end_window("bench")


def cpu_overhead(rounds: int, round_s: float) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    _train_steps(0.3)  # warm-up
    pairs: list[tuple[Round, Round]] = []
    cpu0, on_wall_s = sampler_cpu_s(), 0.0
    for i in range(rounds):
        first_on = i % 2 == 1  # alternate which goes first, so drifts in machine load cancel
        a = _metered_round(round_s) if first_on else _train_steps(round_s)
        b = _train_steps(round_s) if first_on else _metered_round(round_s)
        off, on = (b, a) if first_on else (a, b)
        pairs.append((off, on))
        on_wall_s += on.wall_s
    sampler_s = sampler_cpu_s() - cpu0
    wall_ratio = statistics.median((on.steps / on.wall_s) / (off.steps / off.wall_s) for off, on in pairs)
    cpu_ratio = statistics.median((on.steps / on.cpu_s) / (off.steps / off.cpu_s) for off, on in pairs)
    return {
        "steps_per_s_off": statistics.median(off.steps / off.wall_s for off, _ in pairs),
        "steps_per_s_on": statistics.median(on.steps / on.wall_s for _, on in pairs),
        "ratio_on_off": wall_ratio,
        "loss_pct": (1 - wall_ratio) * 100,
        "cpu_ratio_on_off": cpu_ratio,
        "cpu_loss_pct": (1 - cpu_ratio) * 100,
        "sampler_cpu_s": sampler_s,
        "sampler_cpu_pct_of_core": 100 * sampler_s / on_wall_s if on_wall_s else 0.0,
        "metered_wall_s": on_wall_s,
    }


def gpu_counter_vs_sampled(seconds: float = 5.0) -> dict[str, float] | None:
    probe = NvmlGpuBackend([0], visible_devices=None)
    if probe.unavailable_reason is not None or probe.gpus[0].mode != "counter":
        return None
    import torch

    sampled = NvmlGpuBackend([0], force_sampling=True, interval_s=0.1)
    meter = Meter([probe, sampled])
    a = torch.randn(8192, 8192, device="cuda")
    meter.begin_window("gpu")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a = (a @ a).tanh_()
    torch.cuda.synchronize()
    c, s = meter.end_window("gpu").devices
    assert c.energy_j is not None and s.energy_j is not None
    return {"counter_j": c.energy_j, "sampled_j": s.energy_j, "diff_pct": 100 * (s.energy_j / c.energy_j - 1)}


def main(argv: list[str] | None = None) -> list[BenchRow]:
    """`argv` None (as bench.run_all calls it) = defaults; sys.argv is read only under __main__."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="off/on pairs, order alternating")
    ap.add_argument("--round-s", type=float, default=0.6, help="seconds per round")
    args = ap.parse_args(argv or [])
    r = cpu_overhead(args.rounds, args.round_s)
    print("metering overhead, tiny MLP on CPU (1 torch thread), meter off/on interleaved in pairs")
    print(f"{'figure':<34}{'value':>14}")
    for key, fmt in (
        ("steps_per_s_off", "{:.1f}"),
        ("steps_per_s_on", "{:.1f}"),
        ("ratio_on_off", "{:.4f}"),
        ("loss_pct", "{:.2f} %"),
        ("cpu_ratio_on_off", "{:.4f}"),
        ("cpu_loss_pct", "{:.2f} %"),
        ("sampler_cpu_s", "{:.4f} s"),
        ("metered_wall_s", "{:.1f} s"),
        ("sampler_cpu_pct_of_core", "{:.3f} %"),
    ):
        print(f"{key:<34}{fmt.format(r[key]):>14}")
    print(f"{'target: loss <= 1 %':<34}{'met' if r['loss_pct'] <= 1.0 else 'NOT met':>14}")
    rows = [
        BenchRow("metering", "throughput on/off (wall)", r["ratio_on_off"], "ratio", ">= 0.99"),
        BenchRow("metering", "steps per CPU-second on/off", r["cpu_ratio_on_off"], "ratio", ">= 0.99"),
        BenchRow("metering", "sampler CPU", r["sampler_cpu_pct_of_core"], "% of a core", "<= 1"),
    ]
    g = gpu_counter_vs_sampled()
    if g is None:
        print("GPU: skipped (NVML sees no GPU with an energy counter on this machine)")
        return rows
    rows.append(BenchRow("metering", "GPU sampled vs counter", abs(g["diff_pct"]), "%", "<= 2"))
    print(f"GPU: counter {g['counter_j']:.1f} J, sampled {g['sampled_j']:.1f} J, diff {g['diff_pct']:+.2f} %")

    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
