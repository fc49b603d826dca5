"""The process table, ownership and the CPU accounting of one interval: hand-computed cases and a
property over random process trees (the accounting never charges more than was used, and exactly
what was used when every vanished process was reaped by a tracked one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.procs import Proc, Tracked, account_cpu, assign_windows, parse_stat, read_processes, track

TCK = 100


def proc(pid: int, ppid: int, cpu: float = 0.0, reaped: float = 0.0, start: int = 10, rss: int = 0) -> Proc:
    return Proc(pid, ppid, start, cpu, reaped, rss)


def test_parse_stat_with_a_hostile_command_name() -> None:
    line = (
        "4242 (evil) (name ) S 17 4242 17 0 -1 4194304 500 0 0 0 150 25 30 12 20 0 3 0 98765 "
        "123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
    )
    p = parse_stat(4242, line, TCK, 4096)
    assert (p.pid, p.ppid, p.start_ticks, p.rss_bytes) == (4242, 17, 98765, 2048 * 4096)
    assert p.cpu_s == pytest.approx(1.75) and p.reaped_cpu_s == pytest.approx(0.42)
    assert p.key == "4242:98765"


def test_read_processes_sees_this_process_and_its_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        procs = read_processes()
        me, it = procs[os.getpid()], procs[child.pid]
        assert it.ppid == os.getpid() and me.cpu_s > 0 and me.rss_bytes > 0
    finally:
        child.kill()
        child.wait()


def test_innermost_window_owns_a_process() -> None:
    procs = {
        p.pid: p for p in [proc(1, 0), proc(10, 1), proc(11, 10), proc(12, 11), proc(13, 12), proc(20, 1)]
    }
    owner = assign_windows(procs, {"10:10": "step", "12:10": "meter"})
    assert owner == {10: "step", 11: "step", 12: "meter", 13: "meter"}  # 1 and 20 are in no window
    assert assign_windows(procs, {"12:99": "reused-pid"}) == {}  # same pid, other start: another process


def test_own_growth_births_and_a_reaped_child() -> None:
    prev = {
        "10:10": Tracked(10, 1, 1.0, 0.0, "w"),
        "11:10": Tracked(11, 10, 2.0, 0.5, "w"),  # will vanish, reaped by 10
    }
    now = {
        1: proc(1, 0),
        10: proc(10, 1, cpu=1.3, reaped=2.5 + 0.8),  # child 11 ended at 2.3 own + 0.5 reaped, +0.8 unseen
        12: proc(12, 10, cpu=0.4, reaped=0.1, start=500),  # born during the interval
        13: proc(13, 10, cpu=7.0, start=5),  # existed before the previous tick, never tracked
    }
    owner = assign_windows(now, {"10:10": "w"})
    use = account_cpu(prev, now, owner, open_windows=["w"], born_after_ticks=400)
    # 0.3 own + (3.3 - 0.0 - 2.5 seen of 11) reaped + 0.5 newborn; 13 only gets a baseline
    assert use.seconds["w"] == pytest.approx(0.3 + 0.8 + 0.5)
    assert use.lost_processes == 0


def test_nested_child_reaped_after_its_window_closed_goes_to_the_outer() -> None:
    # `footprint meter -- footprint meter -- burn`: the inner meter (11) closed its window at the last
    # tick (it is tracked in the outer window now), then exited and was reaped by the outer meter (10)
    prev = {"10:10": Tracked(10, 1, 1.0, 0.0, "outer"), "11:10": Tracked(11, 10, 1.0, 3.0, "outer")}
    now = {1: proc(1, 0), 10: proc(10, 1, cpu=1.0, reaped=4.2)}
    use = account_cpu(
        prev, now, assign_windows(now, {"10:10": "outer"}), open_windows=["outer"], born_after_ticks=0
    )
    assert use.seconds["outer"] == pytest.approx(0.2)  # only the inner meter's CPU after its close


def test_vanished_child_of_a_nested_window_is_charged_to_that_window() -> None:
    prev = {
        "10:10": Tracked(10, 1, 0.0, 0.0, "outer"),
        "11:10": Tracked(11, 10, 0.0, 0.0, "inner"),  # the inner window's root
        "12:10": Tracked(12, 11, 1.0, 0.0, "inner"),  # its burn, reaped by 11 since
    }
    now = {1: proc(1, 0), 10: proc(10, 1), 11: proc(11, 10, reaped=3.0)}
    owner = assign_windows(now, {"10:10": "outer", "11:10": "inner"})
    use = account_cpu(prev, now, owner, open_windows=["outer", "inner"], born_after_ticks=0)
    assert dict(use.seconds) == {"outer": 0.0, "inner": pytest.approx(2.0)}


def test_orphaned_and_unreaped_processes_are_lost_not_guessed() -> None:
    prev = {"10:10": Tracked(10, 1, 0.0, 0.0, "w"), "11:10": Tracked(11, 10, 1.0, 0.0, "w")}
    # 10 died too; nobody tracked reaped 11 or 10 (their parent, pid 1, is outside every window)
    use = account_cpu(prev, {1: proc(1, 0)}, {}, open_windows=["w"], born_after_ticks=0)
    assert sum(use.seconds.values()) == 0 and use.lost_processes == 2 and use.notes


def test_a_total_that_dips_is_kept_monotonic() -> None:
    prev = {"10:10": Tracked(10, 1, 5.0, 2.0, "w")}
    now = {10: proc(10, 1, cpu=4.0, reaped=1.0)}
    owner = {10: "w"}
    assert account_cpu(prev, now, owner, open_windows=["w"], born_after_ticks=0).seconds["w"] == 0.0
    assert track(now, owner, prev)["10:10"].total_s == 7.0


# -- property: a random process tree over one interval ----------------------------------------------
@st.composite
def interval(draw: st.DrawFn) -> tuple[dict[str, Tracked], dict[int, Proc], dict[str, str], int, bool]:
    """(previous tracked state, processes now, roots, CPU really used in windows (centiseconds), whether
    some of it is invisible by construction: an orphaned process)."""
    n = draw(st.integers(1, 7))
    parent = {100: 1} | {100 + i: 100 + draw(st.integers(0, i - 1)) for i in range(1, n)}
    nested = draw(st.sampled_from([None, *sorted(parent)[1:]])) if n > 1 else None
    roots = {f"{100}:10": "outer"} | ({f"{nested}:10": "inner"} if nested else {})
    own = {pid: draw(st.integers(0, 500)) for pid in parent}  # centiseconds at the previous tick
    reaped = {pid: draw(st.integers(0, 300)) for pid in parent}
    before = {pid: proc(pid, parent[pid], own[pid] / TCK, reaped[pid] / TCK) for pid in parent}
    prev_owner = assign_windows(before | {1: proc(1, 0)}, roots)
    prev = track(before, prev_owner, {})
    gained = {pid: draw(st.integers(0, 300)) for pid in parent}
    used = sum(gained.values())
    for pid in parent:
        own[pid] += gained[pid]
    # children born during the interval, some reaped by their parent before the tick
    for k in range(draw(st.integers(0, 3))):
        pid, cpu = 200 + k, draw(st.integers(0, 200))
        parent[pid] = draw(st.sampled_from(sorted(p for p in parent if p < 200)))
        own[pid], reaped[pid], used = cpu, 0, used + cpu
    order = draw(st.permutations(sorted(parent)))
    dead = order[: draw(st.integers(0, len(order)))]
    lost = False
    for pid in dead:  # in a random order: a parent may die before its children
        for c in parent:  # the kernel reparents its live children to init: out of every window
            if parent[c] == pid and c not in dead[: dead.index(pid)]:
                parent[c], lost = 1, True
        if parent[pid] == 1:
            lost = True  # reaped by init: invisible
        else:
            reaped[parent[pid]] += own[pid] + reaped[pid]
    now = {
        p: Proc(p, parent[p], 10 if p < 200 else 50, own[p] / TCK, reaped[p] / TCK, 0)
        for p in parent
        if p not in dead
    }
    now[1] = proc(1, 0)
    return prev, now, roots, used, lost


@settings(max_examples=300, deadline=None)
@given(interval())
def test_accounting_never_exceeds_what_was_used(case: tuple) -> None:  # type: ignore[type-arg]
    prev, now, roots, used_cs, lost = case
    owner = assign_windows(now, roots)
    use = account_cpu(prev, now, owner, open_windows=["outer", "inner"], born_after_ticks=20)
    charged = sum(use.seconds.values())
    assert all(v >= 0 for v in use.seconds.values())
    assert charged <= used_cs / TCK + 1e-9
    if not lost:
        assert charged == pytest.approx(used_cs / TCK, abs=1e-9)


def test_real_child_reaped_between_reads() -> None:
    """A real process: its CPU reaches its parent's reaped time when waited for."""
    me = os.getpid()
    before = read_processes()
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"]
    )
    mid = read_processes()
    child.wait()
    time.sleep(0.01)
    after = read_processes()
    assert child.pid not in after
    prev = track(mid, {me: "w", child.pid: "w"}, {})
    use = account_cpu(prev, after, {me: "w"}, open_windows=["w"], born_after_ticks=mid[me].start_ticks)
    assert use.seconds["w"] >= 0.3 - 0.02  # the child's CPU after the middle read, through its parent
    assert before[me].cpu_s <= after[me].cpu_s
