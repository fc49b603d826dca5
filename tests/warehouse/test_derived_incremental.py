"""The derived tables the loader keeps in step batch by batch (energy_reading_latest, device_usage,
materialization_usage, lineage_walk_edge) give exactly the figures of a rebuild from all facts:
heartbeats superseded across batches, an annotation whose newer version moves to another
materialization, a version recorded twice, an upstream that gains a consumer later, and host ledger
facts whose tick arrives in pieces (a window's usage before its device interval, a window declared
after its usage, a second window of the same interval in a later batch)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest

from tests.warehouse.ledger_facts import Device, tick, window
from warehouse.batches import write_batch
from warehouse.connection import connect
from warehouse.facts import (
    AnnotationWork,
    EnergyReading,
    FactBatch,
    LineageEdge,
    Materialization,
    PersonTime,
    Transfer,
)
from warehouse.home import FootprintHome
from warehouse.loader import sync
from warehouse.views import rebuild_derived

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
VIEWS = (
    "SELECT * FROM asset_footprint ORDER BY materialization_id",
    "SELECT * FROM end_to_end_footprint ORDER BY materialization_id",
    "SELECT * FROM materialization_usage ORDER BY ALL",
    "SELECT * EXCLUDE (first_at, last_at) FROM device_usage ORDER BY ALL",
    "SELECT node, upstream_node, share FROM lineage_walk_edge ORDER BY ALL",
)


def energy(mid: str, window: str, seq: int, kind: str, index: int, joules: float | None) -> EnergyReading:
    method = "unavailable" if joules is None else "measured"
    return EnergyReading(
        mid, window, seq, False, kind, index, kind, "h", joules, 10.0 * (seq + 1), method, "t", T0
    )


def note(mid: str, version: int, annotator: str, active_s: float) -> AnnotationWork:
    at = T0 + dt.timedelta(minutes=version)
    return AnnotationWork(mid, 1, 1, annotator, "p", active_s, active_s, 300.0, False, "x", "", T0, at)


def net(mid: str, n_bytes: int, scope: str = "network") -> Transfer:
    return Transfer(mid, n_bytes, 1.0, "download", "hub", scope, T0)  # type: ignore[arg-type]


STEPS: list[FactBatch] = [
    FactBatch().add(
        Materialization("m1", "r", "raw", T0),
        Materialization("m2", "r", "clean", T0),
        LineageEdge("m2", "m1", "raw"),
        energy("m1", "w1", 0, "cpu", 0, 3.6e6),
        note("m1", 1, "alice", 600.0),
        PersonTime("m1", "bob", "eng", 1800.0),
        net("m1", 2 * 10**9),
    ),
    FactBatch().add(
        energy("m1", "w1", 1, "cpu", 0, 7.2e6),  # supersedes seq 0
        energy("m2", "w2", 0, "gpu", 0, 1.8e6),
        energy("m2", "w2", 0, "gpu", -1, None),  # no such device: not billed
        Materialization("m3", "r", "labels", T0),
        LineageEdge("m3", "m1", "raw"),  # m1 now has two consumers: shares 1/2
        note("m3", 2, "carol", 900.0),  # newer version of annotation 1: its hours move to m3
        net("m2", 10**9, "local"),
    ),
    FactBatch().add(
        note("m4", 2, "dave", 900.0),  # the same version recorded again later: the first batch wins
        Materialization("m4", "r", "labels", T0),
        PersonTime("m1", "alice", "review", 600.0),
        LineageEdge("m4", "m3", "labels"),
        LineageEdge("m4", "m2", "clean"),
    ),
]


def ledger_steps() -> list[FactBatch]:
    """One host interval (10 s, 2 threads) of two windows of m5 and m6 and a service m6 uses, delivered
    in pieces: m5's usage before the interval; the interval and m5's window; m6's window (a service
    user) with its usage and the service's usage; last, the service's own declaration."""
    whole = FactBatch().add(Materialization("m5", "r", "train", T0), Materialization("m6", "r", "eval", T0))
    window(whole, "w5", "m5")
    window(whole, "w6", "m6", uses_services="svc")
    window(whole, "ls", None, role="service", name="svc")
    use = {"w5": {("cpu", 0): 8.0}, "w6": {("cpu", 0): 4.0}, "ls": {("cpu", 0): 2.0}}
    tick(whole, start=T0, duration_s=10.0, devices=[Device()], use=use)
    rows = whole.rows
    pieces = [FactBatch(), FactBatch(), FactBatch(), FactBatch()]
    pieces[0].rows = {"materialization": rows["materialization"], "window_usage": rows["window_usage"][:1]}
    pieces[1].rows = {"device_interval": rows["device_interval"], "meter_window": rows["meter_window"][:1]}
    pieces[2].rows = {"window_usage": rows["window_usage"][1:], "meter_window": rows["meter_window"][1:2]}
    pieces[3].rows = {"meter_window": rows["meter_window"][2:]}  # the service, declared late
    for p in pieces:  # each piece is its own batch
        for table in p.rows.values():
            for r in table:
                r["batch_id"] = p.batch_id
    return pieces


STEPS += ledger_steps()


def snapshot(con: duckdb.DuckDBPyConnection) -> list[list[tuple[Any, ...]]]:
    return [con.execute(sql).fetchall() for sql in VIEWS]


def assert_same(incremental: list[list[tuple[Any, ...]]], rebuilt: list[list[tuple[Any, ...]]]) -> None:
    for got, want in zip(incremental, rebuilt, strict=True):
        assert len(got) == len(want)
        for g_row, w_row in zip(got, want, strict=True):
            for g, w in zip(g_row, w_row, strict=True):
                assert g == (pytest.approx(w, rel=1e-12) if isinstance(w, float) else w), (g_row, w_row)


def test_each_sync_matches_a_rebuild_from_all_facts(home: FootprintHome) -> None:
    for step in STEPS:
        assert write_batch(home, step) is not None
        result = sync(home)
        assert result.quarantined == {} and result.loaded_facts == len(step)
        con = connect(home, read_only=False)
        try:
            # the priced cache the roll-up reads is the view, row for row
            cached = con.execute("SELECT * EXCLUDE (node) FROM node_footprint ORDER BY materialization_id")
            assert cached.fetchall() == con.execute(VIEWS[0]).fetchall()
            incremental = snapshot(con)
            con.execute("BEGIN")
            rebuild_derived(con)
            rebuilt = snapshot(con)
            con.execute("ROLLBACK")
        finally:
            con.close()
        assert_same(incremental, rebuilt)


def test_all_steps_in_one_sync_give_the_figures_a_hand_computes(home: FootprintHome) -> None:
    for step in STEPS:
        write_batch(home, step)
    assert sync(home).quarantined == {}
    con = connect(home, read_only=True)
    try:
        got = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT materialization_id, labeling_hours, person_hours, device_kwh, bytes_moved, "
                "network_bytes, energy_method FROM asset_footprint"
            ).fetchall()
        }
        shares = con.execute(
            "SELECT n.materialization_id, u.materialization_id, e.share FROM lineage_walk_edge e "
            "JOIN lineage_node n ON n.node = e.node JOIN lineage_node u ON u.node = e.upstream_node"
        ).fetchall()
    finally:
        con.close()
    assert got["m1"] == (0.0, 2400 / 3600, 2.0, 2 * 10**9, 2 * 10**9, "measured")  # heartbeat superseded
    assert got["m2"] == (0.0, 0.0, 0.5, 10**9, 0, "measured")  # index -1 neither billed nor 'mixed'
    assert got["m3"][0] == pytest.approx(900 / 3600)  # annotation 1 moved here from m1
    assert got["m4"][0] == 0.0  # the repeated version counts once, for the first batch
    # a 2-thread host for 10 s: w5 used 8 thread-seconds, w6 4 and its service 2; the default card does
    # not know the 'test-family' processor: its fallback, 3.5 W per busy thread
    assert got["m5"][2] == pytest.approx(8 * 3.5 / 3.6e6) and got["m6"][2] == pytest.approx(6 * 3.5 / 3.6e6)
    assert sorted(shares) == [("m2", "m1", 0.5), ("m3", "m1", 0.5), ("m4", "m2", 1.0), ("m4", "m3", 1.0)]


def test_a_warehouse_from_before_the_derived_tables_is_rebuilt_on_the_next_sync(home: FootprintHome) -> None:
    for step in STEPS:
        write_batch(home, step)
    sync(home)
    con = connect(home, read_only=False)
    try:
        want = snapshot(con)
        # as an older release left it: derived tables of another shape and no derived version, the walk's
        # old edge table, old view SQL
        con.execute("DROP TABLE materialization_usage")
        con.execute("DROP TABLE device_usage")
        con.execute(
            "CREATE TABLE materialization_usage (materialization_id VARCHAR, kind VARCHAR, energy_j DOUBLE)"
        )
        con.execute("DELETE FROM lineage_walk_edge")
        con.execute("DELETE FROM warehouse_meta WHERE key = 'derived_version'")
        con.execute("DROP TABLE rate_card_scalar")  # a view before 2026-12
        con.execute("CREATE VIEW rate_card_scalar AS SELECT version FROM rate_card_version")
        con.execute("CREATE TABLE lineage_graph_key (node INTEGER, upstream_node INTEGER)")
        con.execute("DELETE FROM warehouse_meta WHERE key = 'views_sha256'")
    finally:
        con.close()
    assert sync(home).loaded_batches == 0
    con = connect(home, read_only=True)
    try:
        assert_same(snapshot(con), want)
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'lineage_graph_key'"
        ).fetchall() == [(0,)]
    finally:
        con.close()
