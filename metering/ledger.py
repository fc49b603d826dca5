"""The host ledger: one per host (and FOOTPRINT_HOME), under `$FOOTPRINT_HOME/meter/<host>/`.

    ledger = Ledger(home)
    with ledger.window(materialization_id=mid, role="step", name="clean_corpus") as w:
        ...                                   # this process's tree is metered; w.window_id
    # or, for a process this one does not run to the end (a service):
    wid = ledger.open(materialization_id=None, role="service", name="label-studio", root_pid=pid)
    ledger.close(wid)

Every tick takes the host's exclusive lock (`ledger.lock`, `fcntl.flock`: released by the kernel when
its holder dies, so a stale lock cannot exist), loads `state.json`, samples every device and process
of the host once, computes the interval (`metering.tick.compute_tick`) and commits the batch and the
new state (`metering.state`). Opening and closing a window always tick; heartbeats tick only when the
host's last tick is older than 0.9 x their period (`heartbeat`), so n open windows do not make n
ticks per period.

The state remembers, per open window, the ids of the batches that price it (`WindowState.batch_ids`:
its opening tick, every tick that closed an interval for it, whichever process ticked, and the
opening batch of each service or service user open in those ticks); the tick that ends a window hands
them over (`TickOutcome.ended_batch_ids`), so a step prices itself from those batches, found by id,
never by scanning. The batches this Ledger object wrote stay in memory (`written_batch`, the last
`KEEP_WRITTEN`), so a step's own ticks are not read back from disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from metering.errors import LedgerError, MeterError
from metering.gpu_devices import CudaView, read_process_view
from metering.host import PROC, boot_id, clock_ticks_per_s, read_cpu_stat, read_meminfo
from metering.host import Clock as HostClock
from metering.nvml import GpuReader, GpuSample
from metering.processor import ProcessorInfo, host_processor
from metering.procs import Proc, assign_windows, read_processes
from metering.rapl import powercap_root, read_rapl
from metering.state import LedgerState, StateFile
from metering.tick import HostSample, OpenRequest, TickOutcome, compute_tick, innermost_roots
from metering.window import DEFAULT_HEARTBEAT_S, Window, check_heartbeat
from warehouse.batches import write_batch
from warehouse.facts import WINDOW_ROLES, FactBatch, new_id
from warehouse.home import FootprintHome, make_private_dir

log = logging.getLogger(__name__)
SKIP_FRACTION = 0.9  # a heartbeat tick is skipped when the host ticked within 0.9 x its period
KEEP_WRITTEN = 256  # tick batches a Ledger object keeps in memory (one window's heartbeats, ~40 min at 10 s)

__all__ = ["DEFAULT_HEARTBEAT_S", "Ledger", "LedgerError", "MeterError", "Window"]


class Ledger:
    """`proc_root`, `powercap` (default: `$FOOTPRINT_POWERCAP_ROOT` or /sys/class/powercap, read at each
    tick), `gpus` (a GpuReader; default: the real NVML) and `cpuinfo` are injectable for tests."""

    def __init__(
        self,
        home: FootprintHome,
        *,
        host: str | None = None,
        proc_root: Path = PROC,
        powercap: Path | None = None,
        gpus: GpuReader | None = None,
        cpuinfo: Path = Path("/proc/cpuinfo"),
    ) -> None:
        self.home = home
        self.host = host or socket.gethostname()
        self.dir = home.root / "meter" / self.host.replace(os.sep, "_")
        self.proc_root = proc_root
        self.powercap = powercap
        self.gpus = gpus or GpuReader()
        self.cpuinfo = cpuinfo
        self._processor: ProcessorInfo | None = None
        self.state_file = StateFile(self.dir, home)
        self._written: OrderedDict[str, FactBatch] = OrderedDict()
        self._written_lock = threading.Lock()

    def written_batch(self, batch_id: str) -> FactBatch | None:
        """A tick batch this object wrote (one of the last KEEP_WRITTEN), else None."""
        with self._written_lock:
            return self._written.get(batch_id)

    # -- windows ----------------------------------------------------------------------------------
    def open(
        self,
        *,
        materialization_id: str | None,
        role: str,
        name: str,
        root_pid: int | None = None,
        rank: int | None = None,
        uses_services: Iterable[str] = (),
        window_id: str | None = None,
        facts: Sequence[Any] = (),
    ) -> tuple[str, str | None]:
        """Open a window rooted at `root_pid` (default: this process) at a tick of its own (`facts`, if
        any, are published in that tick's batch). Returns (window id, parent window id: the innermost
        window that held the root until now)."""
        wid, parent, _ = self._open(
            materialization_id=materialization_id,
            role=role,
            name=name,
            root_pid=root_pid,
            rank=rank,
            uses_services=uses_services,
            window_id=window_id,
            facts=facts,
        )
        return wid, parent

    def _open(
        self,
        *,
        materialization_id: str | None,
        role: str,
        name: str,
        root_pid: int | None,
        rank: int | None,
        uses_services: Iterable[str],
        window_id: str | None,
        facts: Sequence[Any],
    ) -> tuple[str, str | None, FactBatch]:
        if role not in WINDOW_ROLES:
            raise MeterError(f"window role {role!r} is not one of {WINDOW_ROLES}")
        req = OpenRequest(
            window_id=window_id or new_id(),
            materialization_id=materialization_id,
            role=role,
            name=name,
            root_pid=os.getpid() if root_pid is None else root_pid,
            rank=rank,
            uses_services=tuple(uses_services),
        )
        out = self.tick(opens=[req], facts=facts)
        assert out is not None
        return req.window_id, out.parents[req.window_id], out.batch

    def close(self, window_id: str) -> str | None:
        """Close a window at a tick of its own. Returns how it ended: 'closed', or 'lost' when the tick
        found its root gone first (closing explicitly still says 'closed'); None if it was not open."""
        out = self.tick(closes=[window_id])
        return None if out is None else out.ended.get(window_id)

    def window(
        self,
        *,
        materialization_id: str | None,
        role: str,
        name: str,
        root_pid: int | None = None,
        rank: int | None = None,
        uses_services: Iterable[str] = (),
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        facts: Sequence[Any] = (),
    ) -> Window:
        """Open a window with a heartbeat thread in this process (close it, or use it as a context).
        `facts` are published in the opening tick's batch (`Window.opened_batch`)."""
        check_heartbeat(heartbeat_s)
        wid, parent, batch = self._open(
            materialization_id=materialization_id,
            role=role,
            name=name,
            root_pid=root_pid,
            rank=rank,
            uses_services=uses_services,
            window_id=None,
            facts=facts,
        )
        window = Window(self, wid, parent, heartbeat_s=heartbeat_s)
        window.opened_batch = batch
        return window

    def open_windows(self) -> dict[str, str]:
        """Window id -> name of the windows open now (read under the lock; no tick)."""
        with self._locked():
            state = self._load()
        return {w: ws.name for w, ws in state.windows.items()}

    # -- ticks ------------------------------------------------------------------------------------
    def heartbeat(self, period_s: float) -> TickOutcome | None:
        """Tick unless the host ticked within SKIP_FRACTION x `period_s` (checked first on the state
        file's age, without the lock, then under it)."""
        min_age_s = SKIP_FRACTION * period_s
        try:
            if time.time() - self.state_file.path.stat().st_mtime < min_age_s:
                return None
        except FileNotFoundError:
            pass
        return self.tick(min_age_s=min_age_s)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            make_private_dir(self.dir)
            fd = os.open(self.dir / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise LedgerError(f"cannot use the meter ledger in {self.dir}: {err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def tick(
        self,
        *,
        opens: Sequence[OpenRequest] = (),
        closes: Iterable[str] = (),
        min_age_s: float | None = None,
        facts: Sequence[Any] = (),
    ) -> TickOutcome | None:
        """One tick (see the module docstring). None when nothing was to be done: no window open and
        none to open or close, or (with `min_age_s`) the last tick is younger than that. `facts` (with
        an open or a close only) are published in the tick's batch: a window's owner saves a batch."""
        if facts and not opens and not closes:
            raise MeterError("facts ride only on a tick that opens or closes a window")
        closes = list(closes)
        with self._locked():
            state = self._load()
            if not opens and not closes:
                if not state.windows:
                    return None
                recent = state.tick_mono is not None and time.monotonic() - state.tick_mono < (min_age_s or 0)
                if min_age_s is not None and recent:
                    return None
            out = compute_tick(state, self._sample(state), host=self.host, opens=opens, closes=closes)
            out.batch.add(*facts)
            out.state.boot_id = state.boot_id
            for w in out.unknown_closes:
                log.info("meter window %s was not open in %s (already closed or lost)", w, self.dir)
            batch_id = out.batch.batch_id if len(out.batch) else None
            if batch_id is not None:
                _remember_batches(state, out, batch_id)
            self.state_file.prepare(out.state, batch_id)
            try:
                if batch_id is not None:
                    write_batch(self.home, out.batch)
            except BaseException:
                self.state_file.abandon()
                raise
            self.state_file.commit()
            if batch_id is not None:
                with self._written_lock:
                    self._written[batch_id] = out.batch
                    while len(self._written) > KEEP_WRITTEN:
                        self._written.popitem(last=False)
            return out

    def _load(self) -> LedgerState:
        """The state (caller holds the lock). One that cannot be used (unreadable, or of a previous
        boot: its counters, pids and clocks mean nothing now) is replaced by a fresh one at once,
        saying so; the windows it held end with their last tick."""
        state, problem = self.state_file.load()
        current = boot_id(self.proc_root)
        if problem is None and state.boot_id != current and state.windows:
            problem = (
                f"meter ledger {self.dir}: {len(state.windows)} window(s) of a previous boot dropped "
                "(their use up to their last tick stays recorded)"
            )
        if problem is None and state.boot_id == current:
            return state
        if problem:
            log.warning(problem)
        state = LedgerState(boot_id=current)
        self.state_file.prepare(state, None)
        self.state_file.commit()
        return state

    def processor(self) -> ProcessorInfo:
        if self._processor is None:
            self._processor = host_processor(self.cpuinfo)
        return self._processor

    def _sample(self, state: LedgerState) -> HostSample:
        clock = HostClock.now()
        procs = read_processes(self.proc_root)
        inventory = {k: g.index for k, g in state.gpus.items() if not k.startswith("index:")}
        gpus = self.gpus.sample(inventory, {k: g.util_ts for k, g in state.gpus.items()})
        return HostSample(
            clock=clock,
            procs=procs,
            cpu=read_cpu_stat(self.proc_root),
            mem=read_meminfo(self.proc_root),
            rapl=read_rapl(self.powercap or powercap_root()),
            gpus=gpus,
            processor=self.processor(),
            ticks_per_s=clock_ticks_per_s(),
            window_gpus=self._window_gpus(state, procs, gpus),
        )

    def _window_gpus(
        self, state: LedgerState, procs: dict[int, Proc], gpus: list[GpuSample]
    ) -> dict[str, frozenset[str] | None]:
        """Only when some GPU's holders are unknown: which GPUs each window's processes can see."""
        if not state.windows or all(g.available and g.pids is not None for g in gpus):
            return {}
        views: dict[str, list[CudaView | None]] = defaultdict(list)
        for pid, w in assign_windows(procs, innermost_roots(state.windows)).items():
            views[w].append(read_process_view(pid, self.proc_root))
        return self.gpus.window_gpus(views, gpus)


def _remember_batches(prev: LedgerState, out: TickOutcome, batch_id: str) -> None:
    """Add this tick's batch to the batch ids of the windows it prices: the windows it opened, and, when
    it closed an interval, every window open in it (with the opening batches of the services and
    service users open in it, which decide how a service's use is split). Ended windows' ids go to
    `out.ended_batch_ids`."""
    extra: list[str] = []
    if out.interval:
        for ws in prev.windows.values():
            opened = ws.batch_ids[0] if ws.batch_ids else None
            if opened and (ws.role == "service" or ws.uses_services) and opened not in extra:
                extra.append(opened)
    for w, ws in prev.windows.items():
        if not out.interval:
            continue
        ids = list(ws.batch_ids)
        for b in (*extra, batch_id):
            if b not in ids:
                ids.append(b)
        if w in out.state.windows:
            out.state.windows[w].batch_ids = ids
        else:
            out.ended_batch_ids[w] = ids
    for w in out.parents:  # opened at this tick: its declaration is in this batch
        out.state.windows[w].batch_ids = [batch_id]
