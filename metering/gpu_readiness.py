"""The checks of `make gpu-check` (scripts/gpu_check.py, docs/gpu-check.md) that need no GPU to be
tested: the report and exit code, why nothing could be checked, what NVML says of each device, the
CUDA-to-NVML map, metering overhead, and whether the ranks' GPU energy adds up to the devices' total
in the warehouse (energy counter vs sampled power: metering/gpu_power.py). Every check is a `Check`.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from metering.gpu_devices import MapRow, describe, text, uuid_body
from metering.nvml import MIG_ENABLE, binding_problem, load_pynvml

PASS, FAIL, SKIP, INFO = "PASS", "FAIL", "SKIP", "INFO"
EXIT_OK, EXIT_FAIL, EXIT_NOTHING_CHECKED = 0, 1, 3
ENERGY_TOLERANCE = 0.02  # counter vs integrated power
OVERHEAD_TARGET = 0.005  # metered vs unmetered throughput
CONSERVATION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS | FAIL | SKIP | INFO
    figure: str
    detail: str = ""


def format_report(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = [
        f"{c.status:<4}  {c.name:<{width}}  {c.figure}" + (f"  [{c.detail}]" if c.detail else "")
        for c in checks
    ]
    counts = {s: sum(c.status == s for c in checks) for s in (PASS, FAIL, SKIP)}
    lines.append(f"-- {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped")
    return "\n".join(lines)


def exit_code(checks: Sequence[Check]) -> int:
    return EXIT_FAIL if any(c.status == FAIL for c in checks) else EXIT_OK


def nothing_checked(reason: str) -> str:
    return f"GPU check: nothing checked: {reason}"


def open_nvml(load: Callable[[], Any] = load_pynvml) -> tuple[Any, str | None]:
    """(initialised NVML, None), or (None, why no NVIDIA GPU can be checked here)."""
    try:
        nv = load()
    except ImportError as err:
        return None, f"the NVML binding is not installed ({err}): pip install nvidia-ml-py"
    try:
        nv.nvmlInit()
    except nv.NVMLError as err:
        return None, f"NVML library not found or not usable ({describe(err)})"
    count = int(nv.nvmlDeviceGetCount())
    if count == 0:
        return None, "NVML lists no NVIDIA GPU"
    return nv, None


@dataclass
class DeviceFacts:
    index: int
    uuid: str | None = None
    name: str = "?"
    mig: bool | None = None  # None: not a MIG-capable GPU (or unknown)
    persistence: bool | None = None
    counter: bool | None = None  # the total-energy counter works
    read_s: float | None = None  # one counter read
    read_median_s: float | None = None
    reads: int = 0  # how many reads the median is of
    problem: str | None = None


def probe_devices(
    nv: Any, *, reads: int = 20, clock: Callable[[], float] = time.perf_counter
) -> list[DeviceFacts]:
    """What NVML says of each device; `reads` counter reads timed (the first one on its own)."""
    out = []
    for index in range(int(nv.nvmlDeviceGetCount())):
        f = DeviceFacts(index)
        out.append(f)
        try:
            h = nv.nvmlDeviceGetHandleByIndex(index)
            f.uuid, f.name = text(nv.nvmlDeviceGetUUID(h)), text(nv.nvmlDeviceGetName(h))
        except nv.NVMLError as err:
            f.problem = f"handle: {describe(err)}"
            continue
        mig = _optional(nv, nv.nvmlDeviceGetMigMode, h)
        f.mig = None if mig is None else int(mig[0]) == MIG_ENABLE
        persistence = _optional(nv, nv.nvmlDeviceGetPersistenceMode, h)
        f.persistence = None if persistence is None else int(persistence) == nv.NVML_FEATURE_ENABLED
        times = []
        try:
            for _ in range(reads):
                t0 = clock()
                nv.nvmlDeviceGetTotalEnergyConsumption(h)
                times.append(clock() - t0)
            f.counter = True
        except nv.NVMLError as err:
            f.counter, f.problem = False, f"energy counter: {describe(err)}"
        if times:
            f.read_s, f.read_median_s, f.reads = times[0], statistics.median(times), len(times)
    return out


def _optional(nv: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """The reading, or None when the device does not have it."""
    try:
        return fn(*args)
    except nv.NVMLError:
        return None


def _onoff(value: bool | None, unknown: str) -> str:
    return unknown if value is None else "on" if value else "off"


def device_checks(facts: Sequence[DeviceFacts], binding: Any = None) -> list[Check]:
    out = []
    if binding is not None:
        problem = binding_problem(binding)
        out.append(Check("NVML binding", FAIL if problem else PASS, problem or "nvidia-ml-py (official)"))
    for f in facts:
        gpu = f"GPU {f.index}"
        if f.uuid is None:
            out.append(Check(f"{gpu} handle", FAIL, f.problem or "refused"))
            continue
        out.append(Check(f"{gpu} device", INFO, f"{f.name} {f.uuid}"))
        out.append(Check(f"{gpu} MIG mode", INFO, _onoff(f.mig, "not supported")))
        persistence = _onoff(f.persistence, "unknown")
        hint = "" if f.persistence else "off: NVML calls start slower; `nvidia-smi -pm 1` turns it on"
        out.append(
            Check(f"{gpu} persistence mode", INFO, persistence, hint if f.persistence is False else "")
        )
        if f.counter:
            out.append(Check(f"{gpu} energy counter", PASS, "supported"))
            assert f.read_s is not None and f.read_median_s is not None
            out.append(
                Check(
                    f"{gpu} counter read latency",
                    INFO,
                    f"{f.read_s * 1e3:.3f} ms (median of {f.reads}: {f.read_median_s * 1e3:.3f} ms)",
                )
            )
        else:
            out.append(
                Check(
                    f"{gpu} energy counter",
                    FAIL,
                    "not supported: energy from power at ticks only",
                    f.problem or "",
                )
            )
    return out


def map_checks(rows: Sequence[MapRow]) -> list[Check]:
    """The CUDA-to-NVML map, MATCH per device (a CUDA device NVML could not resolve is a FAIL)."""
    out = []
    for r in rows:
        if r.how == "count":
            out.append(Check("device map: count", FAIL, r.problem or ""))
            continue
        name = f"device map: cuda:{r.ordinal}"
        where = f"NVML index {r.nvml_index}, by {r.how}" if r.parent_uuid else "unresolved"
        figure = f"CUDA {r.runtime_uuid or '?'} -> NVML {r.nvml_uuid or '?'} ({where})"
        if r.parent_uuid and r.nvml_uuid != r.parent_uuid:
            figure += f", parent {r.parent_uuid}"
        moved = ""
        if r.nvml_index is not None and r.nvml_index != r.ordinal:
            moved = f"; CUDA ordinal {r.ordinal} is NVML index {r.nvml_index}"
        if r.match is True:
            out.append(Check(name, PASS, figure + " MATCH" + moved))
        elif r.match is False or (r.runtime_uuid is not None and r.parent_uuid is None):
            out.append(Check(name, FAIL, figure + " MISMATCH" + moved, r.problem or ""))
        else:
            out.append(Check(name, SKIP, figure, r.problem or "the CUDA runtime gave no UUID"))
    return out


def overhead_check(metered: Sequence[float], unmetered: Sequence[float], unit: str = "samples/s") -> Check:
    """Training throughput with the rank windows vs without (best run of each: the least disturbed)."""
    name = "metering overhead (throughput)"
    if not metered or not unmetered:
        return Check(name, SKIP, "no throughput measured")
    m, u = max(metered), max(unmetered)
    overhead = 1.0 - m / u
    spread = (max(unmetered) - min(unmetered)) / u if len(unmetered) > 1 else None
    figure = (
        f"metered {m:.1f} {unit}, unmetered {u:.1f}: overhead {overhead * 100:+.2f} % "
        f"(target <= {OVERHEAD_TARGET * 100:.1f} %; best of {len(metered)}/{len(unmetered)} runs"
        + (f", unmetered spread {spread * 100:.2f} %)" if spread is not None else ")")
    )
    return Check(name, PASS if overhead <= OVERHEAD_TARGET else FAIL, figure)


ATTRIBUTION_SQL = """
SELECT a.device_index, any_value(d.device_uuid) AS device_uuid, a.party, w.role, w.rank, a.window_id,
       a.materialization_id, sum(a.energy_j) AS energy_j,
       count(*) FILTER (WHERE a.energy_j IS NULL) AS unknown
FROM device_attribution a
JOIN device_interval d USING (tick_id, host, device_kind, device_index)
LEFT JOIN meter_window w ON w.window_id = a.window_id
WHERE a.device_kind = 'gpu'
  AND a.tick_id IN (SELECT DISTINCT tick_id FROM window_usage WHERE materialization_id = ?)
GROUP BY ALL
"""
RANKS_SQL = "SELECT DISTINCT rank FROM meter_window WHERE materialization_id = ? AND role = 'rank' ORDER BY 1"
TOTAL_SQL = """
SELECT device_index, sum(energy_j) AS total_j, count(*) FILTER (WHERE energy_j IS NULL) AS unknown
FROM device_interval
WHERE device_kind = 'gpu'
  AND tick_id IN (SELECT DISTINCT tick_id FROM window_usage WHERE materialization_id = ?)
GROUP BY ALL
"""


def rank_energy_checks(
    con: Any, materialization_id: str, expected_uuid: dict[int, str] | None = None
) -> list[Check]:
    """From the warehouse views: over the ticks of a training run, do the parties' GPU energy (its rank
    windows, other windows, the unattributed remainder) add up to the devices' measured total, and is
    each rank charged on one GPU only (`expected_uuid`: rank -> the UUID of its CUDA device)?"""
    totals = {int(i): (t, int(n)) for i, t, n in con.execute(TOTAL_SQL, [materialization_id]).fetchall()}
    if not totals:
        return [Check("ranks' GPU energy", FAIL, f"no GPU interval recorded for {materialization_id}")]
    parts: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    rank_gpus: dict[int, dict[str, float]] = defaultdict(dict)
    for index, uuid, party, role, rank, _w, mid, energy_j, _unknown in con.execute(
        ATTRIBUTION_SQL, [materialization_id]
    ).fetchall():
        who = (
            "ranks"
            if role == "rank" and mid == materialization_id
            else "unattributed"
            if party == "unattributed"
            else "others"
        )
        parts[int(index)][who] += energy_j or 0.0
        if who == "ranks" and (energy_j or 0.0) > 0:
            rank_gpus[int(rank)][uuid or f"index {index}"] = energy_j
    ranks = [int(r) for (r,) in con.execute(RANKS_SQL, [materialization_id]).fetchall()]
    out = []
    for index, (total_j, unknown) in sorted(totals.items()):
        p = parts[index]
        summed = p["ranks"] + p["others"] + p["unattributed"]
        name = f"GPU {index} ranks' energy adds up"
        if total_j is None or unknown:
            out.append(Check(name, FAIL, f"{unknown} interval(s) without a measured energy"))
            continue
        figure = (
            f"ranks {p['ranks']:.1f} J + other windows {p['others']:.1f} J + unattributed "
            f"{p['unattributed']:.1f} J = {summed:.1f} J; device total {total_j:.1f} J "
            f"(ranks {p['ranks'] / total_j * 100 if total_j else 0:.1f} %)"
        )
        ok = abs(summed - total_j) <= CONSERVATION_TOLERANCE * max(total_j, 1.0)
        out.append(Check(name, PASS if ok else FAIL, figure))
    for rank in ranks:
        gpus = rank_gpus.get(rank, {})
        want = (expected_uuid or {}).get(rank)
        figure = ", ".join(f"{u} {j:.1f} J" for u, j in sorted(gpus.items())) or "no GPU energy"
        ok = len(gpus) == 1 and (want is None or uuid_body(next(iter(gpus))) == uuid_body(want))
        detail = "" if ok else f"expected only {want or 'one GPU'}"
        out.append(Check(f"rank {rank} charged only for its GPU", PASS if ok else FAIL, figure, detail))
    return out
