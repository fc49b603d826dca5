"""8 writer processes publish 1,000 facts each while another process holds the warehouse read-only;
after it lets go, one sync loads exactly 8,000 facts, each batch once, no duplicate fact_id."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.warehouse_holder import hold_warehouse
from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import pending_count, sync

WRITERS = 8
BATCHES_PER_WRITER = 5
FACTS_PER_BATCH = 200

WRITER = """
import datetime as dt, sys
from warehouse.batches import write_batch
from warehouse.facts import EnergyReading, FactBatch, PersonTime
from warehouse.home import FootprintHome
from warehouse.loader import try_sync
home, w = FootprintHome.resolve(sys.argv[1]), sys.argv[2]
n_batches, per_batch = int(sys.argv[3]), int(sys.argv[4])
locked = 0
for b in range(n_batches):
    mid = f"writer{w}-m{b}"
    now = dt.datetime.now(dt.UTC)
    facts = [EnergyReading(mid, f"win-{mid}", i, False, "cpu", 0, "cpu", "h", 1.0, 1.0, "measured", "t", now)
             for i in range(per_batch // 2)]
    facts += [PersonTime(mid, "p", "eng", 1.0) for _ in range(per_batch - len(facts))]
    write_batch(home, FactBatch().add(*facts))
    locked += try_sync(home, wait_s=0.05).locked  # never fails the writer; facts stay pending
print(locked)
"""


@pytest.mark.multiprocess
def test_eight_writers_while_a_reader_holds_the_file(home: FootprintHome) -> None:
    sync(home)  # the warehouse exists, so the reader can hold it
    with hold_warehouse(home.warehouse_path):
        writers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WRITER,
                    str(home.root),
                    str(w),
                    str(BATCHES_PER_WRITER),
                    str(FACTS_PER_BATCH),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in range(WRITERS)
        ]
        outs = [p.communicate(timeout=120) for p in writers]
        assert all(p.returncode == 0 for p in writers), [err for _, err in outs]
        assert all(int(out) == BATCHES_PER_WRITER for out, _ in outs)  # every try_sync met the lock
        assert pending_count(home) == WRITERS * BATCHES_PER_WRITER
    res = sync(home)
    assert res.loaded_facts == WRITERS * BATCHES_PER_WRITER * FACTS_PER_BATCH == 8000
    assert res.loaded_batches == WRITERS * BATCHES_PER_WRITER and res.pending_left == 0
    con = connect(home, read_only=True)
    try:
        n, distinct = con.execute(
            "SELECT count(*), count(DISTINCT fact_id) FROM "
            "(SELECT fact_id FROM energy_reading UNION ALL SELECT fact_id FROM person_time)"
        ).fetchall()[0]
        batches = con.execute("SELECT count(*), count(DISTINCT batch_id) FROM loaded_batch").fetchall()[0]
    finally:
        con.close()
    assert n == distinct == 8000
    assert batches == (WRITERS * BATCHES_PER_WRITER, WRITERS * BATCHES_PER_WRITER)
    assert sync(home).loaded_facts == 0  # nothing left to load twice
