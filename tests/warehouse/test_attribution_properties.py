"""The conservation invariant of attribution, as properties over random hosts (hypothesis).

For every device and host interval: what the windows are charged + the host's unattributed remainder
(+ a service's own line) = what the device did, for energy and for time; every share is >= 0 and
nothing is counted twice. Checked on the auditable per-interval view (device_attribution) and on the
cached path the analyst views read (device_usage -> asset_footprint), against totals computed here
from the generated facts alone."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.warehouse.ledger_facts import T0, Device, tick, window
from warehouse.facts import FACT_TABLES, FactBatch, Materialization
from warehouse.price_model import insert_facts
from warehouse.views import DERIVED_TABLES, rebuild_derived

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# conftest.TEST_CARD: CPU 'test-family' min 0.5 W / max 2 W per thread, RAM 0.5 W/GB, $1/h cpu, $3/h gpu
CPU_MIN_W, CPU_MAX_W, RAM_W = 0.5, 2.0, 0.5
USD_PER_H = {"cpu": 1.0, "gpu": 3.0, "ram": 0.0}


@dataclass
class Host:
    """A generated host history, with the totals each device really did (computed here)."""

    batch: FactBatch = field(default_factory=FactBatch)
    device_j: dict[tuple[str, int], float] = field(default_factory=dict)  # known device energy
    device_s: dict[tuple[str, int], float] = field(default_factory=dict)
    unknown_energy: set[tuple[str, int]] = field(default_factory=set)
    # what each materialization should be charged, per device kind (a reference model of the rules)
    mat_s: dict[tuple[str, str], float] = field(default_factory=dict)
    mat_j: dict[tuple[str, str], float] = field(default_factory=dict)
    mat_unknown: set[tuple[str, str]] = field(default_factory=set)


@st.composite
def hosts(draw: st.DrawFn) -> Host:
    h = Host()
    cpu_measured = draw(st.booleans())
    gpu_split = draw(st.sampled_from(["utilization", "even", "unknown"]))
    devices = [
        Device("cpu", 0, "test cpu", 2.0, "measured" if cpu_measured else "estimated"),
        Device("ram", 0, "ram", 8.0),
        Device("gpu", 0, "test gpu", 1.0, "measured", split=gpu_split),
    ]
    n_mats = draw(st.integers(1, 3))
    mats = [f"m{i}" for i in range(n_mats)]
    for m in mats:
        h.batch.add(Materialization(m, "run", m, T0))
    n_windows = draw(st.integers(1, 5))
    windows = [f"w{i}" for i in range(n_windows)]
    service = draw(st.booleans())
    for i, w in enumerate(windows):
        uses = "svc" if service and draw(st.booleans()) else ""
        parent = windows[i - 1] if i and draw(st.booleans()) else None  # nesting does not change the rules
        window(h.batch, w, mats[draw(st.integers(0, n_mats - 1))], parent=parent, uses_services=uses)
    if service:
        window(h.batch, "svc", None, role="service", name="svc")
    everyone = windows + (["svc"] if service else [])
    mat_of = {r["window_id"]: r["materialization_id"] for r in h.batch.rows["meter_window"]}
    uses_svc = {r["window_id"] for r in h.batch.rows["meter_window"] if r["uses_services"] == "svc"}
    start = T0
    for _ in range(draw(st.integers(1, 4))):
        dur = draw(st.floats(0.5, 20.0))
        open_now = [w for w in everyone if draw(st.booleans())] or [everyone[0]]
        use: dict[str, dict[tuple[str, int], float | None]] = {w: {} for w in open_now}
        busy: dict[tuple[str, int], float | None] = {}
        energy: dict[tuple[str, int], float | None] = {}
        holds: dict[str, set[tuple[str, int]]] = {w: set() for w in open_now}
        holders: dict[tuple[str, int], int] = {}
        for d in devices:
            key = (d.kind, d.index)
            cap = d.capacity_per_s * dur
            if d.kind == "gpu":
                others_util = draw(st.floats(0, 1)) * dur
                other_holds = draw(st.booleans())
                for w in open_now:
                    if draw(st.booleans()):
                        holds[w].add(key)
                        use[w][key] = None if gpu_split == "unknown" else draw(st.floats(0, 1)) * dur
                    else:
                        use[w][key] = None if gpu_split == "unknown" else 0.0
                known = [u for w in open_now if (u := use[w][key]) is not None]
                busy[key] = None if gpu_split == "unknown" else sum(known) + others_util
                if gpu_split == "utilization" and not (busy[key] or 0) > 0:
                    busy[key] = 0.0
                holders[key] = sum(key in holds[w] for w in open_now) + int(other_holds)
            else:
                fractions = [draw(st.floats(0, 1)) for _ in open_now]
                scale = draw(st.floats(0, 1)) / max(sum(fractions), 1e-9)
                for w, f in zip(open_now, fractions, strict=True):
                    use[w][key] = f * scale * cap
                total = sum(u for w in open_now if (u := use[w][key]) is not None)
                busy[key] = total + draw(st.floats(0, 1)) * (cap - total)
            unavailable = d.method == "measured" and draw(st.integers(0, 5)) == 0
            e = draw(st.floats(0, 500)) if d.method == "measured" else None
            energy[key] = e
            dev = Device(
                d.kind,
                d.index,
                d.name,
                d.capacity_per_s,
                "unavailable" if unavailable else d.method,
                d.power_model,
                d.split,
            )
            tick(
                h.batch,
                start=start,
                duration_s=dur,
                devices=[dev],
                use=use_of(use, key),
                busy={key: busy[key]},
                energy_j={key: e},
                holds=holds,
                holders=holders,
            )
            h.device_s[key] = h.device_s.get(key, 0.0) + dur
            expect(
                h,
                d,
                dev.method,
                dur,
                cap,
                busy[key],
                e,
                holders.get(key),
                use,
                holds,
                open_now,
                mat_of,
                uses_svc,
            )
            if unavailable:
                h.unknown_energy.add(key)
            elif d.method == "measured":
                h.device_j[key] = h.device_j.get(key, 0.0) + (e or 0.0)
            elif d.kind == "cpu":
                b = busy[key] or 0.0
                h.device_j[key] = h.device_j.get(key, 0.0) + b * CPU_MAX_W + (cap - b) * CPU_MIN_W
            else:
                h.device_j[key] = h.device_j.get(key, 0.0) + cap * RAM_W
        start += dt.timedelta(seconds=dur)
    return h


def share_of(
    split: str, use: float | None, cap: float, busy: float | None, held: bool, holders: int | None
) -> float | None:
    """The share rules of docs/warehouse.md, written independently of the SQL."""
    if split == "even":
        return 1.0 / holders if held and holders else 0.0
    if split == "unknown" or use is None:
        return None
    if split == "capacity":
        return use / cap if cap > 0 else 0.0
    return use / busy if busy else 0.0


def expect(
    h: Host,
    d: Device,
    method: str,
    dur: float,
    cap: float,
    busy: float | None,
    e: float | None,
    holders: int | None,
    use: dict[str, dict[tuple[str, int], float | None]],
    holds: dict[str, set[tuple[str, int]]],
    open_now: list[str],
    mat_of: dict[str, str | None],
    uses_svc: set[str],
) -> None:
    key = (d.kind, d.index)
    split = d.split or ("utilization" if d.kind == "gpu" else "capacity")
    shares = {w: share_of(split, use[w][key], cap, busy, key in holds[w], holders) for w in open_now}
    consumers = [w for w in open_now if w in uses_svc]
    charges: list[tuple[str, float | None]] = [(w, s) for w, s in shares.items() if mat_of[w] is not None]
    if "svc" in shares and consumers:
        svc = shares["svc"]
        charges += [(w, None if svc is None else svc / len(consumers)) for w in consumers]
    for w, share in charges:
        mk = (str(mat_of[w]), d.kind)
        if share is None:
            h.mat_unknown.add(mk)
            continue
        h.mat_s[mk] = h.mat_s.get(mk, 0.0) + dur * share
        if method == "unavailable" and share > 0:
            h.mat_unknown.add(mk)
        elif method == "measured":
            h.mat_j[mk] = h.mat_j.get(mk, 0.0) + (e or 0.0) * share
        elif method == "estimated":
            watts = CPU_MAX_W if d.kind == "cpu" else RAM_W
            h.mat_j[mk] = h.mat_j.get(mk, 0.0) + cap * share * watts


def use_of(
    use: dict[str, dict[tuple[str, int], float | None]], key: tuple[str, int]
) -> dict[str, dict[tuple[str, int], float | None]]:
    return {w: {key: per[key]} for w, per in use.items() if key in per}


@pytest.fixture
def con(mem_warehouse):  # type: ignore[no-untyped-def]
    return mem_warehouse()


def load(con, h: Host) -> None:  # type: ignore[no-untyped-def]
    for table in (*FACT_TABLES, *DERIVED_TABLES):
        con.execute(f"DELETE FROM {table}")
    insert_facts(con, h.batch.to_tables())
    rebuild_derived(con)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@SETTINGS
@given(h=hosts())
def test_every_interval_is_split_into_shares_that_add_up(con, h: Host) -> None:  # type: ignore[no-untyped-def]
    load(con, h)
    per_interval = con.execute(
        "SELECT tick_id, device_kind, any_value(duration_s), any_value(device_energy_j), "
        "sum(share), sum(seconds), sum(energy_j), min(share), bool_or(share IS NULL), count(energy_j), "
        "count(*) "
        "FROM device_attribution GROUP BY tick_id, device_kind"
    ).fetchall()
    assert per_interval
    for _tick, kind, dur, dev_j, shares, secs, joules, lowest, unknown, n_energy, n in per_interval:
        if unknown:  # who used the device is unknown: no share is invented, the remainder is unknown too
            continue
        assert lowest >= -1e-12, (kind, lowest)
        assert close(shares, 1.0) and close(secs, dur)
        if dev_j is not None and n_energy == n:
            assert close(joules, dev_j)


@SETTINGS
@given(h=hosts())
def test_materializations_plus_unattributed_equal_the_devices(con, h: Host) -> None:  # type: ignore[no-untyped-def]
    """The cached path the analyst views read conserves too: nothing billed twice, nothing lost."""
    load(con, h)
    for kind in ("cpu", "ram", "gpu"):
        key = (kind, 0)
        usage = con.execute(
            "SELECT coalesce(sum(seconds), 0), sum(share_unknown) FROM device_usage WHERE device_kind = ?",
            [kind],
        ).fetchone()
        rest = con.execute(
            "SELECT coalesce(sum(device_s), 0), count(*) FILTER (WHERE device_s IS NULL) "
            "FROM host_unattributed WHERE device_kind = ?",
            [kind],
        ).fetchone()
        assert usage is not None and rest is not None
        if not usage[1] and not rest[1]:
            assert close(usage[0] + rest[0], h.device_s[key])  # billed device-seconds + unattributed = wall
        if key in h.unknown_energy or usage[1] or rest[1]:  # an unknown share or energy is NULL: no check
            continue
        charged_j = con.execute(
            "SELECT coalesce(sum(coalesce(energy_j, 0) + coalesce(power_use, 0) * "
            "CASE device_kind WHEN 'cpu' THEN ? ELSE ? END), 0) FROM device_usage WHERE device_kind = ?",
            [CPU_MAX_W, RAM_W, kind],
        ).fetchone()
        rest_j = con.execute(
            "SELECT coalesce(sum(device_kwh), 0) * 3.6e6 FROM host_unattributed WHERE device_kind = ?", [kind]
        ).fetchone()
        assert charged_j is not None and rest_j is not None
        assert math.isclose(charged_j[0] + rest_j[0], h.device_j.get(key, 0.0), rel_tol=1e-9, abs_tol=1e-6)


@SETTINGS
@given(h=hosts())
def test_asset_footprint_hardware_plus_unattributed_is_the_host_bill(con, h: Host) -> None:  # type: ignore[no-untyped-def]
    load(con, h)
    assets = con.execute(  # materializations whose windows never ran are unmetered: NULL, and add nothing
        "SELECT sum(cost_hardware_usd), count(*) FILTER (WHERE cost_hardware_usd IS NULL) "
        "FROM asset_footprint WHERE materialization_id IN (SELECT materialization_id FROM device_usage)"
    ).fetchone()
    rest = con.execute(
        "SELECT coalesce(sum(cost_hardware_usd), 0), count(*) FILTER (WHERE cost_hardware_usd IS NULL) "
        "FROM host_unattributed"
    ).fetchone()
    assert assets is not None and rest is not None
    if assets[1] or rest[1]:  # an unknown share somewhere: those figures are NULL, never a guess
        return
    bill = sum(s / 3600.0 * USD_PER_H[k] for (k, _), s in h.device_s.items())
    assert math.isclose((assets[0] or 0.0) + rest[0], bill, rel_tol=1e-9, abs_tol=1e-12)


@SETTINGS
@given(h=hosts())
def test_each_materialization_is_charged_what_the_rules_say(con, h: Host) -> None:  # type: ignore[no-untyped-def]
    """Against a reference model written here: capacity / utilisation / even shares, a service split
    evenly among the windows that use it, measured joules x share, estimated use x the card's watts."""
    load(con, h)
    got = {
        (m, k): (s, j, unknown)
        for m, k, s, j, unknown in con.execute(
            "SELECT materialization_id, device_kind, sum(seconds), "
            "sum(coalesce(energy_j, 0) + coalesce(power_use, 0) * "
            "CASE device_kind WHEN 'cpu' THEN ? ELSE ? END), "
            "sum(energy_unknown) + sum(share_unknown) FROM device_usage GROUP BY ALL",
            [CPU_MAX_W, RAM_W],
        ).fetchall()
    }
    for mk, secs in h.mat_s.items():
        assert mk in got and close(got[mk][0], secs), (mk, got.get(mk), secs)
    for mk, joules in h.mat_j.items():
        if mk not in h.mat_unknown:
            assert close(got[mk][1], joules), (mk, got[mk], joules)
    for mk in h.mat_unknown:
        assert got[mk][2] > 0, mk  # an unknown part is counted, never a silent 0
