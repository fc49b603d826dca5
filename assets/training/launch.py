"""Launching a training run: `torchrun --nproc-per-node N -m training.entry` as a Dagster Pipes
subprocess. The same entry point runs on this CPU (gloo), on several GPUs (nccl) or under a cluster
launcher (pass `torchrun_args`, e.g. `--nnodes=2 --rdzv-backend=c10d --rdzv-endpoint=HOST:29400`).

`resumable` gives the run its checkpoint directory, stable across attempts (training/checkpoints.py):
a materialization whose previous attempt was killed or failed resumes from that attempt's newest
checkpoint, and says so with a `resumed_from` lineage edge, so its end-to-end footprint holds both
attempts. After a success the checkpoints are removed; after a failure they stay (a Storage fact of
kind 'resume_checkpoint' says how many bytes the failed attempt left for the next one), unless the
attempt failed before its first checkpoint.

With a remote store the directory is mirrored there (training/checkpoints.py): the newest checkpoint
is downloaded when the attempt starts and the complete ones are uploaded when it fails, so the next
attempt may run on another machine; the bytes moved are Transfer facts of the attempt.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

from metering.recorder import MaterializationRecorder
from training.checkpoints import checkpoint_attempt, checkpoint_key, complete_checkpoints, upload_checkpoints
from training.config import RunSpec, TrainingConfigError
from training.result import RunResult
from warehouse.artifacts import ArtifactHandle, record_moved
from warehouse.batches import write_batch
from warehouse.facts import FactBatch, LineageEdge
from warehouse.store import Store, StoreError

HUB_PROBE_TIMEOUT_S = 3.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class TrainingLaunchError(RuntimeError):
    """The training process ended without reporting a result."""


def torchrun_command(nproc_per_node: int, torchrun_args: list[str]) -> list[str]:
    """The venv's torchrun (next to sys.executable), or `python -m torch.distributed.run`."""
    if nproc_per_node < 1:
        raise TrainingConfigError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    exe = Path(sys.executable).parent / "torchrun"
    base = [str(exe)] if exe.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    placement = list(torchrun_args) or ["--standalone"]
    return [*base, *placement, "--nproc-per-node", str(nproc_per_node), "-m", "training.entry"]


def hf_home(cache_dir: Path) -> Path:
    return cache_dir / "huggingface"


def check_hub(name: str, cache_dir: Path) -> None:
    """Fail at once (not after a ~20 s hang) when `name` cannot be fetched: offline mode without a
    cached copy, or the hub endpoint not reachable. A local checkpoint directory needs no hub."""
    if Path(name).is_dir():
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json", cache_dir=str(hf_home(cache_dir) / "hub"))
        if not isinstance(cached, str):
            raise TrainingConfigError(
                f"init_from={name!r} but HF_HUB_OFFLINE is set and it is not in the cache "
                f"{hf_home(cache_dir)}; unset HF_HUB_OFFLINE on a machine with network, pre-download it, "
                "or leave init_from empty to train from scratch"
            )
        return
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as err:
        raise TrainingConfigError(
            f"init_from={name!r} but the hub {host}:{port} is not reachable ({err}); "
            "leave init_from empty to train from scratch, or set HF_ENDPOINT to a reachable mirror"
        ) from err


def run_training(
    context: dg.AssetExecutionContext,
    rec: MaterializationRecorder,
    spec: RunSpec,
    *,
    nproc_per_node: int,
    torchrun_args: list[str],
) -> tuple[RunResult, dict[str, object]]:
    """Run the job; return rank 0's RunResult and the metadata it reported through Pipes."""
    env = {
        "FOOTPRINT_HOME": str(rec.home.root),
        "HF_HOME": str(hf_home(rec.home.cache_dir)),
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",  # the expected MLM->classifier LOAD REPORT is noise in the log
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    extras = {
        "spec": spec.to_json(),
        "materialization_id": rec.materialization_id,
        "asset_key": rec.asset_key,
        "run_id": rec.run_id,
        "footprint_home": str(rec.home.root),
        "heartbeat_s": rec.heartbeat_s,
        "metered": True,
    }
    command = torchrun_command(nproc_per_node, torchrun_args)
    context.log.info(f"launching: {' '.join(command)}")
    client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT), env=env)
    invocation = client.run(context=context, command=command, extras=extras)
    messages = invocation.get_custom_messages()
    if not messages:
        raise TrainingLaunchError("the training job exited without reporting a result (rank 0 sent nothing)")
    last = messages[-1]
    return RunResult.from_json(last["result"]), dict(last["metadata"])


@contextmanager
def resumable(
    context: dg.AssetExecutionContext,
    rec: MaterializationRecorder,
    spec: RunSpec,
    *,
    upstream: list[ArtifactHandle],
    store: Store | None = None,
) -> Iterator[RunSpec]:
    """`spec` with its checkpoint directory, resuming from a previous attempt's newest checkpoint
    when there is one, here or in the store (see the module docstring)."""
    run_key = spec.run_key([h.materialization_id for h in upstream])
    with checkpoint_attempt(
        rec.home,
        asset_key=rec.asset_key,
        run_key=run_key,
        materialization_id=rec.materialization_id,
        store=store,
    ) as attempt:
        if store is not None and attempt.downloaded is not None:
            record_moved(rec, store, [attempt.downloaded])
        resume = attempt.resume
        if not attempt.shared:
            context.log.warning(
                f"another materialization is training the same run in {attempt.directory.parent / run_key} "
                f"now; this one checkpoints in {attempt.directory} and cannot resume from it"
            )
        if resume is not None:
            previous = resume.previous_materialization_id
            if previous is not None and previous != rec.materialization_id:
                # published at once, not with the step's final batch: a step killed later keeps the link
                edge = LineageEdge(rec.materialization_id, previous, rec.asset_key, relation="resumed_from")
                write_batch(rec.home, FactBatch().add(edge))
            context.log.info(
                f"resuming from step {resume.step} ({resume.checkpoint}), left by materialization "
                f"{previous or 'unknown'}: the steps before it are not trained again"
            )
        try:
            yield dataclasses.replace(
                spec,
                checkpoint_dir=str(attempt.directory),
                resume_from=str(resume.checkpoint) if resume is not None else "",
            )
        except BaseException:
            if not complete_checkpoints(attempt.directory):
                attempt.remove()  # nothing to resume from
                raise
            held = rec.add_storage(attempt.directory, kind="resume_checkpoint")
            where = str(attempt.directory)
            if store is not None and not store.local and attempt.shared:
                try:  # the failure propagates whatever happens here
                    uploaded = upload_checkpoints(
                        store, checkpoint_key(rec.home, attempt.directory), attempt.directory
                    )
                    if uploaded is not None:
                        record_moved(rec, store, [uploaded])
                        where += f" and {uploaded.url}"
                except StoreError as err:
                    context.log.error(f"the checkpoints could not be uploaded to the store: {err}")
            context.log.warning(
                f"the run failed; its checkpoints ({held} bytes in {where}) stay for the "
                "next materialization to resume from"
            )
            raise
        attempt.remove()
        if store is not None and not store.local and attempt.shared:  # the final model is published
            try:
                store.delete_tree(checkpoint_key(rec.home, attempt.directory))
            except StoreError as err:  # the run succeeded; stale checkpoints only cost storage
                context.log.warning(f"the run's checkpoints could not be removed from the store: {err}")
