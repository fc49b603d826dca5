"""`footprint report` on a small warehouse: latest run, filters, pending facts, bad input."""

from __future__ import annotations

import json

import pytest


def test_report_shows_the_latest_run_with_units(cli, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    proc = cli("report")
    assert proc.returncode == 0, proc.stderr
    assert "run run-new" in proc.stdout
    for header in ("energy", "CO2e", "cost (USD)", "duration", "bytes moved", "End-to-end"):
        assert header in proc.stdout
    assert "clean_corpus" in proc.stdout and "raw_corpus" in proc.stdout
    # run-new: raw_corpus 7.2 MJ (2 kWh) in 120 s, clean_corpus 1.8 MJ (0.5 kWh) in 30 s, times the card's
    # PUE; 1 MB and 1800 s of a person each
    from warehouse.ratecard import load_default_card

    pue = load_default_card().value("pue")
    raw, clean, both = f"{2 * pue:.2f} kWh", f"{500 * pue:.0f} Wh", f"{2.5 * pue:.2f} kWh"
    for cell in (raw, clean, both, "2.00 min", "30.0 s", "1.00 MB", "2.00 MB", "0.500 h", "1.00 h"):
        assert cell in proc.stdout, cell


def test_report_json_has_both_views(cli, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    proc = cli("report", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["run_id"] == "run-new" and out["pending_batches"] == 0
    per_asset = {r["asset_key"]: r for r in out["asset_footprint"]}
    assert set(per_asset) == {"raw_corpus", "clean_corpus"}
    for key in (
        "materialization_id",
        "status",
        "duration_s",
        "energy_kwh",
        "energy_method",
        "co2e_kg",
        "bytes_moved",
        "human_hours",
        "cost_person_usd",
        "cost_hardware_usd",
        "cost_energy_usd",
        "cost_labeling_usd",
        "cost_usd",
    ):
        assert key in per_asset["raw_corpus"]
    e2e = {r["materialization_id"]: r for r in out["end_to_end_footprint"]}
    clean, raw = e2e["m-new-clean"], e2e["m-new-raw"]
    # clean_corpus consumed raw_corpus: its inclusive total is both footprints
    assert clean["energy_kwh"] == pytest.approx(raw["energy_kwh"] + per_asset["clean_corpus"]["energy_kwh"])
    assert clean["cost_usd"] == pytest.approx(raw["cost_usd"] + per_asset["clean_corpus"]["cost_usd"])


def test_report_filters_run_and_asset(cli, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    old = json.loads(cli("report", "--run", "run-old", "--format", "json").stdout)
    assert [r["materialization_id"] for r in old["asset_footprint"]] == ["m-old-raw"]
    only = json.loads(cli("report", "--asset", "clean_corpus", "--format", "json").stdout)
    assert [r["asset_key"] for r in only["asset_footprint"]] == ["clean_corpus"]
    assert [r["materialization_id"] for r in only["end_to_end_footprint"]] == ["m-new-clean"]


def test_unknown_asset_lists_the_known_ones(cli, one_line_error, small_warehouse) -> None:  # type: ignore[no-untyped-def]
    proc = cli("report", "--asset", "nope")
    one_line_error(proc, "unknown asset 'nope'", "clean_corpus", "raw_corpus")
    assert proc.returncode == 2
    run = cli("report", "--run", "no-such-run")
    one_line_error(run, "unknown run 'no-such-run'", "run-new")


def test_missing_warehouse_names_the_path(cli, one_line_error, home) -> None:  # type: ignore[no-untyped-def]
    proc = cli("report")
    one_line_error(proc, str(home.warehouse_path), "footprint sync")
    assert proc.returncode == 1


def test_pending_batches_are_merged_first(cli, home, facts) -> None:  # type: ignore[no-untyped-def]
    facts.write_small(home)  # two batches pending, no warehouse yet
    out = json.loads(cli("report", "--format", "json").stdout)
    assert out["pending_batches"] == 0
    assert {r["asset_key"] for r in out["asset_footprint"]} == {"raw_corpus", "clean_corpus"}


def test_reader_holding_the_file_leaves_facts_pending_and_says_so(
    cli, small_warehouse, lock_holder, facts
) -> None:  # type: ignore[no-untyped-def]
    from warehouse.batches import write_batch
    from warehouse.facts import FactBatch

    home = small_warehouse.home
    later = facts.t0 + __import__("datetime").timedelta(days=1)
    write_batch(
        home,
        facts.add_materialization(
            FactBatch(), "m-late", "run-late", "raw_corpus", later, seconds=1, joules=1.0
        ),
    )
    with lock_holder(home, read_only=True):  # an analyst session: blocks writers, not readers
        proc = cli("report", "--wait", "0.3")
    assert proc.returncode == 0, proc.stderr
    assert "1 fact batches pending: warehouse locked by another process" in proc.stderr
    assert "run run-new" in proc.stdout  # the late run is still pending
    assert "1 fact batches pending" in proc.stdout


def test_writer_holding_the_file_is_a_clear_error(cli, one_line_error, small_warehouse, lock_holder) -> None:  # type: ignore[no-untyped-def]
    with lock_holder(small_warehouse.home, read_only=False):
        proc = cli("report", "--wait", "0.3")
    one_line_error(proc, "locked by another process", "--wait")
    assert proc.returncode == 1


def test_unknown_parts_are_shown_as_at_least_and_named(cli, home) -> None:  # type: ignore[no-untyped-def]
    """A step with no meter window (unmetered): its energy is 'unknown', never 0; the end-to-end total
    of a step above it is 'at least' the known part; the detail says why."""
    import datetime as dt

    from tests.warehouse.cli.conftest import T0, materialization_facts
    from warehouse.batches import write_batch
    from warehouse.facts import FactBatch, LineageEdge, Materialization, MaterializationOutcome
    from warehouse.loader import sync

    b = FactBatch().add(
        Materialization("m-ext", "run-x", "external_feed", T0),
        MaterializationOutcome("m-ext", "success", T0 + dt.timedelta(seconds=5)),
    )
    materialization_facts(b, "m-use", "run-x", "clean_corpus", T0, seconds=60, joules=3.6e6)
    b.add(LineageEdge("m-use", "m-ext", "external_feed"))
    write_batch(home, b)
    sync(home)
    proc = cli("report")
    assert proc.returncode == 0, proc.stderr
    assert "external_feed: unknown: not metered" in proc.stdout
    out = json.loads(cli("report", "--format", "json").stdout)
    ext = next(r for r in out["asset_footprint"] if r["asset_key"] == "external_feed")
    assert ext["energy_kwh"] is None and ext["unknown_parts"] == 1
    e2e = next(r for r in out["end_to_end_footprint"] if r["asset_key"] == "clean_corpus")
    assert e2e["energy_kwh"] is None and e2e["energy_kwh_at_least"] > 0 and e2e["unknown_parts"] == 1
    # the table cells (what the terminal shows, before rich wraps them)
    from warehouse.cli.report import _cells

    cols = list(e2e)
    shown_e2e = dict(
        zip(
            ["energy_kwh", "cost_usd"],
            _cells(cols, tuple(e2e.values()), ["energy_kwh", "cost_usd"]),
            strict=True,
        )
    )
    assert shown_e2e["energy_kwh"].startswith("at least ") and shown_e2e["energy_kwh"].endswith(
        "(1 part unknown)"
    )
    shown_ext = _cells(list(ext), tuple(ext.values()), ["energy_kwh", "cost_hardware_usd"])
    assert shown_ext == ("unknown (1 part unknown)", "unknown (1 part unknown)")
