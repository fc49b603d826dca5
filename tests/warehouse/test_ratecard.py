"""Rate cards: the default card, user YAML/TOML overrides, versions, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from warehouse.connection import ensure_schema
from warehouse.ratecard import (
    RATE_UNITS,
    RateCardError,
    configured_card_path,
    default_card_path,
    load_default_card,
    read_rate_card,
)
from warehouse.ratecard_store import install_rate_card
from warehouse.views import ensure_views


def test_default_card_is_complete_and_sourced() -> None:
    card = load_default_card()
    assert {r.key for r in card.rates} == set(RATE_UNITS)
    assert all(r.source and r.unit == RATE_UNITS[r.key] for r in card.rates)
    assert card.value("grid_gco2e_per_kwh") == 481
    data = next(r for r in card.rates if r.key == "data_kwh_per_gb")
    assert data.value == 0.06 and data.year == 2015 and "Aslan" in data.source
    assert card.value("annotator_usd_per_hour", "") > 0 and card.value("device_usd_per_hour", "gpu") > 0


def test_user_yaml_overrides_and_extends(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(
        "name: ours\nsource: finance 2026\nrates:\n"
        "  electricity_usd_per_kwh: {value: 0.3}\n"
        "  annotator_usd_per_hour: {alice: {value: 25, year: 2026}}\n"
    )
    card = read_rate_card(path)
    assert card.value("electricity_usd_per_kwh") == 0.3
    assert card.value("annotator_usd_per_hour", "alice") == 25
    assert card.value("annotator_usd_per_hour", "") == load_default_card().value("annotator_usd_per_hour")
    assert card.value("pue") == 1.58 and card.effective_from is None


def test_toml_card(tmp_path: Path) -> None:
    path = tmp_path / "ours.toml"
    path.write_text(
        'name = "t"\neffective_from = 2026-03-01T00:00:00Z\n'
        '[rates.device_usd_per_hour."NVIDIA H100"]\nvalue = 2.5\nsource = "lambda 2026"\n'
    )
    card = read_rate_card(path)
    assert card.value("device_usd_per_hour", "NVIDIA H100") == 2.5
    assert card.effective_from == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("rates:\n  pue: {value: -1, source: s}\n", "rates.pue.value: must be >= 0"),
        ("rates:\n  pue: {value: lots, source: s}\n", "rates.pue.value: must be a number"),
        ("rates:\n  pue: {value: .nan, source: s}\n", "must be finite"),
        ("rates:\n  pue: {source: s}\n", "rates.pue.value: missing"),
        ("rates:\n  pue: {value: 1.2}\n", "rates.pue.source: missing"),
        ("rates:\n  pue_typo: {value: 1.2, source: s}\n", "rates.pue_typo: unknown rate key"),
        ("rates:\n  pue: {value: 1.2, source: s, colour: red}\n", "unknown field(s) ['colour']"),
        ("rates:\n  pue: {value: 1.2, source: s, unit: W}\n", "rates.pue.unit"),
        ("rates:\n  pue: {value: 1.2, source: s, year: 20}\n", "rates.pue.year"),
        ("rates:\n  person_usd_per_hour: {value: 1, source: s}\n", "rates.person_usd_per_hour: expected"),
        ("ratez: {}\n", "unknown field(s) ['ratez']"),
        ("name: x\n", "rates: missing"),
        (
            "extends: none\nrates:\n  pue: {value: 1.2, source: s}\n",
            "missing (the card says `extends: none`)",
        ),
        ("effective_from: soon\nrates: {}\n", "effective_from: not an ISO time"),
        ("rates: [1, 2\n", "not valid yaml"),
    ],
)
def test_bad_cards_name_file_key_and_problem(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(RateCardError) as err:
        read_rate_card(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_missing_file_is_a_rate_card_error(tmp_path: Path) -> None:
    with pytest.raises(RateCardError, match="file not found"):
        read_rate_card(tmp_path / "nope.yaml")


def test_configured_card_reads_env_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOOTPRINT_RATE_CARD", raising=False)
    assert configured_card_path() == default_card_path()
    monkeypatch.setenv("FOOTPRINT_RATE_CARD", str(tmp_path / "c.yaml"))
    assert configured_card_path() == tmp_path / "c.yaml"


def test_versions_are_appended_once_and_never_edited(tmp_path: Path) -> None:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    ensure_views(con)  # no card yet: the default becomes version 1
    assert con.execute("SELECT version, name FROM rate_card_version").fetchall() == [(1, "default")]
    ensure_views(con)
    assert con.execute("SELECT count(*) FROM rate_card_version").fetchall() == [(1,)]
    path = tmp_path / "v.yaml"
    path.write_text("effective_from: 2026-01-01T00:00:00Z\nrates:\n  pue: {value: 1.2, source: audit}\n")
    first = install_rate_card(con, read_rate_card(path))
    again = install_rate_card(con, read_rate_card(path))
    assert (first.version, first.inserted) == (2, True) and (again.version, again.inserted) == (2, False)
    later = install_rate_card(con, read_rate_card(path), effective_from=dt.datetime(2027, 1, 1))
    assert (later.version, later.inserted) == (3, True)  # same rates, another time: a new version
    assert later.effective_from == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    n_rates = len(load_default_card().rates)
    assert con.execute("SELECT count(*) FROM rate").fetchall() == [(3 * n_rates,)]
    assert con.execute("SELECT value FROM rate WHERE version = 1 AND key = 'pue'").fetchall() == [(1.58,)]


def test_bad_card_writes_nothing(tmp_path: Path) -> None:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    ensure_views(con)
    path = tmp_path / "bad.yaml"
    path.write_text("rates:\n  pue: {value: -2, source: s}\n")
    with pytest.raises(RateCardError):
        install_rate_card(con, read_rate_card(path))
    assert con.execute("SELECT count(*) FROM rate_card_version").fetchall() == [(1,)]
