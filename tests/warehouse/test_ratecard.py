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
    profile_card_path,
    read_rate_card,
)
from warehouse.ratecard_store import install_rate_card
from warehouse.views import ensure_views


@pytest.mark.parametrize("profile", ["cloud", "on_prem"])
def test_shipped_cards_are_complete_sourced_and_dated(profile: str) -> None:
    card = read_rate_card(profile_card_path(profile), base=None)
    assert card.profile == profile
    assert {r.key for r in card.rates} == set(RATE_UNITS)
    assert all(r.source and r.unit == RATE_UNITS[r.key] and r.year for r in card.rates)
    grid = next(r for r in card.rates if r.key == "grid_gco2e_per_kwh")
    assert grid.basis == "lifecycle" and "Ember" in grid.source
    data = next(r for r in card.rates if r.key == "data_kwh_per_gb")
    assert data.value == 0.06 and data.year == 2015 and "Aslan" in data.source
    assert card.value("annotator_usd_per_hour", "") > 0 and card.value("device_usd_per_hour", "gpu") > 0
    for subject in {r.subject for r in card.rates if r.key == "cpu_watts_per_thread_min"}:
        assert (
            0
            < card.value("cpu_watts_per_thread_min", subject)
            < card.value("cpu_watts_per_thread_max", subject)
        )


def test_profiles_do_not_overlap() -> None:
    """Cloud instance prices include power: the cloud card pays no electricity; on_prem pays it."""
    assert (
        load_default_card().profile == "cloud" and load_default_card().value("electricity_usd_per_kwh") == 0
    )
    on_prem = read_rate_card(profile_card_path("on_prem"), base=None)
    assert on_prem.value("electricity_usd_per_kwh") > 0


def test_power_model_of_this_processor_family_is_ccf_milan() -> None:
    card = load_default_card()
    assert (
        card.value("cpu_watts_per_thread_min", "amd-epyc-milan"),
        card.value("cpu_watts_per_thread_max", "amd-epyc-milan"),
    ) == (0.4556, 1.9573)
    assert (card.value("cpu_watts_per_thread_min", ""), card.value("cpu_watts_per_thread_max", "")) == (
        0.74,
        3.5,
    )


def test_user_yaml_overrides_and_extends(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(
        "name: ours\nsource: finance 2026\nrates:\n"
        "  pue: {value: 1.3}\n"
        "  annotator_usd_per_hour: {alice: {value: 25, year: 2026}}\n"
        "  cpu_watts_per_thread: {amd-epyc-milan: {min: 1, max: 4}}\n"
    )
    card = read_rate_card(path)
    assert card.value("pue") == 1.3 and card.profile == "cloud"
    assert card.value("annotator_usd_per_hour", "alice") == 25
    assert card.value("annotator_usd_per_hour", "") == load_default_card().value("annotator_usd_per_hour")
    assert card.value("cpu_watts_per_thread_max", "amd-epyc-milan") == 4
    assert card.value("cpu_watts_per_thread_max", "") == 3.5  # the default's fallback stays
    assert card.value("electricity_usd_per_kwh") == 0 and card.effective_from is None


def test_on_prem_user_card_extends_the_on_prem_card(tmp_path: Path) -> None:
    path = tmp_path / "dc.yaml"
    path.write_text("profile: on_prem\nrates:\n  electricity_usd_per_kwh: {value: 0.21, source: bill 2026}\n")
    card = read_rate_card(path)
    assert card.profile == "on_prem" and card.value("electricity_usd_per_kwh") == 0.21
    assert card.value("device_usd_per_hour", "cpu") == read_rate_card(
        profile_card_path("on_prem"), base=None
    ).value("device_usd_per_hour", "cpu")


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
        (
            "rates:\n  cpu_watts_per_thread: {amd-epyc-milan: {max: 2, source: s}}\n",
            "rates.cpu_watts_per_thread.amd-epyc-milan.min: missing",
        ),
        (
            "rates:\n  cpu_watts_per_thread: {x: {min: 1, source: s}}\n",
            "rates.cpu_watts_per_thread.x.max: missing",
        ),
        (
            "rates:\n  cpu_watts_per_thread: {x: {min: 3, max: 2, source: s}}\n",
            "min (3 W) is above max (2 W)",
        ),
        (
            "rates:\n  cpu_watts_per_thread: {x: {min: -1, max: 2, source: s}}\n",
            "rates.cpu_watts_per_thread.x.min: must be >= 0",
        ),
        (
            "rates:\n  cpu_watts_per_thread: {min: 1, max: 2, source: s}\n",
            "expected one entry per processor family",
        ),
        ("rates:\n  cpu_watts_per_thread_max: {value: 1, source: s}\n", "unknown rate key"),
        (
            "rates:\n  grid_gco2e_per_kwh: {value: 400, source: s}\n",
            "grid_gco2e_per_kwh.lifecycle: say whether",
        ),
        ("rates:\n  pue: {value: 1.2, source: s, lifecycle: true}\n", "only grid_gco2e_per_kwh takes it"),
        ("rates:\n  data_kwh_per_gb: {value: 0.01, source: s}\n", "data_kwh_per_gb.year: missing"),
        (
            "rates:\n  electricity_usd_per_kwh: {value: 0.2, source: s}\n",
            "a cloud card's instance prices already include power",
        ),
        ("profile: on_prem\nextends: default\nrates: {}\n", "cannot extend the 'default' card"),
        ("profile: colo\nrates: {}\n", "profile: must be one of"),
        (
            "profile: on_prem\nrates:\n  electricity_usd_per_kwh: {value: 0, source: s}\n",
            "an on_prem card pays electricity separately",
        ),
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
    assert con.execute("SELECT value FROM rate WHERE version = 1 AND key = 'pue'").fetchall() == [(1.14,)]
    assert con.execute("SELECT DISTINCT profile FROM rate_card_version").fetchall() == [("cloud",)]


def test_bad_card_writes_nothing(tmp_path: Path) -> None:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    ensure_views(con)
    path = tmp_path / "bad.yaml"
    path.write_text("rates:\n  pue: {value: -2, source: s}\n")
    with pytest.raises(RateCardError):
        install_rate_card(con, read_rate_card(path))
    assert con.execute("SELECT count(*) FROM rate_card_version").fetchall() == [(1,)]


BAD_VALUES = (
    "name: ours\n"
    "rates:\n"
    "  pue: {value: -1, source: audit}\n"
    "  transfer_usd_per_gb: {value: cheap, source: contract}\n"
    "  device_usd_per_hour: {gpu: {value: 2.5, source: lambda, unit: EUR/h}}\n"
    "  cpu_watts_per_thread: {x: {min: 3, max: 2, source: s}}\n"
    "  grid_gco2e_per_kwh: {value: 400, source: ember}\n"
)


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    """A card with five bad values names all five (key path, bad value, what is allowed), not the first."""
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_VALUES)
    with pytest.raises(RateCardError) as err:
        read_rate_card(path)
    assert [p.split(": ")[0] for p in err.value.problems] == [
        "rates.pue.value",
        "rates.transfer_usd_per_gb.value",
        "rates.device_usd_per_hour.gpu.unit",
        "rates.cpu_watts_per_thread.x",
        "rates.grid_gco2e_per_kwh.lifecycle",
    ]
    text = str(err.value)
    assert text.startswith(f"rate card {path}: 5 problems: ")
    for needle in (
        "rates.pue.value: must be >= 0, got -1",
        "rates.transfer_usd_per_gb.value: must be a number, got 'cheap'",
        "rates.device_usd_per_hour.gpu.unit: device_usd_per_hour is in USD/h, got 'EUR/h'",
        "min (3 W) is above max (2 W)",
        "lifecycle CO2e (true",
    ):
        assert needle in text, needle


def test_one_entry_with_several_problems_lists_each(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rates:\n  data_kwh_per_gb: {value: .inf, unit: kWh, colour: red}\n")
    with pytest.raises(RateCardError) as err:
        read_rate_card(path)
    assert [p.split(": ")[0] for p in err.value.problems] == [
        "rates.data_kwh_per_gb",  # unknown field
        "rates.data_kwh_per_gb.value",  # not finite
        "rates.data_kwh_per_gb.source",
        "rates.data_kwh_per_gb.unit",
        "rates.data_kwh_per_gb.year",
    ]


def test_a_bad_entry_is_not_also_reported_missing(tmp_path: Path) -> None:
    """With `extends: none` a key whose entry is bad is reported once (its problem), the keys the card
    lacks are reported as missing, and card-level problems come with them."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "extends: none\neffective_from: soon\ncolour: red\nrates:\n  pue: {value: -1, source: s}\n"
    )
    with pytest.raises(RateCardError) as err:
        read_rate_card(path)
    problems = err.value.problems
    assert problems[0].startswith("card: unknown field(s) ['colour']")
    assert problems[1].startswith("effective_from: not an ISO time") and "'soon'" in problems[1]
    assert problems[2] == "rates.pue.value: must be >= 0, got -1"
    missing = {p.split(": ")[0] for p in problems[3:]}
    assert all(p.endswith("missing (the card says `extends: none`)") for p in problems[3:])
    assert "rates.pue" not in missing and "rates.cpu_watts_per_thread" in missing
    assert len(missing) == len(problems[3:]) == len({_file_key(k) for k in RATE_UNITS}) - 1


def _file_key(stored_key: str) -> str:
    return "cpu_watts_per_thread" if stored_key.startswith("cpu_watts_per_thread") else stored_key
