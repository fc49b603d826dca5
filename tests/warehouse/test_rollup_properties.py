"""Property tests of the lineage roll-up on random DAGs (hypothesis): diamonds counted once;
allocated totals of the final consumers add up to the sum over all nodes; a tree's inclusive total
is the sum of its nodes (and allocation changes nothing there)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warehouse.facts import FACT_TABLES, EnergyReading, FactBatch, LineageEdge, Materialization
from warehouse.price_model import insert_facts
from warehouse.views import rebuild_derived

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PUE = 1.5  # conftest.TEST_CARD
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def dags(draw: st.DrawFn, *, tree: bool = False) -> tuple[list[int], set[tuple[int, int]]]:
    """Node i's device kWh; edges (upstream, consumer) with upstream < consumer (so acyclic)."""
    n = draw(st.integers(1, 12))
    kwh = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    edges: set[tuple[int, int]] = set()
    for up in range(n - 1):
        consumers = draw(st.lists(st.integers(up + 1, n - 1), max_size=1 if tree else 3))
        edges.update((up, c) for c in consumers)
    return kwh, edges


@pytest.fixture
def con(mem_warehouse):  # type: ignore[no-untyped-def]
    """One in-memory warehouse for all examples of a test (emptied before each example)."""
    return mem_warehouse()


def load(con, kwh: list[int], edges: set[tuple[int, int]]):  # type: ignore[no-untyped-def]
    for table in (*FACT_TABLES, "energy_reading_latest", "lineage_graph"):
        con.execute(f"DELETE FROM {table}")
    b = FactBatch()
    for i, k in enumerate(kwh):
        b.add(Materialization(f"n{i}", "run", f"a{i}", T0))
        b.add(
            EnergyReading(f"n{i}", f"w{i}", 1, True, "cpu", 0, "c", "h", k * 3.6e6, 1.0, "measured", "t", T0)
        )
    for up, c in sorted(edges):
        b.add(LineageEdge(f"n{c}", f"n{up}", f"a{up}"), LineageEdge(f"n{c}", f"n{up}", f"a{up}"))  # dup too
    insert_facts(con, b.to_tables())
    rebuild_derived(con)
    got = con.execute("SELECT materialization_id, energy_kwh, alloc_energy_kwh FROM end_to_end_footprint")
    return {mid: (e, a) for mid, e, a in got.fetchall()}


def ancestors(node: int, edges: set[tuple[int, int]]) -> set[int]:
    seen, todo = {node}, [node]
    while todo:
        cur = todo.pop()
        for up, c in edges:
            if c == cur and up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


@SETTINGS
@given(dags())
def test_diamonds_counted_once_and_allocation_adds_up(con, dag) -> None:  # type: ignore[no-untyped-def]
    kwh, edges = dag
    got = load(con, kwh, edges)
    for i in range(len(kwh)):
        expected = PUE * sum(kwh[a] for a in ancestors(i, edges))
        assert got[f"n{i}"][0] == pytest.approx(expected)
    sinks = [i for i in range(len(kwh)) if not any(up == i for up, _ in edges)]
    assert sum(got[f"n{i}"][1] for i in sinks) == pytest.approx(PUE * sum(kwh))


@SETTINGS
@given(dags(tree=True))
def test_tree_inclusive_total_is_the_sum_of_its_nodes(con, dag) -> None:  # type: ignore[no-untyped-def]
    kwh, edges = dag
    got = load(con, kwh, edges)
    for i in range(len(kwh)):
        subtree = ancestors(i, edges)
        assert got[f"n{i}"][0] == pytest.approx(PUE * sum(kwh[a] for a in subtree))
        assert got[f"n{i}"][1] == pytest.approx(got[f"n{i}"][0])
