"""`compute_tick` as a pure function over synthetic host samples: whatever the counters say (host busy
below the windows' sum, processes using more than the interval's capacity, tiny intervals, processes
exiting, GPUs with any utilisation), every tick's facts keep sum(use) <= busy <= capacity."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.host import Clock, CpuStat, MemInfo
from metering.nvml import GpuSample
from metering.processor import ProcessorInfo
from metering.procs import Proc
from metering.rapl import RaplSample
from metering.state import LedgerState
from metering.tick import HostSample, OpenRequest, compute_tick, conserve

TCK = 100
CPU = ProcessorInfo("AuthenticAMD", 25, 1, 1, "AMD EPYC", True, "amd-epyc-milan")
PARENT = {10: 1, 11: 10, 12: 10, 13: 12, 14: 12}


def sample(t: float, procs: dict[int, Proc], busy_ticks: int, used: int, gpu: GpuSample) -> HostSample:
    return HostSample(
        clock=Clock(1.8e9 + t, 1000.0 + t, int((1000.0 + t) * TCK)),
        procs={1: Proc(1, 0, 1, 0.0, 0.0, 0), **procs},
        cpu=CpuStat(busy_ticks, 2),
        mem=MemInfo(8_000_000_000, 8_000_000_000 - used),
        rapl=RaplSample(),
        gpus=[gpu],
        processor=CPU,
        ticks_per_s=TCK,
    )


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Successive host readings: per tick its duration, per-process CPU growth, deaths, host busy."""
    steps = []
    for _ in range(draw(st.integers(2, 6))):
        steps.append(
            {
                "dur": draw(st.floats(0.001, 5.0)),
                "grow": {pid: draw(st.integers(0, 600)) for pid in PARENT},  # ticks: may exceed capacity
                "busy": draw(st.integers(0, 1500)),  # host busy ticks: may be below the windows' sum
                "die": draw(st.sets(st.sampled_from(sorted(PARENT)[1:]), max_size=2)),
                "rss": draw(st.integers(0, 2_000_000_000)),
                "util": draw(
                    st.dictionaries(st.sampled_from([10, 11, 13, 99]), st.floats(0, 100), max_size=4)
                ),
                "pids": draw(st.one_of(st.none(), st.lists(st.sampled_from([10, 11, 13, 99]), max_size=4))),
            }
        )
    return steps


_DEVICES: dict[tuple[str, str, int], dict[str, Any]] = {}
_USED: dict[tuple[str, str, int], float] = defaultdict(float)


def check(batch_rows: dict[str, list[dict[str, Any]]]) -> None:
    """Per tick and device, over every batch so far (a later batch can place CPU that arrived late
    back into an earlier tick): sum of use <= busy <= capacity."""
    for d in batch_rows.get("device_interval", []):
        _DEVICES[(d["tick_id"], d["device_kind"], d["device_index"])] = d
    for u in batch_rows.get("window_usage", []):
        if u["use"] is not None:
            assert u["use"] >= 0
            _USED[(u["tick_id"], u["device_kind"], u["device_index"])] += u["use"]
    for key, d in _DEVICES.items():
        assert d["busy"] is None or d["busy"] <= d["capacity"] * (1 + 1e-9) + 1e-12, d
        ceiling = d["busy"] if d["busy"] is not None else d["capacity"]
        assert _USED[key] <= ceiling * (1 + 1e-9) + 1e-12, d


@settings(max_examples=150, deadline=None)
@given(histories())
def test_every_tick_conserves_each_device(history: list[dict[str, Any]]) -> None:
    parent = dict(PARENT)
    cpu = dict.fromkeys(PARENT, 0)
    reaped = dict.fromkeys(PARENT, 0)
    alive = set(PARENT)
    t, busy = 0.0, 0
    state = LedgerState(boot_id="b")
    opens = [OpenRequest("w-outer", "m1", "step", "outer", 10), OpenRequest("w-inner", "m2", "rank", "r", 12)]
    for i, step in enumerate(history):
        t += step["dur"]
        busy += step["busy"]
        for pid in sorted(alive):
            cpu[pid] += step["grow"][pid]
        dying = step["die"] & alive if i > 0 else set()  # the windows' roots exist when they open
        for pid in sorted(dying, reverse=True):  # children before parents
            alive.discard(pid)
            if parent[pid] in alive:
                reaped[parent[pid]] += cpu[pid] + reaped[pid]
            for c in alive:
                if parent[c] == pid:
                    parent[c] = 1  # orphaned
        procs = {
            pid: Proc(pid, parent[pid], 5, cpu[pid] / TCK, reaped[pid] / TCK, step["rss"] // 5)
            for pid in alive
        }
        gpu = GpuSample(
            "GPU-x",
            0,
            "g",
            "GPU-x",
            energy_mj=int(t * 100_000),
            has_counter=True,
            pids=step["pids"],
            util=step["util"],
        )
        out = compute_tick(
            state,
            sample(t, procs, busy, step["rss"], gpu),
            host="h",
            opens=opens if i == 0 else [],
            closes=["w-outer", "w-inner"] if i == len(history) - 1 else [],
        )
        check(out.batch.rows)
        state = out.state
    assert state.windows == {}


def test_conserve_says_what_it_changed() -> None:
    uses, busy, notes = conserve({"a": 3.0, "b": 1.0}, busy=2.0, capacity=2.0, unit="thread_s")
    assert sum(uses.values()) <= 2.0 and busy == 2.0 and "scaled to it" in notes[0]
    uses, busy, notes = conserve({"a": 0.5}, busy=0.2, capacity=2.0, unit="thread_s")
    assert (uses, busy) == ({"a": 0.5}, 0.5) and "raised" in notes[0]
    uses, busy, notes = conserve({"a": 0.5}, busy=3.0, capacity=2.0, unit="thread_s")
    assert busy == 2.0 and "capped" in notes[0]
    assert conserve({"a": 0.5}, busy=1.0, capacity=2.0, unit="gb_s") == ({"a": 0.5}, 1.0, [])


def test_cpu_beyond_an_intervals_capacity_is_carried_not_lost() -> None:
    """A 1 s interval on 2 threads whose process read 2.6 CPU-s (read after the clock, in 10 ms ticks):
    the interval shows 2 thread-s, the next one the 0.6 left over; the total is what was used."""
    gpu = GpuSample(0, "GPU-x", 0, "g", "GPU-x", energy_mj=0, has_counter=True, pids=[], util={})
    state = LedgerState()
    rows = []
    readings = [(0.0, 0), (1.0, 260), (2.0, 300)]  # (time, process CPU ticks)
    for i, (t, ticks) in enumerate(readings):
        procs = {10: Proc(10, 1, 1, ticks / TCK, 0.0, 0)}
        out = compute_tick(
            state,
            sample(t, procs, busy_ticks=ticks, used=0, gpu=gpu),
            host="h",
            opens=[OpenRequest("w", "m", "step", "s", 10)] if i == 0 else [],
        )
        check(out.batch.rows)
        rows += [u for u in out.batch.rows.get("window_usage", []) if u["device_kind"] == "cpu"]
        state = out.state
    assert [round(u["use"], 6) for u in rows] == [2.0, 1.0]


def test_a_child_read_gone_before_its_parent_reaped_it_counts_once() -> None:
    """Tick 1 sees the child (pid 11) with 1.0 CPU-s; tick 2 reads /proc after the child is gone but
    before the parent's reaped-children time grew; tick 3 sees the parent's cutime grow by the child's
    whole 1.5 s. The window is charged 1.5 in all, not 2.5; the 0.5 used after tick 1 lands in an
    interval with room for it, not in a tick of a few ms."""
    gpu = GpuSample(0, "GPU-x", 0, "g", "GPU-x", energy_mj=0, has_counter=True, pids=[], util={})
    readings = [  # (time s, {pid: (cpu_s, reaped_cpu_s)}, host busy ticks)
        (0.0, {10: (0.0, 0.0), 11: (0.0, 0.0)}, 0),
        (1.0, {10: (0.0, 0.0), 11: (1.0, 0.0)}, 100),
        (2.0, {10: (0.0, 0.0)}, 200),  # the child used 0.5 more, exited; not yet reaped
        (2.005, {10: (0.0, 1.5)}, 200),  # reaped: its whole 1.5 s in the parent's cutime
    ]
    state, uses = LedgerState(), []
    for i, (t, cpu, busy) in enumerate(readings):
        procs = {pid: Proc(pid, 1 if pid == 10 else 10, pid, c, r, 0) for pid, (c, r) in cpu.items()}
        out = compute_tick(
            state,
            sample(t, procs, busy_ticks=busy, used=0, gpu=gpu),
            host="h",
            opens=[OpenRequest("w", "m", "step", "s", 10)] if i == 0 else [],
            closes=["w"] if i == len(readings) - 1 else [],
        )
        check(out.batch.rows)
        uses += [u["use"] for u in out.batch.rows.get("window_usage", []) if u["device_kind"] == "cpu"]
        state = out.state
    assert sum(uses) == pytest.approx(1.5)
