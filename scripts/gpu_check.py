"""`make gpu-check`: is this machine's GPU path right? (docs/gpu-check.md)

On a machine with NVIDIA GPUs: what NVML says of each device (MIG and persistence mode, energy
counter, one counter read's latency), the CUDA-to-NVML device map (MATCH per device), an NCCL
all-reduce on device tensors, a short pretraining and fine-tuning with one rank per GPU (torchrun ->
training.entry), GPU energy by the NVML counter vs by sampled power over the same window, training
throughput metered vs unmetered, and whether the ranks' GPU energy adds up to the devices' total in
the warehouse. Each check prints PASS/FAIL/SKIP (or INFO) with its figure; exit 1 if any FAIL.
Without an NVIDIA GPU it says why nothing was checked and exits 3.

    python scripts/gpu_check.py [--steps 300] [--repeats 1] [--timeout-s 240] [--keep]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python scripts/gpu_check.py`: the repository's packages
    sys.path.insert(0, str(REPO))

from metering.gpu_devices import CudaView, compare_map, list_gpus, map_cuda_devices  # noqa: E402
from metering.gpu_power import PowerSampler  # noqa: E402
from metering.gpu_readiness import (  # noqa: E402
    EXIT_NOTHING_CHECKED,
    FAIL,
    INFO,
    PASS,
    SKIP,
    Check,
    device_checks,
    exit_code,
    format_report,
    map_checks,
    nothing_checked,
    open_nvml,
    overhead_check,
    probe_devices,
    rank_energy_checks,
)

POSITIVE = ["good", "great", "lovely", "superb", "warm", "funny", "bright", "moving", "clever", "fine"]
NEGATIVE = ["bad", "dull", "awful", "boring", "cold", "flat", "weak", "messy", "tired", "poor"]
FILLER = ["the", "film", "was", "a", "story", "and", "plot", "acting", "really", "quite", "cast", "ending"]
SHAPE = {
    "hidden_size": 256,
    "num_layers": 4,
    "num_heads": 4,
    "intermediate_size": 1024,
    "max_position_embeddings": 128,
    "vocab_size": 4000,
}


def log(msg: str) -> None:
    print(f"[gpu-check] {msg}", file=sys.stderr, flush=True)


def write_inputs(d: Path, n_train: int = 4000, n_eval: int = 400) -> tuple[Path, Path]:
    """A synthetic two-class corpus (clean_corpus's columns) and labels for its first train rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(0)
    rows: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for i in range(n_train + n_eval):
        label = "positive" if i % 2 else "negative"
        words = rng.sample(FILLER, 6) + rng.sample(POSITIVE if label == "positive" else NEGATIVE, 2)
        rng.shuffle(words)
        split = "train" if i < n_train else "eval"
        rows.append({"row_id": i, "text": " ".join(words), "split": split, "gold_label": label})
        if split == "train" and len(labels) < 400:
            labels.append({"row_id": i, "text": rows[-1]["text"], "label": label})
    pq.write_table(pa.Table.from_pylist(rows), d / "corpus.parquet")
    pq.write_table(pa.Table.from_pylist(labels), d / "labels.parquet")
    return d / "corpus.parquet", d / "labels.parquet"


def spec(**values: Any) -> dict[str, Any]:
    """A RunSpec as JSON, keeping only the fields this version of training.config declares."""
    from training.config import RunSpec

    names = {f.name for f in dataclasses.fields(RunSpec)}
    return RunSpec.from_json({k: v for k, v in values.items() if k in names}).to_json()


def env(home: Path | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out.update(
        PYTHONPATH=str(REPO) + os.pathsep + out.get("PYTHONPATH", ""),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
    )
    if home is not None:
        out["FOOTPRINT_HOME"] = str(home)
    return out


def torchrun(
    nproc: int, module_args: list[str], run_env: dict[str, str], timeout_s: float
) -> tuple[int, str, str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        *module_args,
    ]
    try:
        r = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=timeout_s, cwd=REPO)
    except subprocess.TimeoutExpired as err:
        return 124, "", f"timed out after {timeout_s:.0f} s: {err}"
    return r.returncode, r.stdout, r.stderr


def last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            return value if isinstance(value, dict) else None
    return None


def runtime_uuids(timeout_s: float) -> tuple[list[str] | None, str]:
    """The CUDA runtime's UUID per ordinal, read in a child (this process keeps no CUDA context)."""
    code = (
        "import json, torch; from metering.gpu_devices import runtime_uuids; "
        "print(json.dumps({'torch': torch.__version__, 'uuids': runtime_uuids()}))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=timeout_s
    )
    got = last_json(r.stdout)
    if r.returncode or got is None:
        return None, f"torch could not be asked ({r.stderr.strip()[-300:]})"
    if not got["uuids"]:
        return (
            None,
            f"torch {got['torch']} sees no CUDA device (a CPU build, or CUDA_VISIBLE_DEVICES hides them)",
        )
    return list(got["uuids"]), f"torch {got['torch']}"


def train(
    task: str,
    nproc: int,
    work: Path,
    home: Path,
    spec_json: dict[str, Any],
    *,
    metered: bool,
    timeout_s: float,
) -> tuple[dict[str, Any] | None, str, str]:
    """One torchrun of training.entry; (RunResult JSON or None, materialization id, error text)."""
    mid = f"gpu-check-{task}-{'m' if metered else 'u'}-{uuid.uuid4().hex[:8]}"
    extras = {
        "spec": spec_json,
        "materialization_id": mid,
        "footprint_home": str(home),
        "heartbeat_s": 10.0,
        "metered": metered,
    }
    path = work / f"{mid}.json"
    path.write_text(json.dumps(extras))
    log(f"{task} ({'metered' if metered else 'unmetered'}) on {nproc} GPU(s)")
    rc, out, err = torchrun(nproc, ["-m", "training.entry", "--extras", str(path)], env(home), timeout_s)
    result = last_json(out) if rc == 0 else None
    return result, mid, "" if result is not None else f"exit {rc}: {err.strip()[-800:]}"


def throughput(result: dict[str, Any]) -> float | None:
    """Samples per second of rank 0's training loop, from the RunResult training.entry printed."""
    for key in ("samples_per_s", "train_samples_per_second"):
        if result.get(key):
            return float(result[key])
    if result.get("samples") and result.get("loop_s"):
        return float(result["samples"]) / float(result["loop_s"])
    return None


def allreduce(nproc: int, timeout_s: float) -> Check:
    name = "NCCL all-reduce on device tensors"
    rc, out, err = torchrun(nproc, ["-m", "metering.gpu_allreduce"], env(), timeout_s)
    got = last_json(out)
    if rc or got is None or not got["ok"]:
        return Check(name, FAIL, f"exit {rc}", err.strip()[-400:])
    gbps = got["bytes"] / got["seconds"] / 1e9 if got["seconds"] else 0.0
    figure = f"{got['backend']} x{got['world_size']} on {got['device']}: sum {got['expected']:g} everywhere"
    return Check(name, PASS if got["backend"] == "nccl" else FAIL, f"{figure}, {gbps:.2f} GB/s")


def pretraining(
    nv: Any, nproc: int, work: Path, corpus: Path, indices: list[int], args: argparse.Namespace
) -> tuple[list[Check], tuple[dict[str, Any], str, Path] | None]:
    """Unmetered and metered pretraining runs (`--repeats` each, alternating) under the power sampler:
    the checks, and the first metered run (result, materialization id, home)."""
    pre = spec(
        task="pretrain", out_dir=str(work / "pre"), corpus_path=str(corpus), max_steps=args.steps,
        batch_size=64, seq_len=64, learning_rate=5e-4, log_every_steps=50, shape=SHAPE,
    )  # fmt: skip
    checks: list[Check] = []
    rates: dict[bool, list[float]] = {True: [], False: []}
    first: tuple[dict[str, Any], str, Path] | None = None
    ignored_unmetered = False
    for i in range(args.repeats):
        for metered in (False, True):
            home = work / f"home-{'m' if metered else 'u'}-{i}"
            sampler = PowerSampler(nv, indices) if indices else None
            if sampler:
                sampler.start()
            run_spec = {**pre, "out_dir": str(home / "pre")}
            result, mid, problem = train(
                "pretrain", nproc, work, home, run_spec, metered=metered, timeout_s=args.timeout_s
            )
            traces = sampler.stop() if sampler else {}
            if result is None:
                checks.append(Check(f"pretraining ({'metered' if metered else 'unmetered'})", FAIL, problem))
                continue
            rate = throughput(result)
            if rate is not None:
                rates[metered].append(rate)
            ignored_unmetered |= not metered and (home / "meter").exists()
            if metered and first is None:
                first = (result, mid, home)
                figure = (
                    f"{result.get('steps')} steps, {rate or 0:.1f} samples/s, "
                    f"world size {result.get('world_size')}"
                )
                checks.append(Check("pretraining, one rank per GPU", PASS, figure))
                checks += [t.check() for t in traces.values()]
    if ignored_unmetered:
        why = "training.entry ignored metered=false: both runs were metered"
        checks.append(Check("metering overhead (throughput)", SKIP, why))
    else:
        checks.append(overhead_check(rates[True], rates[False]))
    return checks, first


def warehouse_checks(home: Path, mid: str, expected: dict[int, str]) -> list[Check]:
    from warehouse.connection import connect
    from warehouse.home import FootprintHome
    from warehouse.loader import sync

    fh = FootprintHome.resolve(home)
    sync(fh, wait_s=30.0)
    con = connect(fh, read_only=True, wait_s=30.0)
    try:
        return rank_energy_checks(con, mid, expected)
    finally:
        con.close()


def finetuning(
    nproc: int, work: Path, home: Path, corpus: Path, labels: Path, checkpoint: str, args: argparse.Namespace
) -> Check:
    fine = spec(
        task="finetune", out_dir=str(home / "fine"), corpus_path=str(corpus),
        max_steps=max(50, args.steps // 3), batch_size=32, seq_len=64, learning_rate=1e-3,
        log_every_steps=25, shape=SHAPE, annotations_path=str(labels), init_checkpoint=checkpoint,
        choices=["negative", "positive"],
    )  # fmt: skip
    done, _, problem = train("finetune", nproc, work, home, fine, metered=True, timeout_s=args.timeout_s)
    name = "fine-tuning, one rank per GPU"
    if done is None:
        return Check(name, FAIL, problem)
    f1 = macro_f1(done.get("metrics") or {})
    figure = f"{done.get('steps')} steps, {throughput(done) or 0:.1f} samples/s"
    return Check(name, PASS, figure + (f", macro-F1 {f1:.3f}" if f1 is not None else ""))


def macro_f1(metrics: dict[str, Any]) -> float | None:
    """Macro-F1 from a RunResult's metrics ({'f1_macro': x} or named rows [('f1_macro', x, None)])."""
    for key in ("f1_macro", "macro_f1", "eval_f1_macro"):
        if isinstance(metrics.get(key), int | float):
            return float(metrics[key])
    for row in metrics.get("rows") or []:
        if len(row) >= 2 and row[0] == "f1_macro" and isinstance(row[1], int | float):
            return float(row[1])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps per run")
    parser.add_argument("--repeats", type=int, default=1, help="metered and unmetered runs each")
    parser.add_argument("--timeout-s", type=float, default=240.0, help="per torchrun")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    nv, reason = open_nvml()
    if nv is None:
        print(nothing_checked(reason or "no NVIDIA GPU"))
        return EXIT_NOTHING_CHECKED
    started = time.monotonic()
    facts = probe_devices(nv)
    checks = device_checks(facts, binding=nv)
    runtime, torch_note = runtime_uuids(args.timeout_s)
    gpus = list_gpus(nv)
    rows = compare_map(map_cuda_devices(nv, CudaView.current(), gpus), runtime, nv, gpus)
    checks += map_checks(rows)
    if runtime is None:
        checks.append(Check("CUDA in torch", FAIL, torch_note))
        print(format_report(checks))
        return exit_code(checks)
    checks.append(Check("CUDA in torch", PASS, f"{torch_note}, {len(runtime)} device(s)"))
    nproc = len(runtime)
    expected = {r.ordinal: r.parent_uuid for r in rows if r.match and r.parent_uuid}  # rank = ordinal
    counted = {f.index for f in facts if f.counter}
    indices = sorted({r.nvml_index for r in rows if r.match and r.nvml_index in counted})

    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        checks.append(allreduce(nproc, args.timeout_s))
        corpus, labels = write_inputs(work)
        more, first = pretraining(nv, nproc, work, corpus, indices, args)
        checks += more
        if first is None:
            checks.append(Check("ranks' GPU energy adds up", SKIP, "no metered pretraining completed"))
        else:
            result, mid, home = first
            checks += warehouse_checks(home, mid, expected)
            checkpoint = str(result.get("checkpoint_dir", ""))
            checks.append(finetuning(nproc, work, home, corpus, labels, checkpoint, args))
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    checks.append(Check("wall time", INFO, f"{time.monotonic() - started:.0f} s"))
    print(format_report(checks))
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
