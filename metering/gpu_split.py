"""One GPU over one ledger interval: its energy (counter delta, else coarse power trapezoid, else
unknown) and who used it (docs/metering.md, "Devices per host").

A window is charged only for a GPU its processes use: it gets a usage row for a device only when one
of its processes holds it (NVML's process list, or a utilisation sample of its pid), or when who
holds it is unknown and the window's processes can see it (their CUDA_VISIBLE_DEVICES, resolved to
UUIDs: `window_gpus`; a window whose processes see no GPU, or other GPUs only, gets no row).
- `split='utilization'`: per-process SM utilisation was read; a window's `use` = the summed mean
  utilisation of its processes x interval (device-seconds); `busy` = the same over every process on
  it (inside windows or not); when the processes' utilisation adds up past 100 % all are scaled.
- `split='even'`: the utilisation query failed (`use`/`busy` None) or nobody was busy (0): the
  device is shared evenly among `holders` (as under MIG, where NVML has no per-process utilisation).
- `split='unknown'`: the process list could not be read (or the device is unavailable): the `use`
  of every window that may use it is None.
Processes on the device outside every window are flagged: one more holder, and a note.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metering.nvml import GpuSample
from metering.state import GpuState

COUNTER_MODULUS = 2**64  # nvmlDeviceGetTotalEnergyConsumption: unsigned long long, mJ


@dataclass
class GpuInterval:
    fields: dict[str, Any]  # DeviceInterval fields particular to this GPU and interval
    uses: dict[str, tuple[float | None, bool]]  # window -> (use in device-seconds, holds); only the
    # windows that used the device, or may have (who held it unknown): the others get no row
    state: GpuState | None  # what to remember; None = the device is lost (no longer metered)
    notes: list[str] = field(default_factory=list)


def _counter_energy_j(
    g: GpuSample, prev: GpuState | None, dur_s: float, mono_s: float, prev_tick_mono_s: float
) -> tuple[float | None, list[str]]:
    if g.energy_mj is None:
        return None, []  # the read failed: its gap is in g.notes
    if prev is None or prev.energy_mj is None or prev.energy_mono is None:
        return None, ["first energy counter read: this interval's energy is unknown"]
    last, now = prev.energy_mj, g.energy_mj
    notes = []
    delta: float
    if now >= last:
        delta = now - last
    elif last > COUNTER_MODULUS // 2:
        delta = now + COUNTER_MODULUS - last
        notes.append("energy counter wrapped (handled)")
    else:
        delta = now
        notes.append("energy counter reset (driver reload?): counted from 0, a lower bound")
    span_s = mono_s - prev.energy_mono
    if prev.energy_mono < prev_tick_mono_s - 1e-6 and span_s > 0:
        delta = delta * dur_s / span_s
        notes.append(
            "the counter was not read at the previous tick: its increase since the last good read "
            f"({span_s:.1f} s) is apportioned by time"
        )
    return delta / 1000.0, notes


def _may_use(visible: frozenset[str] | None, uuid: str | None) -> bool:
    """Whether a window whose processes can use `visible` (None: not known) may have used the GPU
    `uuid` (None: unidentified; a known set only holds identified GPUs)."""
    return visible is None or (uuid is not None and uuid in visible)


def gpu_interval(
    g: GpuSample,
    prev: GpuState | None,
    owner: dict[int, str],
    windows: Iterable[str],
    *,
    dur_s: float,
    mono_s: float,
    prev_tick_mono_s: float,
    window_gpus: Mapping[str, frozenset[str] | None] | None = None,
) -> GpuInterval:
    """`owner`: pid -> window; `window_gpus`: window -> the UUIDs its processes can use (None or
    absent: not known), consulted only when who holds the device is unknown."""
    notes = list(g.notes)
    if g.mig_devices is not None:
        notes.append(
            f"MIG mode: the energy counter is the whole GPU's, shared by its {g.mig_devices} MIG "
            "device(s); the windows holding a process on any of them share it"
        )
    energy_j: float | None = None
    source = "nvml"
    if g.available and g.has_counter:
        source = "nvml-counter"
        energy_j, more = _counter_energy_j(g, prev, dur_s, mono_s, prev_tick_mono_s)
        notes += more
    elif g.available and g.power_mw is not None:
        source = "nvml-power"
        if prev is not None and prev.power_mw is not None:
            energy_j = (prev.power_mw + g.power_mw) / 2.0 / 1000.0 * dur_s
            notes.append("coarse: power read at the ticks only (no energy counter on this device)")
        else:
            notes.append("first power read: this interval's energy is unknown")
    elif g.available:
        notes.append("NVML reads neither an energy counter nor power on this device")

    wins = list(windows)
    uses: dict[str, tuple[float | None, bool]]
    holders: int | None
    busy: float | None
    if not g.available or g.pids is None:
        split, busy, holders = "unknown", None, None
        seen = window_gpus or {}
        may_use = [w for w in wins if _may_use(seen.get(w), g.uuid)]
        uses = {w: (None, False) for w in may_use}
        if len(may_use) < len(wins):
            notes.append(
                f"{len(wins) - len(may_use)} window(s) whose processes cannot use this GPU "
                "(CUDA_VISIBLE_DEVICES) not charged"
            )
    else:
        holding = {owner[p] for p in g.pids if p in owner}
        outside = any(p not in owner for p in g.pids)
        per_window: dict[str, float] = defaultdict(float)
        if g.util:
            holding |= {owner[p] for p in g.util if p in owner}
            outside = outside or any(p not in owner for p in g.util)
            total_pct = sum(g.util.values())
            scale = 100.0 / total_pct if total_pct > 100.0 else 1.0
            if scale < 1.0:
                notes.append(f"processes' utilisation summed to {total_pct:.0f} %: scaled to 100 %")
            for pid, pct in g.util.items():
                if pid in owner:
                    per_window[owner[pid]] += pct * scale / 100.0 * dur_s
            split, busy = "utilization", min(total_pct * scale / 100.0 * dur_s, dur_s)
            uses = {w: (per_window.get(w, 0.0), True) for w in wins if w in holding}
        else:
            split = "even"
            busy = None if g.util is None else 0.0
            uses = {w: (busy, True) for w in wins if w in holding}
        holders = len(holding) + (1 if outside else 0)
        others = sorted({p for p in [*g.pids, *(g.util or {})] if p not in owner})
        if others:
            notes.append(
                f"{len(others)} process(es) outside every window on this GPU (pids "
                f"{', '.join(map(str, others[:5]))}{', ...' if len(others) > 5 else ''}): one more "
                "holder; their use stays unattributed"
            )

    fields = {
        "device_index": g.index,
        "device_name": g.name,
        "device_uuid": g.uuid,
        "capacity": dur_s,
        "busy": busy,
        "split": split,
        "energy_j": energy_j,
        "method": "measured" if energy_j is not None else "unavailable",
        "source": source,
        "holders": holders,
    }
    state = None if g.lost else next_gpu_state(g, prev, mono_s)
    return GpuInterval(fields, uses, state, notes)


def next_gpu_state(g: GpuSample, prev: GpuState | None, mono_s: float) -> GpuState:
    """The counter of the last good read is kept across a gap (the next tick resumes from it)."""
    st = GpuState(g.index, g.name) if prev is None else GpuState(**vars(prev))
    st.index, st.name = g.index, g.name
    if g.energy_mj is not None:
        st.energy_mj, st.energy_mono = g.energy_mj, mono_s
    if g.power_mw is not None:
        st.power_mw, st.power_mono = g.power_mw, mono_s
    if g.util_ts is not None:
        st.util_ts = g.util_ts
    return st
