"""Loader throughput from the object store beside the local spool, same run, same batches.

A host ledger of `N_WINDOWS` materializations (bench.bench_warehouse.Ledger: device intervals, window
usage, windows, outcomes) is cut into `N_BATCHES` batches of consecutive ticks, a step's size (tens of
facts each). The same Arrow tables are published twice: into a local home (`FOOTPRINT_STORE` unset:
one machine) and, through a step's spool, into a real S3 server (SeaweedFS on loopback,
`pipelines.stack`); each is merged by `warehouse.loader.sync` into a fresh warehouse. Figures:
facts/s merged from the store vs from the local spool (ratio), the upload rate of the steps, and the
capacity of one loader: facts merged per CPU-second of the loader process x 86,400 (facts/day on one
core; the merge waits on the network too, so wall-clock facts/s is the lower figure).
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.bench_warehouse import Ledger
from bench.common import BenchRow, print_rows
from warehouse.batches import write_tables
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.upload import reset_for_tests

N_WINDOWS = 400
N_BATCHES = 300
SECONDS_PER_DAY = 86_400


@contextmanager
def _s3(root: Path) -> Iterator[dict[str, str]]:
    """A SeaweedFS server on free loopback ports; yields the environment of a step using it."""
    from pipelines.stack.local import s3_client_environment
    from pipelines.stack.seaweed import SeaweedPorts, SeaweedServer

    keys = (secrets.token_hex(8), secrets.token_hex(16))
    server = SeaweedServer(root / "seaweed", SeaweedPorts.choose(), *keys)
    server.start()
    try:
        bucket = server.create_bucket("bench")
        yield {**s3_client_environment(server), "FOOTPRINT_STORE": f"s3://{bucket}/bench"}
    finally:
        server.stop()


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    reset_for_tests()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_for_tests()


def _publish(home: FootprintHome, ledger: Ledger) -> tuple[int, float]:
    """Every batch written (and, with a remote store, uploaded): (facts, seconds)."""
    rng = np.random.default_rng(11)
    bounds = np.linspace(0, len(ledger.tick_ids), N_BATCHES + 1).astype(int)
    facts = 0
    t0 = time.perf_counter()
    for b in range(N_BATCHES):
        bid = f"bench-{b:04d}"
        tables = ledger.batch(rng, bid, int(bounds[b]), int(bounds[b + 1]))
        facts += sum(t.num_rows for t in tables.values())
        write_tables(home, bid, tables)
    return facts, time.perf_counter() - t0


def _merge(home: FootprintHome, facts: int) -> tuple[float, float]:
    """(wall s, process CPU s) of one loader.sync of everything published."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = sync(home)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if res.loaded_facts != facts or res.quarantined:
        raise RuntimeError(f"merged {res.loaded_facts} of {facts} facts; quarantined {res.quarantined}")
    return wall, cpu


def run(root: Path) -> list[BenchRow]:
    ledger = Ledger(np.random.default_rng(7), N_WINDOWS)
    with _env({"FOOTPRINT_STORE": ""}):
        local = FootprintHome.resolve(root / "local").ensure()
        sync(local)  # schema, views, card: not part of the merge figure
        facts, local_write_s = _publish(local, ledger)
        local_wall, local_cpu = _merge(local, facts)
    with _s3(root) as env, _env(env):
        step = FootprintHome.resolve(root / "step").ensure()
        loader = FootprintHome.resolve(root / "loader").ensure()
        _, upload_s = _publish(step, ledger)
        with _env({"FOOTPRINT_STORE": ""}):
            sync(loader)  # schema, views, card (locally, nothing to merge)
        store_wall, store_cpu = _merge(loader, facts)
    note = f"{N_BATCHES} batches of {facts // N_BATCHES} facts (a step's size), {facts:,} facts"
    return [
        BenchRow(
            "store",
            "merge from the object store (SeaweedFS, loopback)",
            facts / store_wall,
            "facts/s",
            baseline=facts / local_wall,
            note=f"baseline: the same batches merged from the local spool; {note}",
        ),
        BenchRow(
            "store",
            "publish + upload from a step's spool",
            facts / upload_s,
            "facts/s",
            baseline=facts / local_write_s,
            note="baseline: publish into the local store (no upload); manifest-last, one PUT per file",
        ),
        BenchRow(
            "store",
            "loader capacity, one core (store)",
            facts / store_cpu * SECONDS_PER_DAY,
            "facts/day",
            note=f"facts per CPU-second of the loader process x 86,400; local spool: "
            f"{facts / local_cpu * SECONDS_PER_DAY:,.0f} facts/day",
        ),
    ]


def main(argv: list[str] | None = None) -> list[BenchRow]:
    argparse.ArgumentParser(description=__doc__).parse_args([] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    print_rows(main())
