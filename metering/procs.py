"""The process table of a host, who owns each process, and each window's CPU time and memory.

A process is keyed by pid + start time (`pid:start_ticks`), so a reused pid is another process. One
read of `/proc/<pid>/stat` per process per tick gives its parent, its own user + system time, the
time of the children it reaped (cutime + cstime) and its resident set (all in one file: ~1 ms for 70
processes here).

Ownership: a process belongs to its innermost window, the window whose root is its nearest
ancestor-or-self (`assign_windows`). CPU of an interval (`account_cpu`, see docs/metering.md):
- a process seen at both ticks: the growth of its own time;
- a process born during the interval: its whole own time and reaped children's time;
- processes that vanished: the growth of the reaped-children time of their nearest surviving tracked
  ancestor, minus what had already been seen of them (their last own + reaped totals), clamped at 0
  (a process that was orphaned, or reaped by an untracked process, is lost: never double-counted).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from metering.host import PROC, clock_ticks_per_s


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start_ticks: int  # clock ticks after boot: with the pid, the process's identity
    cpu_s: float  # own user + system
    reaped_cpu_s: float  # children it waited for (cutime + cstime), their descendants included
    rss_bytes: int

    @property
    def key(self) -> str:
        return f"{self.pid}:{self.start_ticks}"


def parse_stat(pid: int, text: str, ticks_per_s: int, page_bytes: int) -> Proc:
    """One `/proc/<pid>/stat` line (the command name may hold spaces and parentheses)."""
    f = text.rsplit(")", 1)[1].split()  # f[0] is field 3 (state): field n is f[n - 3]
    return Proc(
        pid=pid,
        ppid=int(f[1]),
        start_ticks=int(f[19]),
        cpu_s=(int(f[11]) + int(f[12])) / ticks_per_s,
        reaped_cpu_s=(int(f[13]) + int(f[14])) / ticks_per_s,
        rss_bytes=int(f[21]) * page_bytes,
    )


def read_processes(proc_root: Path = PROC) -> dict[int, Proc]:
    """Every process of the host now (a process that exits while being read is skipped)."""
    ticks, page = clock_ticks_per_s(), os.sysconf("SC_PAGE_SIZE")
    out: dict[int, Proc] = {}
    root = str(proc_root)
    for name in os.listdir(root):
        if not name.isdigit():
            continue
        try:
            with open(f"{root}/{name}/stat", "rb") as fh:
                text = fh.read().decode(errors="replace")
            out[int(name)] = parse_stat(int(name), text, ticks, page)
        except (OSError, ValueError, IndexError):
            continue
    return out


def assign_windows(procs: dict[int, Proc], roots: dict[str, str]) -> dict[int, str]:
    """pid -> window id for every process inside a window. `roots`: root process key -> window id
    (when several windows share a root, the caller passes the innermost, i.e. the newest)."""
    owner: dict[int, str | None] = {}
    for pid in procs:
        path: list[int] = []
        cur: int | None = pid
        found: str | None = None
        while cur is not None and cur in procs and cur not in owner and cur not in path:
            path.append(cur)
            p = procs[cur]
            if p.key in roots:
                found = roots[p.key]
                break
            cur = p.ppid if p.ppid != cur else None
        else:
            found = owner.get(cur) if cur is not None else None
        for q in path:
            owner[q] = found
    return {pid: w for pid, w in owner.items() if w is not None}


@dataclass
class Tracked:
    """What the ledger remembers of a process in a window, between ticks."""

    pid: int
    ppid: int
    cpu_s: float
    reaped_cpu_s: float
    window: str
    # CPU of vanished descendants already counted that its reaped-children time has not shown yet
    # (read before the reap: the child was gone from /proc, the parent's cutime not yet grown); it is
    # taken off its next tick's reaped growth, then dropped (an orphan's CPU never arrives)
    owed_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.cpu_s + self.reaped_cpu_s


@dataclass
class CpuUse:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # window -> CPU s
    lost_processes: int = 0  # vanished, reaped by no tracked process: their last CPU is not known
    notes: list[str] = field(default_factory=list)
    owed: dict[str, float] = field(default_factory=dict)  # process key -> Tracked.owed_s for next tick


def _survivor(t: Tracked, prev: dict[str, Tracked], by_pid: dict[int, str], alive: set[str]) -> str | None:
    """The nearest ancestor of a vanished process (by the parents seen at the previous tick) that was
    tracked then and is still alive: the one whose reaped-children time received its CPU."""
    seen: set[int] = set()
    pid = t.ppid
    while pid not in seen:
        seen.add(pid)
        key = by_pid.get(pid)
        if key is None:
            return None
        if key in alive:
            return key
        pid = prev[key].ppid
    return None


def account_cpu(
    prev: dict[str, Tracked],
    procs: dict[int, Proc],
    owner: dict[int, str],
    *,
    open_windows: Iterable[str],
    born_after_ticks: int | None,
) -> CpuUse:
    """CPU seconds per window over one interval (see the module docstring). `owner` is the ownership
    during the interval (the windows open in it); `born_after_ticks` the previous tick's boot clock."""
    windows = set(open_windows)
    now_by_key = {p.key: p for p in procs.values()}
    alive = set(now_by_key)
    by_pid = {t.pid: k for k, t in prev.items()}
    seen_of_vanished: dict[str, float] = defaultdict(float)
    vanished_windows: dict[str, set[str]] = defaultdict(set)
    out = CpuUse()
    for key, t in prev.items():
        if key in alive:
            continue
        survivor = _survivor(t, prev, by_pid, alive)
        if survivor is None:
            out.lost_processes += 1
            continue
        seen_of_vanished[survivor] += t.total_s
        vanished_windows[survivor].add(t.window)
    for p in procs.values():
        w = owner.get(p.pid)
        seen = prev.get(p.key)
        if seen is None:
            if w is not None and born_after_ticks is not None and p.start_ticks >= born_after_ticks:
                out.seconds[w] += p.cpu_s + p.reaped_cpu_s
            continue
        t = seen
        here = w if w is not None else (t.window if t.window in windows else None)
        if here is not None:
            out.seconds[here] += max(p.cpu_s - t.cpu_s, 0.0)
        growth = max(p.reaped_cpu_s - t.reaped_cpu_s, 0.0)
        seen_now = seen_of_vanished.get(p.key, 0.0)
        residual = max(growth - seen_now - t.owed_s, 0.0)
        if seen_now > growth:
            out.owed[p.key] = seen_now - growth
        if residual <= 0.0:
            continue
        from_windows = vanished_windows.get(p.key, set()) & windows
        target = next(iter(from_windows)) if len(from_windows) == 1 else here
        if len(from_windows) > 1:
            out.notes.append("reaped CPU of children from several windows charged to the reaping window")
        if target is not None:
            out.seconds[target] += residual
    if out.lost_processes:
        out.notes.append(
            f"{out.lost_processes} process(es) vanished without a tracked parent to reap them: "
            "their CPU since the previous tick is not counted"
        )
    return out


def rss_by_window(procs: dict[int, Proc], owner: dict[int, str]) -> dict[str, int]:
    """Resident bytes per window now (shared pages count once per process: an upper bound)."""
    out: dict[str, int] = defaultdict(int)
    for pid, w in owner.items():
        out[w] += procs[pid].rss_bytes
    return dict(out)


def track(
    procs: dict[int, Proc],
    owner: dict[int, str],
    prev: dict[str, Tracked],
    owed: dict[str, float] | None = None,
) -> dict[str, Tracked]:
    """What to remember for the next tick: every process in a window, with its CPU totals kept
    monotonic (a total never goes below what was already seen of that process) and what it owes
    (`CpuUse.owed`)."""
    out: dict[str, Tracked] = {}
    for pid, w in owner.items():
        p = procs[pid]
        old = prev.get(p.key)
        cpu, reaped = p.cpu_s, p.reaped_cpu_s
        if old is not None:
            cpu, reaped = max(cpu, old.cpu_s), max(reaped, old.reaped_cpu_s)
        out[p.key] = Tracked(p.pid, p.ppid, cpu, reaped, w, (owed or {}).get(p.key, 0.0))
    return out
