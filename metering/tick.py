"""One tick of a host ledger, as a pure function: the previous state + what the host looks like now
(+ windows to open and close) -> the facts of the interval [previous tick, now] and the next state.

The interval is closed for every device of the host and every window that was open in it; windows
opened now start at this tick, windows closed (or found lost) now end at it. Per device:
sum of the windows' `use` <= `busy` <= `capacity`; where sampling granularity or skew would break
that, the figures are adjusted (windows' use scaled to capacity, the CPU that did not fit carried into
each window's next interval; busy raised to their sum) and the `note` says so. An interval is only
written when at least one window was open in it: work on a host with no window open is not recorded.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from metering.errors import MeterError
from metering.gpu_split import gpu_interval, next_gpu_state
from metering.host import BYTES_PER_GB, Clock, CpuStat, MemInfo
from metering.nvml import GpuSample
from metering.processor import ProcessorInfo
from metering.procs import Proc, account_cpu, assign_windows, rss_by_window, track
from metering.rapl import RaplSample, interval_energy_j
from metering.state import LedgerState, WindowState
from warehouse.facts import DEVICE_UNITS, DeviceInterval, FactBatch, MeterWindow, WindowUsage, new_id


@dataclass(frozen=True)
class OpenRequest:
    window_id: str
    materialization_id: str | None
    role: str
    name: str
    root_pid: int
    rank: int | None = None
    uses_services: tuple[str, ...] = ()


@dataclass
class HostSample:
    clock: Clock  # read before the process table, so nothing born during the scan is missed
    procs: dict[int, Proc]
    cpu: CpuStat
    mem: MemInfo
    rapl: RaplSample
    gpus: list[GpuSample]
    processor: ProcessorInfo
    ticks_per_s: int
    # window -> UUIDs of the GPUs its processes can use (None: unknown); read only when some GPU's
    # holders are unknown (metering.nvml.GpuReader.window_gpus)
    window_gpus: dict[str, frozenset[str] | None] = field(default_factory=dict)


@dataclass
class TickOutcome:
    tick_id: str
    batch: FactBatch
    state: LedgerState
    interval: bool  # an interval was closed (device and window facts written)
    parents: dict[str, str | None] = field(default_factory=dict)  # opened window -> parent window
    ended: dict[str, str] = field(default_factory=dict)  # window -> 'closed' | 'lost'
    unknown_closes: list[str] = field(default_factory=list)
    cpu_owed: dict[str, float] = field(default_factory=dict)  # see procs.CpuUse.owed
    # each window this tick ended -> the batches that price it (WindowState.batch_ids), this tick's last
    ended_batch_ids: dict[str, list[str]] = field(default_factory=dict)


RECENT_TICKS = 3  # intervals late CPU may be placed back into


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def innermost_roots(windows: dict[str, WindowState]) -> dict[str, str]:
    """Root process key -> window; of several windows on one root, the newest (it took it over)."""
    out: dict[str, tuple[int, str]] = {}
    for w, ws in windows.items():
        if ws.root_key not in out or ws.seq > out[ws.root_key][0]:
            out[ws.root_key] = (ws.seq, w)
    return {k: w for k, (_, w) in out.items()}


def conserve(
    uses: dict[str, float], busy: float, capacity: float, unit: str
) -> tuple[dict[str, float], float, list[str]]:
    """Enforce sum(uses) <= busy <= capacity, saying what was changed."""
    notes = []
    total = math.fsum(uses.values())
    if total > capacity and total > 0:
        scale = capacity / total * (1 - 1e-12)
        uses = {w: u * scale for w, u in uses.items()}
        notes.append(
            f"windows' use {total:.4f} {unit} exceeded the capacity {capacity:.4f} (sampling "
            "granularity): scaled to it"
        )
        total = math.fsum(uses.values())
    if busy > capacity:
        notes.append(f"host busy {busy:.4f} {unit} exceeded the capacity: capped")
        busy = capacity
    if busy < total:
        notes.append(
            f"host busy {busy:.4f} {unit} was below the windows' use (sampling skew between host "
            "and process counters): raised to it"
        )
        busy = total
    return uses, busy, notes


def _note(notes: Iterable[str]) -> str | None:
    parts = [n for n in notes if n]
    return "; ".join(parts) if parts else None


def compute_tick(
    prev: LedgerState,
    s: HostSample,
    *,
    host: str,
    opens: Sequence[OpenRequest] = (),
    closes: Iterable[str] = (),
) -> TickOutcome:
    st = copy.deepcopy(prev)
    out = TickOutcome(new_id(), FactBatch(), st, interval=False)
    now_wall = max(s.clock.wall_s, prev.tick_wall or 0.0)
    alive = {p.key for p in s.procs.values()}
    for w in closes:
        if w in prev.windows:
            out.ended[w] = "closed"
        else:
            out.unknown_closes.append(w)
    for w, ws in prev.windows.items():
        if ws.root_key not in alive:
            out.ended.setdefault(w, "lost")
    owner = assign_windows(s.procs, innermost_roots(prev.windows))

    if prev.windows and prev.tick_mono is not None and prev.tick_wall is not None:
        out.interval = True
        _interval_facts(out, prev, s, owner, host=host, now_wall=now_wall)
    else:
        st.gpus = {}
        for g in s.gpus:
            if g.lost:
                st.lost_gpus = _lost(st.lost_gpus, g)
            elif g.key not in prev.lost_gpus:
                st.gpus[g.key] = next_gpu_state(g, prev.gpus.get(g.key), s.clock.mono_s)

    for w in out.ended:
        del st.windows[w]
    for req in opens:
        _open(out, st, s, req, host=host, now_wall=now_wall)
    owner_next = assign_windows(s.procs, innermost_roots(st.windows))
    st.procs = track(s.procs, owner_next, prev.procs, out.cpu_owed)
    rss = rss_by_window(s.procs, owner_next)
    for w, ws in st.windows.items():
        ws.rss_bytes = rss.get(w, 0)
    st.tick_id, st.tick_wall, st.tick_mono = out.tick_id, now_wall, s.clock.mono_s
    st.tick_boot_ticks = s.clock.boot_ticks
    st.cpu_busy_ticks = s.cpu.busy_ticks
    st.rapl_uj = dict(s.rapl.values_uj)
    st.ram_used_bytes = s.mem.used_bytes
    return out


def _lost(lost: list[str], g: GpuSample) -> list[str]:
    """A lost GPU is not read again, whether NVML names it by UUID or (its handle refused) by index."""
    return sorted({*lost, g.key, f"index:{g.index}"})


def _open(
    out: TickOutcome, st: LedgerState, s: HostSample, req: OpenRequest, *, host: str, now_wall: float
) -> None:
    root = s.procs.get(req.root_pid)
    if root is None:
        raise MeterError(
            f"cannot open meter window {req.name!r}: process {req.root_pid} does not exist (has it exited?)"
        )
    if req.window_id in st.windows:
        raise MeterError(f"meter window {req.window_id} is already open")
    parent = assign_windows(s.procs, innermost_roots(st.windows)).get(req.root_pid)
    st.windows[req.window_id] = WindowState(
        window_id=req.window_id,
        materialization_id=req.materialization_id,
        role=req.role,
        name=req.name,
        root_pid=req.root_pid,
        root_key=root.key,
        opened_at=now_wall,
        seq=st.next_seq,
        parent_window_id=parent,
        rank=req.rank,
        uses_services=list(req.uses_services),
    )
    st.next_seq += 1
    out.parents[req.window_id] = parent
    out.batch.add(
        MeterWindow(
            window_id=req.window_id,
            materialization_id=req.materialization_id,
            host=host,
            role=req.role,
            name=req.name,
            root_pid=req.root_pid,
            opened_at=_utc(now_wall),
            parent_window_id=parent,
            rank=req.rank,
            uses_services=",".join(req.uses_services),
        )
    )


def _interval_facts(
    out: TickOutcome, prev: LedgerState, s: HostSample, owner: dict[int, str], *, host: str, now_wall: float
) -> None:
    assert prev.tick_mono is not None and prev.tick_wall is not None
    st = out.state
    dur = max(s.clock.mono_s - prev.tick_mono, 0.0)
    windows = list(prev.windows)
    common: dict[str, Any] = {
        "tick_id": out.tick_id,
        "host": host,
        "started_at": _utc(prev.tick_wall),
        "ended_at": _utc(now_wall),
        "duration_s": dur,
        "hypervisor": s.processor.hypervisor,
    }
    rows: list[tuple[dict[str, Any], dict[str, tuple[float | None, bool]]]] = []

    # CPU: thread-seconds
    cpu = account_cpu(prev.procs, s.procs, owner, open_windows=windows, born_after_ticks=prev.tick_boot_ticks)
    last_busy = prev.cpu_busy_ticks if prev.cpu_busy_ticks is not None else s.cpu.busy_ticks
    busy = max((s.cpu.busy_ticks - last_busy) / s.ticks_per_s, 0.0)
    capacity = s.cpu.logical_cpus * dur
    # CPU can arrive after the interval it was used in (a child's, through its parent's reaped time;
    # the process table is read after the clock, in 10 ms ticks), so an interval can show more than its
    # capacity. What does not fit is placed back into the last intervals the window was open in, up to
    # their slack (host busy - the windows' use), as extra usage rows of those ticks; what still does
    # not fit is carried into the window's next interval (totals are kept).
    out.cpu_owed = cpu.owed
    raw = {w: cpu.seconds.get(w, 0.0) + prev.windows[w].cpu_carry_s for w in windows}
    cpu_uses, busy, notes = conserve(raw, busy, capacity, "thread_s")
    recent = [dict(e) for e in prev.cpu_recent]
    placed_back: list[tuple[str, str, float]] = []  # (earlier tick id, window, thread-seconds)
    for w in windows:
        carry = max(raw[w] - cpu_uses[w], 0.0)
        for e in reversed(recent):
            if carry <= 1e-12:
                break
            if w in e["windows"] and e["slack_s"] > 0:
                put = min(carry, e["slack_s"])
                e["slack_s"] -= put
                carry -= put
                placed_back.append((e["tick_id"], w, put))
        if w in st.windows:
            st.windows[w].cpu_carry_s = carry
        if carry > 1e-9 and w in out.ended:
            notes.append(
                f"window {w[:8]} ended with {carry:.3f} thread-s beyond the interval's capacity: not placed"
            )
    if placed_back:
        notes.append(
            f"{sum(p for _, _, p in placed_back):.3f} thread-s that arrived late placed back into "
            f"{len({t for t, _, _ in placed_back})} earlier interval(s)"
        )
    slack = max(busy - math.fsum(cpu_uses.values()), 0.0)
    st.cpu_recent = [*recent, {"tick_id": out.tick_id, "slack_s": slack, "windows": windows}][-RECENT_TICKS:]
    energy_j, rapl_note = interval_energy_j(prev.rapl_uj, s.rapl)
    source = "rapl:" + "+".join(s.rapl.zones) if energy_j is not None else "proc-stat"
    cpu_fields = {
        "device_kind": "cpu",
        "device_index": 0,
        "device_name": s.processor.model_name or "cpu",
        "capacity": capacity,
        "busy": busy,
        "split": "capacity",
        "energy_j": energy_j,
        "method": "measured" if energy_j is not None else "estimated",
        "source": source,
        "power_model": s.processor.power_model,
        "note": _note([*cpu.notes, *notes, rapl_note or ""]),
    }
    rows.append((cpu_fields, {w: (u, False) for w, u in cpu_uses.items()}))

    # RAM: GB-seconds, trapezoid of the windows' resident memory and of the host's used memory
    rss_now = rss_by_window(s.procs, owner)
    used_prev = prev.ram_used_bytes if prev.ram_used_bytes is not None else s.mem.used_bytes
    ram_busy = (used_prev + s.mem.used_bytes) / 2.0 / BYTES_PER_GB * dur
    ram_cap = s.mem.total_bytes / BYTES_PER_GB * dur
    # a lost window's last interval counts only what is observed now (when its processes died is not
    # known): the memory its live processes still hold, as its CPU is only what was reaped
    ram_uses = {
        w: (
            rss_now.get(w, 0)
            if out.ended.get(w) == "lost"
            else (prev.windows[w].rss_bytes + rss_now.get(w, 0)) / 2.0
        )
        / BYTES_PER_GB
        * dur
        for w in windows
    }
    ram_uses, ram_busy, ram_notes = conserve(ram_uses, ram_busy, ram_cap, "gb_s")
    ram_fields = {
        "device_kind": "ram",
        "device_index": 0,
        "device_name": "ram",
        "capacity": ram_cap,
        "busy": ram_busy,
        "split": "capacity",
        "energy_j": None,
        "method": "estimated",
        "source": "meminfo",
        "note": _note(ram_notes),
    }
    rows.append((ram_fields, {w: (u, False) for w, u in ram_uses.items()}))

    # GPUs: every device NVML sees (a lost one gets its last row, then is no longer read)
    st.gpus = {}
    for g in s.gpus:
        if g.key in prev.lost_gpus:
            continue
        gi = gpu_interval(
            g,
            prev.gpus.get(g.key),
            owner,
            windows,
            dur_s=dur,
            mono_s=s.clock.mono_s,
            prev_tick_mono_s=prev.tick_mono,
            window_gpus=s.window_gpus,
        )
        if gi.state is None:
            st.lost_gpus = _lost(st.lost_gpus, g)
        else:
            st.gpus[g.key] = gi.state
        rows.append(({"device_kind": "gpu", **gi.fields, "note": _note(gi.notes)}, gi.uses))

    for tick_id, w, put in placed_back:
        out.batch.add(
            WindowUsage(
                tick_id=tick_id,
                window_id=w,
                materialization_id=prev.windows[w].materialization_id,
                host=host,
                device_kind="cpu",
                device_index=0,
                use=put,
            )
        )
    for fields, uses in rows:
        kind = fields["device_kind"]
        out.batch.add(DeviceInterval(**common, **fields, unit=DEVICE_UNITS[kind]))
        for w in windows:
            if w not in uses:
                continue  # a GPU the window's processes did not use (metering.gpu_split)
            use, holds = uses[w]
            ws = prev.windows[w]
            out.batch.add(
                WindowUsage(
                    tick_id=out.tick_id,
                    window_id=w,
                    materialization_id=ws.materialization_id,
                    host=host,
                    device_kind=kind,
                    device_index=fields["device_index"],
                    use=use,
                    holds=holds,
                    ended=out.ended.get(w),
                )
            )
