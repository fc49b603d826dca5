"""The ledger's memory between ticks (`state.json`, one per host ledger) and how it is committed.

It holds the previous tick's instant and counters (CPU busy ticks, RAPL, RAM, every GPU), the window
registry, and every tracked process's last CPU totals. A tick commits in two phases so that a ticker
killed at any point neither loses nor repeats an interval:

1. `state.next.json` (the new state, naming the tick's batch id) is written and fsynced;
2. the tick's fact batch is published (an atomic rename, `warehouse.batches`);
3. `state.next.json` replaces `state.json` (atomic rename).

On load, a leftover `state.next.json` is adopted when its batch was published (pending, uploaded,
loaded or quarantined) and discarded otherwise: the state always matches the batches that exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metering.procs import Tracked
from warehouse.atomic import fsync_path
from warehouse.home import FootprintHome

STATE_VERSION = 1


@dataclass
class WindowState:
    window_id: str
    materialization_id: str | None
    role: str
    name: str
    root_pid: int
    root_key: str  # pid:start_ticks of the root process
    opened_at: float  # wall seconds
    seq: int  # order of opening: the newest of several windows on one root is the innermost
    parent_window_id: str | None = None
    rank: int | None = None
    uses_services: list[str] = field(default_factory=list)
    rss_bytes: int = 0  # its processes' resident bytes at the last tick (trapezoid baseline)
    cpu_carry_s: float = 0.0  # CPU it used beyond an interval's capacity, counted in the next interval
    # the fact batches that price it (whichever process wrote them): its opening tick's, every tick's
    # that closed an interval for it, and the opening batch of each service (or service user) open in
    # those ticks (how a service's use is split). Found by id in the host's batch directories.
    batch_ids: list[str] = field(default_factory=list)


@dataclass
class GpuState:
    index: int
    name: str
    energy_mj: int | None = None  # last good counter read, and when (monotonic s)
    energy_mono: float | None = None
    power_mw: int | None = None  # last power read (devices without a counter), and when
    power_mono: float | None = None
    util_ts: int = 0  # newest per-process utilisation sample seen (NVML timestamp, us)


@dataclass
class LedgerState:
    version: int = STATE_VERSION
    boot_id: str = ""
    tick_id: str | None = None  # the previous tick
    tick_wall: float | None = None
    tick_mono: float | None = None
    tick_boot_ticks: int | None = None
    cpu_busy_ticks: int | None = None
    rapl_uj: dict[str, int] = field(default_factory=dict)
    ram_used_bytes: int | None = None
    gpus: dict[str, GpuState] = field(default_factory=dict)  # uuid (or 'index:N') -> state
    lost_gpus: list[str] = field(default_factory=list)
    windows: dict[str, WindowState] = field(default_factory=dict)
    procs: dict[str, Tracked] = field(default_factory=dict)
    next_seq: int = 1
    # the last few intervals' CPU slack (host busy - the windows' use) and the windows open in them:
    # where CPU that arrives late (a child's, through its parent's reaped time) is placed back
    cpu_recent: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"ledger state version {data.get('version')!r}, expected {STATE_VERSION}")
        d = dict(data)
        d["gpus"] = {k: GpuState(**v) for k, v in d.get("gpus", {}).items()}
        d["windows"] = {k: WindowState(**v) for k, v in d.get("windows", {}).items()}
        d["procs"] = {k: Tracked(**v) for k, v in d.get("procs", {}).items()}
        return cls(**d)


def _fsync_write(path: Path, text: str) -> None:
    """Write `path` in place (0600) and fsync it: `state.next.json` keeps its name, because the
    rename that publishes it (`commit`) comes only after the tick's batch is published."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    fsync_path(path)


class StateFile:
    """`state.json` + `state.next.json` in one ledger directory (callers hold the ledger lock)."""

    def __init__(self, directory: Path, home: FootprintHome) -> None:
        self.path = directory / "state.json"
        self.next_path = directory / "state.next.json"
        self.home = home

    def _published(self, batch_id: str) -> bool:
        h = self.home
        return any(
            (d / batch_id).is_dir() for d in (h.pending_dir, h.uploaded_dir, h.loaded_dir, h.quarantine_dir)
        )

    def load(self) -> tuple[LedgerState, str | None]:
        """(state, problem): a missing state is a fresh one; an unreadable one is replaced by a fresh
        one and `problem` says why (the open windows it held can no longer be metered)."""
        if self.next_path.exists():
            try:
                batch_id = json.loads(self.next_path.read_text()).get("batch_id", "")
            except (OSError, ValueError):
                batch_id = ""
            if batch_id and self._published(batch_id):
                os.replace(self.next_path, self.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.next_path.unlink()
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return LedgerState(), None
        except (OSError, ValueError) as err:
            return LedgerState(), f"ledger state {self.path} unreadable ({err}); started afresh"
        try:
            return LedgerState.from_json(data["state"]), None
        except (KeyError, TypeError, ValueError) as err:
            return LedgerState(), f"ledger state {self.path} not understood ({err}); started afresh"

    def prepare(self, state: LedgerState, batch_id: str | None) -> None:
        """Phase 1: the next state, naming the batch that must exist for it to count."""
        _fsync_write(self.next_path, json.dumps({"batch_id": batch_id, "state": state.to_json()}))

    def commit(self) -> None:
        """Phase 3: the next state becomes the state."""
        os.replace(self.next_path, self.path)
        fsync_path(self.path.parent)

    def abandon(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.next_path.unlink()
