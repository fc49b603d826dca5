"""The training process: `torchrun --nproc-per-node N -m training.entry`, launched by the
pretrained_model / finetuned_model assets through Dagster Pipes (or by any cluster launcher).

Every rank reads the run spec and the materialization id from the Pipes extras and opens its own
meter window in the host ledger at once, before importing torch (training.rank_meter); the run's
`FootprintCallback` adopts that window and records the rank's progress and the evaluations
(training/callback.py: the same callback a user adds to their own Hugging Face script). Rank 0 alone
opens the Pipes message channel: it streams progress to the Dagster log and reports the run's figures
at the end (a custom message with the full `RunResult` and the numeric metadata figures).

Without Dagster: `torchrun ... -m training.entry --extras extras.json` (same keys as the Pipes
extras); rank 0 prints the RunResult as JSON on stdout. Extras: `spec` (a RunSpec as JSON),
`materialization_id`, `footprint_home`, `heartbeat_s`, and `metered` (default true; false: no rank
window and no FootprintCallback, e.g. to measure the metering's own overhead; then the materialization
id and home are not needed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from training.config import RunSpec
from training.rank_meter import open_rank_window
from training.result import RunResult
from warehouse.home import FootprintHome


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
    if rank == 0:
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            yield dict(pipes.extras), pipes
        return
    from training.meter_target import pipes_extras

    yield pipes_extras() or {}, None


def figures(result: RunResult) -> dict[str, float | int]:
    """Numeric metadata rank 0 reports through Pipes (plotted by Dagster across materializations)."""
    out: dict[str, float | int] = {
        "training/wall_s": round(result.wall_s, 3),
        "training/loop_s": round(result.loop_s, 3),
        "training/loop_cpu_s": round(result.loop_cpu_s, 3),
        "training/steps": result.steps,
        "training/global_step": result.global_step,
        "training/resumed_from_step": result.resumed_from_step,
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
        metered = bool(extras.get("metered", True))
        # the rank's window first: everything after this (imports included) is the rank's
        window = (
            open_rank_window(
                FootprintHome.resolve(extras["footprint_home"]),
                materialization_id=extras["materialization_id"],
                rank=rank,
                heartbeat_s=float(extras.get("heartbeat_s", 10.0)),
            )
            if metered
            else None
        )
        callback: Any = None
        try:
            spec = RunSpec.from_json(extras["spec"])
            spec.check()
            log = pipes.log.info if pipes is not None else (_stderr if rank == 0 else _quiet)
            from training.counting import BatchCounter
            from training.dist import gather_strings, init_dist, shutdown_dist

            counter = BatchCounter()
            callbacks: list[Any] = []
            if window is not None:
                from training.callback import FootprintCallback

                callback = FootprintCallback(
                    materialization_id=extras["materialization_id"],
                    home=extras["footprint_home"],
                    window=window,
                    counter=counter,
                )
                callbacks.append(callback)
            try:
                dist = init_dist(spec.threads_per_rank)
                if spec.task == "pretrain":
                    from training.pretrain import run
                else:
                    from training.finetune import run
                result = run(spec, dist, log, callbacks=callbacks, counter=counter)
                window_ids = gather_strings(window.window_id, dist) if window is not None else []
            finally:
                shutdown_dist()
        finally:
            if callback is not None:
                callback.close()  # its facts are published before the window closes
            if window is not None:
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
