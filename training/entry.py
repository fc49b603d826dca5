"""The training process: `torchrun --nproc-per-node N -m training.entry`, launched by the
pretrained_model / finetuned_model assets through Dagster Pipes (or by any cluster launcher).

Every rank reads the run spec and the materialization id from the Pipes extras and opens its own
meter window in the host ledger at once (training.rank_meter); rank 0 alone opens the Pipes message
channel: it streams progress to the Dagster log and reports the run's figures at the end (a custom
message with the full `RunResult` and the numeric metadata figures).

Without Dagster: `torchrun ... -m training.entry --extras extras.json` (same keys as the Pipes
extras); rank 0 prints the RunResult as JSON on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from training.config import RunSpec
from training.rank_meter import gather_window_ids, open_rank_window
from training.result import RunResult
from warehouse.home import FootprintHome

Log = Callable[[str], None]


def _raise_on_sigterm(signum: int, _frame: object) -> None:
    # torchrun sends SIGTERM to every rank when one fails: unwind so each rank closes its meter window
    # (the orchestrator then records the materialization as failed).
    raise SystemExit(128 + signum)


@contextmanager
def _channel(rank: int, extras_file: str | None) -> Iterator[tuple[dict[str, Any], Any]]:
    """(extras, pipes context or None). Only rank 0 opens the Pipes message channel."""
    if extras_file:
        with open(extras_file) as fh:
            yield json.load(fh), None
        return
    from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader, open_dagster_pipes

    if rank == 0:
        with open_dagster_pipes() as pipes:
            yield dict(pipes.extras), pipes
        return
    params = PipesEnvVarParamsLoader().load_context_params()
    with PipesDefaultContextLoader().load_context(params) as data:
        yield dict(data.get("extras") or {}), None


def figures(result: RunResult) -> dict[str, float | int]:
    """Numeric metadata rank 0 reports through Pipes (plotted by Dagster across materializations)."""
    out: dict[str, float | int] = {
        "training/wall_s": round(result.wall_s, 3),
        "training/loop_s": round(result.loop_s, 3),
        "training/loop_cpu_s": round(result.loop_cpu_s, 3),
        "training/steps": result.steps,
        "training/world_size": result.world_size,
        "training/samples_per_s": round(result.samples_per_s, 2),
        "training/tokens_per_s": round(result.tokens_per_s, 1),
        "training/params": result.params,
        "training/bytes_written": result.bytes_written,
    }
    if result.final_loss is not None:
        out["training/final_loss"] = round(result.final_loss, 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.entry")
    parser.add_argument("--extras", help="JSON file with the Pipes extras (when not run by Dagster)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    rank = int(os.environ.get("RANK", "0"))
    with _channel(rank, args.extras) as (extras, pipes):
        # the rank's window first: everything after this (imports included) is the rank's
        window = open_rank_window(
            FootprintHome.resolve(extras["footprint_home"]),
            materialization_id=extras["materialization_id"],
            rank=rank,
            heartbeat_s=float(extras.get("heartbeat_s", 10.0)),
        )
        try:
            spec = RunSpec.from_json(extras["spec"])
            spec.check()
            log: Log = pipes.log.info if pipes is not None else _quiet
            if pipes is None and rank == 0:
                log = _stderr
            from training.loop import init_dist

            try:
                dist = init_dist(spec.threads_per_rank)
                if spec.task == "pretrain":
                    from training.pretrain import run
                else:
                    from training.finetune import run
                result = run(spec, dist, log)
                window_ids = gather_window_ids(window.window_id, rank, dist.world_size)
            finally:
                from training.loop import shutdown_dist

                shutdown_dist()
        finally:
            window.close()
        if rank == 0:
            result = dataclasses.replace(result, window_ids=window_ids)
            if pipes is not None:
                # One custom message: the asset returns an ArtifactHandle (an Output), so the figures
                # travel with the result rather than as a Pipes-reported materialization.
                pipes.report_custom_message({"result": result.to_json(), "metadata": figures(result)})
            else:
                print(json.dumps(result.to_json()))
    return 0


def _quiet(_msg: str) -> None:
    return None


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
