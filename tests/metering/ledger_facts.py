"""Helpers for the metering suites: read back the facts a ledger wrote, check the conservation rules
on them, burn a known amount of CPU in a real process, and a fake RAPL powercap tree."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warehouse.connection import connect
from warehouse.home import FootprintHome
from warehouse.loader import sync

REPO = Path(__file__).resolve().parents[2]
FOOTPRINT = REPO / ".venv" / "bin" / "footprint"
BURN = Path(__file__).with_name("burn.py")
TOL = 1e-9


@dataclass
class Facts:
    windows: list[dict[str, Any]]
    intervals: list[dict[str, Any]]
    usage: list[dict[str, Any]]

    @classmethod
    def read(cls, home: FootprintHome) -> Facts:
        """Every metering fact of `home`: pending batches merged first, then read from the warehouse."""
        sync(home, wait_s=30.0)
        con = connect(home, read_only=True, wait_s=30.0)
        try:

            def rows(table: str) -> list[dict[str, Any]]:
                return con.sql(f"SELECT * FROM {table}").to_arrow_table().to_pylist()

            return cls(rows("meter_window"), rows("device_interval"), rows("window_usage"))
        finally:
            con.close()

    def window(self, window_id: str) -> dict[str, Any]:
        [w] = [w for w in self.windows if w["window_id"] == window_id]
        return w

    def windows_named(self, role: str) -> list[dict[str, Any]]:
        return [w for w in self.windows if w["role"] == role]

    def use(self, window_id: str, kind: str = "cpu") -> float:
        return math.fsum(
            u["use"] or 0.0 for u in self.usage if u["window_id"] == window_id and u["device_kind"] == kind
        )

    def ended(self, window_id: str) -> set[str]:
        return {u["ended"] for u in self.usage if u["window_id"] == window_id and u["ended"]}

    def billed_host_s(self, kind: str = "cpu") -> float:
        """Sum over ticks of (windows' use / capacity) x duration: the host-seconds billed to windows."""
        by_tick: dict[str, float] = defaultdict(float)
        for u in self.usage:
            if u["device_kind"] == kind and u["use"] is not None:
                by_tick[u["tick_id"]] += u["use"]
        total = 0.0
        for d in self.intervals:
            if d["device_kind"] == kind and d["capacity"] > 0:
                total += by_tick.get(d["tick_id"], 0.0) / d["capacity"] * d["duration_s"]
        return total


def check_conservation(f: Facts) -> None:
    """Per device and tick: sum of use <= busy <= capacity; one row per window and device of a tick,
    except the CPU rows of CPU that arrived late and was placed back into that tick (metering.tick);
    intervals of one host never overlap; each window ends exactly once at most."""
    used: dict[tuple[str, str, int], float] = defaultdict(float)
    seen: set[tuple[str, str, str, int]] = set()
    for u in f.usage:
        key = (u["tick_id"], u["window_id"], u["device_kind"], u["device_index"])
        assert key not in seen or (u["device_kind"] == "cpu" and not u["holds"]), f"two usage rows for {key}"
        seen.add(key)
        if u["use"] is not None:
            assert u["use"] >= 0
            used[(u["tick_id"], u["device_kind"], u["device_index"])] += u["use"]
    devices = {(d["tick_id"], d["device_kind"], d["device_index"]): d for d in f.intervals}
    for key, total in used.items():
        d = devices[key]
        busy = d["busy"] if d["busy"] is not None else d["capacity"]
        assert total <= busy * (1 + TOL) + TOL, f"{key}: windows' use {total} > busy {busy}"
    for d in f.intervals:
        if d["busy"] is not None:
            assert d["busy"] <= d["capacity"] * (1 + TOL) + TOL, d
        assert d["ended_at"] >= d["started_at"]
    spans = sorted({(d["started_at"], d["ended_at"], d["tick_id"]) for d in f.intervals})
    for (_, end_a, _), (start_b, _, _) in itertools.pairwise(spans):
        assert start_b >= end_a, "two ticks' intervals overlap"
    for w in f.windows:
        last = {u["tick_id"] for u in f.usage if u["window_id"] == w["window_id"] and u["ended"]}
        assert len(last) <= 1, f"window {w['window_id']} ended at several ticks"


def burn_command(cpu_s: float) -> list[str]:
    return [sys.executable, str(BURN), str(cpu_s)]


def burned_s(stdout: str) -> list[float]:
    """The CPU seconds each burn.py reported (its whole process_time) in an output."""
    return [float(line.split()[1]) for line in stdout.splitlines() if line.startswith("BURNED ")]


class FakeRapl:
    """A powercap tree whose package counter advances at `watts` (written every 20 ms, atomically),
    wrapping at `max_uj`."""

    def __init__(self, root: Path, *, watts: float = 50.0, max_uj: int = 262_143_328_850 // 1000) -> None:
        self.root, self.watts, self.max_uj = root, watts, max_uj
        self.zone = root / "intel-rapl:0"
        self.zone.mkdir(parents=True)
        (self.zone / "name").write_text("package-0\n")
        (self.zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
        (root / "intel-rapl:0:0").mkdir()  # a sub-zone: never added
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._write()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _write(self) -> None:
        value = int((time.monotonic() - self._t0) * self.watts * 1e6) % self.max_uj
        tmp = self.zone / ".energy_uj.tmp"
        tmp.write_text(f"{value}\n")
        os.replace(tmp, self.zone / "energy_uj")

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._write()

    def __enter__(self) -> FakeRapl:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def footprint_env(home: FootprintHome, **extra: str) -> dict[str, str]:
    """This environment for a subprocess, with `home` and no powercap override unless given."""
    env = {k: v for k, v in os.environ.items() if k != "FOOTPRINT_POWERCAP_ROOT"}
    env.update(FOOTPRINT_HOME=str(home.root), **extra)
    return env


def start_meter(home: FootprintHome, args: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(FOOTPRINT), "meter", "--json", *args],
        env=footprint_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
