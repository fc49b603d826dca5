"""Training throughput and energy: the default pretraining (tiny BERT MLM, batch 32, seq 32) on this
CPU, and, where a GPU is visible, the same on the GPU with NVML-measured energy, joules per token and
model FLOPs utilisation.

    .venv/bin/python -m bench.bench_training [--steps 300] [--peak-tflops T] [--callback-pairs 3]

Callback overhead (issue 16, target <= 1 % on CPU): the same pretraining with and without
`FootprintCallback` (its rank window in a host ledger, heartbeats every second: ten times the
pipeline's default, so an upper bound; progress facts every `log_every_steps`), alternated in pairs
in this process; the ratio of the medians of loop wall seconds and of the process's CPU seconds
(every thread, the callback's ticks included).

Runs in one process (no torchrun: the launcher's start-up is not throughput). Steps default to 300
(the rate is steady after the first few; the asset's default is 1200). The corpus is synthetic
(5,000 short sentences), so the figures do not depend on ../shared.
MFU = 6 x params x tokens computed / loop seconds / peak FLOP/s (the usual 6N per token for forward +
backward; padded tokens, since padding is computed too). Peak: `--peak-tflops`, else a small table of
dense fp32/TF32 peaks by GPU name (fp32 training here, TF32 matmuls enabled on GPU).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import BenchRow
from warehouse.home import FootprintHome

# Dense peak FLOP/s for the precision this bench trains in (TF32 tensor cores on Ampere and newer).
PEAK_TFLOPS = {"H100": 494.7, "H200": 494.7, "A100": 156.0, "L4": 60.0, "A10": 62.5, "T4": 8.1, "V100": 15.7}


@dataclass(frozen=True)
class TrainFigures:
    device: str
    steps: int
    loop_s: float
    loop_cpu_s: float
    tokens: int
    padded_tokens: int
    params: int
    energy_j: float | None  # GPU energy over the loop (NVML), or None
    energy_method: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.loop_s

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.loop_s

    def mfu(self, peak_flops: float) -> float:
        return 6.0 * self.params * self.padded_tokens / self.loop_s / peak_flops


def _corpus(path: Path, n: int = 5000) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(0)
    words = [f"w{i}" for i in range(1500)] + ["the", "a", "film", "good", "bad", "and", "was", "story"]
    rows = [
        {"row_id": str(i), "text": " ".join(rng.choices(words, k=rng.randint(8, 40))), "split": "train"}
        for i in range(n)
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def run_pretraining(steps: int, device_hint: str, work: Path) -> TrainFigures:
    """The default pretraining config, in this process, on CPU or the first GPU."""
    import torch

    from metering.ledger import Ledger
    from metering.window import Window
    from training.config import RunSpec
    from training.dist import init_dist
    from training.pretrain import run

    spec = RunSpec(
        task="pretrain",
        out_dir=str(work / f"ckpt-{device_hint}"),
        corpus_path=str(_corpus(work / "corpus.parquet")),
        max_steps=steps,
        log_every_steps=max(1, steps // 4),
    )
    dist = init_dist(spec.threads_per_rank)
    window: Window | None = None
    ledger_home = FootprintHome.resolve(work / "ledger").ensure()
    if device_hint == "gpu":
        torch.backends.cuda.matmul.allow_tf32 = True
        window = Ledger(ledger_home).window(materialization_id=None, role="window", name="bench-train")
    result = run(spec, dist, lambda msg: print("   ", msg, flush=True))
    energy_j, method = None, "unavailable"
    if window is not None:
        window.close()
        energy_j, method = _gpu0_energy(ledger_home)
    return TrainFigures(
        dist.device,
        result.steps,
        result.loop_s,
        result.loop_cpu_s,
        result.tokens,
        result.padded_tokens,
        result.params,
        energy_j,
        method,
    )


@dataclass(frozen=True)
class Overhead:
    plain_loop_s: float
    metered_loop_s: float
    plain_cpu_s: float
    metered_cpu_s: float
    steps: int
    facts: int  # training_progress rows the metered runs wrote


def callback_overhead(steps: int, pairs: int, work: Path) -> Overhead:
    """Median loop wall and CPU seconds of `pairs` plain and metered pretraining runs, alternated."""
    import statistics

    from training.callback import FootprintCallback
    from training.config import RunSpec
    from training.counting import BatchCounter
    from training.dist import init_dist
    from training.pretrain import run

    corpus = _corpus(work / "corpus-cb.parquet")
    home = FootprintHome.resolve(work / "cb-home").ensure()
    dist = init_dist(1)
    plain: list[tuple[float, float]] = []
    metered: list[tuple[float, float]] = []
    for i in range(2 * pairs):
        with_callback = i % 2 == 1
        spec = RunSpec(
            task="pretrain",
            out_dir=str(work / f"cb-{i}"),
            corpus_path=str(corpus),
            max_steps=steps,
            log_every_steps=50,
        )
        counter = BatchCounter()
        callbacks = (
            [
                FootprintCallback(
                    materialization_id=f"bench-cb-{i}", home=home, heartbeat_s=1.0, counter=counter
                )
            ]
            if with_callback
            else []
        )
        result = run(spec, dist, lambda _msg: None, callbacks=callbacks, counter=counter)
        for cb in callbacks:
            cb.close()
        (metered if with_callback else plain).append((result.loop_s, result.loop_cpu_s))
    from metering.usage import read_fact_table
    from warehouse.batches import pending_batches

    progress = read_fact_table(pending_batches(home), "training_progress")
    return Overhead(
        statistics.median(p[0] for p in plain),
        statistics.median(m[0] for m in metered),
        statistics.median(p[1] for p in plain),
        statistics.median(m[1] for m in metered),
        steps,
        0 if progress is None else progress.num_rows,
    )


def overhead_rows(o: Overhead, pairs: int) -> list[BenchRow]:
    note = f"{o.steps} steps x {pairs} pairs, medians; heartbeat 1 s; {o.facts} progress facts written"
    return [
        BenchRow("training", "callback: loop wall s, with / without", o.metered_loop_s, "s",
                 baseline=o.plain_loop_s, ratio_target="<= 1.01", note=note),
        BenchRow("training", "callback: loop CPU s, with / without", o.metered_cpu_s, "cpu_s",
                 baseline=o.plain_cpu_s, ratio_target="<= 1.01", note="every thread of the process"),
    ]  # fmt: skip


def _gpu0_energy(home: FootprintHome) -> tuple[float | None, str]:
    """Whole-device energy of GPU 0 over the ledger's intervals (the window was the only one)."""
    from metering.usage import read_fact_table
    from warehouse.batches import pending_batches

    t = read_fact_table(pending_batches(home), "device_interval")
    rows = [r for r in (t.to_pylist() if t is not None else []) if r["device_kind"] == "gpu"]
    rows = [r for r in rows if r["device_index"] == 0]
    known = [r["energy_j"] for r in rows if r["energy_j"] is not None]
    method = ",".join(sorted({f"{r['method']}:{r['source']}" for r in rows})) or "unavailable"
    return (sum(known) if known else None), method


def _peak_flops(name: str, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    for key, tflops in PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def main(argv: list[str] | None = None) -> list[BenchRow]:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_training")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--peak-tflops", type=float, default=None, help="GPU peak for MFU (dense)")
    parser.add_argument("--callback-pairs", type=int, default=3, help="plain/metered pairs (0: skip)")
    args = parser.parse_args(argv if argv is not None else [])
    import torch

    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        if args.callback_pairs > 0:
            rows += overhead_rows(
                callback_overhead(args.steps, args.callback_pairs, Path(tmp)), args.callback_pairs
            )
        if not torch.cuda.is_available():
            cpu = run_pretraining(args.steps, "cpu", Path(tmp))
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            note = f"default config (hidden 64, 2 layers, batch 32, seq 32), {cpu.steps} steps, 1 thread"
            rows += [
                BenchRow("training", "cpu pretrain tokens/s", cpu.tokens_per_s, "tokens/s", note=note),
                BenchRow(
                    "training", "cpu pretrain steps/s", cpu.steps_per_s, "steps/s", note=f"load avg {load}"
                ),
                BenchRow(
                    "training",
                    "cpu pretrain tokens per CPU-second",
                    cpu.tokens / max(cpu.loop_cpu_s, 1e-9),
                    "tokens/cpu_s",
                    note="independent of other load on the machine",
                ),
                BenchRow("training", "params", float(cpu.params), "params"),
            ]
            print("   GPU part: no GPU (torch.cuda.is_available() is False)", flush=True)
            return rows
        gpu = run_pretraining(args.steps, "gpu", Path(tmp))
        name = torch.cuda.get_device_name(0)
        rows += [
            BenchRow("training", "gpu pretrain tokens/s", gpu.tokens_per_s, "tokens/s", note=name),
            BenchRow("training", "gpu pretrain steps/s", gpu.steps_per_s, "steps/s"),
        ]
        if gpu.energy_j is not None:
            rows += [
                BenchRow("training", "gpu energy", gpu.energy_j, "J", note=gpu.energy_method),
                BenchRow("training", "gpu joules/token", gpu.energy_j / max(gpu.tokens, 1), "J/token"),
            ]
        peak = _peak_flops(name, args.peak_tflops)
        if peak is not None:
            rows.append(
                BenchRow(
                    "training", "gpu MFU", 100.0 * gpu.mfu(peak), "%", note=f"peak {peak / 1e12:g} TFLOP/s"
                )
            )
    return rows


if __name__ == "__main__":
    import sys

    from bench.common import print_rows

    print_rows(main(sys.argv[1:]), title="bench_training")
