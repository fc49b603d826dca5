"""Rate cards: the prices and coefficients that turn facts into money, energy and carbon.

A card is a YAML or TOML file (see `warehouse/ratecards/default.yaml`)::

    name: ours-2026
    effective_from: 2026-01-01T00:00:00Z
    source: "finance, contract 2026-01"      # fallback source for entries without one
    rates:
      electricity_usd_per_kwh: {value: 0.21, source: "utility bill 2025-12", year: 2025}
      annotator_usd_per_hour:
        default: {value: 18.0}
        alice: {value: 22.0}

A card has a **profile** that decides what its prices include, so that nothing is paid twice:
`cloud` (the default card: device prices are cloud instance prices, which include power and
cooling, so `electricity_usd_per_kwh` must be 0) or `on_prem` (device prices are amortised hardware,
electricity is paid separately, so it must be > 0). A user card extends the shipped card of its
profile (`default.yaml` for cloud, `on_prem.yaml` for on_prem; its entries override the same key and
subject) unless it says `extends: none`, in which case it must be complete. A card cannot extend the
card of the other profile.

The CPU power model (`cpu_watts_per_thread`, per processor family, with `min` and `max` watts per
hardware thread as Cloud Carbon Footprint derives them from SPECpower) and `ram_watts_per_gb` turn
metered usage into estimated energy at query time, so a better card re-estimates history.

Loading a card into the warehouse inserts a new version into `rate_card_version` / `rate`; identical
content (sha256) is never inserted twice and a version is never edited. Any problem raises
`RateCardError` naming the file, key and problem.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ENV_RATE_CARD = "FOOTPRINT_RATE_CARD"
DEFAULT_SUBJECT_NAME = "default"  # spelling of subject '' in files

# stored key -> unit; keys in KEYED_RATES take a subject (device kind/model, annotator, person, CPU
# family). A file's `cpu_watts_per_thread` entry (min and max) is stored as two keys (MODEL_KEYS).
RATE_UNITS: dict[str, str] = {
    "device_usd_per_hour": "USD/h",
    "cpu_watts_per_thread_min": "W/thread",
    "cpu_watts_per_thread_max": "W/thread",
    "ram_watts_per_gb": "W/GB",
    "data_kwh_per_gb_halving_years": "year",
    "electricity_usd_per_kwh": "USD/kWh",
    "pue": "1",
    "grid_gco2e_per_kwh": "gCO2e/kWh",
    "data_kwh_per_gb": "kWh/GB",
    "storage_usd_per_gb_month": "USD/GB-month",
    "storage_kwh_per_gb_month": "kWh/GB-month",
    "storage_holding_months": "month",
    "transfer_usd_per_gb": "USD/GB",
    "annotator_usd_per_hour": "USD/h",
    "person_usd_per_hour": "USD/h",
}
# a model entry in a file (min and max watts) -> the stored (min key, max key)
MODEL_KEYS: dict[str, tuple[str, str]] = {
    "cpu_watts_per_thread": ("cpu_watts_per_thread_min", "cpu_watts_per_thread_max"),
}
KEYED_RATES: frozenset[str] = frozenset(
    {"device_usd_per_hour", "annotator_usd_per_hour", "person_usd_per_hour", "cpu_watts_per_thread"}
)
NEEDS_DEFAULT_SUBJECT: frozenset[str] = frozenset(
    {"annotator_usd_per_hour", "person_usd_per_hour", "cpu_watts_per_thread_min", "cpu_watts_per_thread_max"}
)
NEEDS_YEAR: frozenset[str] = frozenset({"data_kwh_per_gb"})  # the year the coefficient describes
PROFILES: tuple[str, ...] = ("cloud", "on_prem")
_PROFILE_CARD = {"cloud": "default.yaml", "on_prem": "on_prem.yaml"}
_CARD_FIELDS = frozenset({"name", "effective_from", "extends", "profile", "source", "description", "rates"})
_ENTRY_FIELDS = frozenset({"value", "source", "year", "unit", "note", "lifecycle"})
_MODEL_FIELDS = frozenset({"min", "max", "source", "year", "unit", "note"})
GRID_BASES = {True: "lifecycle", False: "direct"}  # rate.basis of grid_gco2e_per_kwh


class RateCardError(ValueError):
    """A rate card that cannot be used; the message names the file and, for every problem found, the
    key path, the bad value and what is allowed (`problems` lists them one by one)."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


@dataclass
class _Problems:
    """Every problem of one card, collected so that a user fixes them all in one go."""

    path: Path
    found: list[str] = field(default_factory=list)

    def add(self, where: str, problem: str) -> None:
        self.found.append(f"{where}: {problem}")

    def __len__(self) -> int:
        return len(self.found)

    def raise_if_any(self) -> None:
        if len(self.found) == 1:
            raise RateCardError(f"rate card {self.path}: {self.found[0]}", self.found)
        if self.found:
            raise RateCardError(
                f"rate card {self.path}: {len(self.found)} problems: " + "; ".join(self.found), self.found
            )


@dataclass(frozen=True)
class Rate:
    key: str
    subject: str  # '' = scalar or default
    value: float
    unit: str
    source: str
    year: int | None = None
    basis: str | None = None  # grid intensity: 'lifecycle' (CO2e incl. upstream) or 'direct' (combustion)


@dataclass(frozen=True)
class RateCard:
    name: str
    rates: tuple[Rate, ...]
    source_path: str
    effective_from: dt.datetime | None = None  # None: the time it is loaded
    profile: str = "cloud"

    def value(self, key: str, subject: str = "") -> float:
        for r in self.rates:
            if r.key == key and r.subject == subject:
                return r.value
        raise KeyError(f"rate card {self.name!r} has no {key}[{subject!r}]")

    def sha256(self, effective_from: dt.datetime | None = None) -> str:
        """Content hash: name, effective time (`effective_from` overrides the card's) and every rate
        (not the file's path or layout). An undated card loaded twice hashes the same."""
        when = effective_from or self.effective_from
        body = {
            "name": self.name,
            "profile": self.profile,
            "effective_from": None if when is None else when.astimezone(dt.UTC).isoformat(),
            "rates": sorted(
                [r.key, r.subject, r.value, r.unit, r.source, r.year, r.basis or ""] for r in self.rates
            ),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def default_card_path() -> Path:
    return profile_card_path("cloud")


def profile_card_path(profile: str) -> Path:
    """The shipped card of a profile: `default.yaml` (cloud) or `on_prem.yaml`."""
    return Path(str(resources.files("warehouse").joinpath("ratecards", _PROFILE_CARD[profile])))


def configured_card_path() -> Path:
    """`$FOOTPRINT_RATE_CARD` (read at call time) if set, else the default card."""
    chosen = os.environ.get(ENV_RATE_CARD)
    return Path(chosen).expanduser() if chosen else default_card_path()


def load_default_card() -> RateCard:
    return shipped_card("cloud")


@functools.cache
def shipped_card(profile: str) -> RateCard:
    """The shipped card of a profile, parsed once per process (the files ship with the package)."""
    return read_rate_card(profile_card_path(profile), base=None)


def read_rate_card(path: str | os.PathLike[str], *, base: RateCard | str | None = "default") -> RateCard:
    """Parse and validate a card. `base='default'` merges it over the shipped card of its profile
    unless the file says `extends: none`; `base=None` requires a complete card. Every problem of the
    card is reported in one RateCardError (a file that cannot be read or parsed stops at once)."""
    p = Path(path)
    raw = _parse_file(p)
    problems = _Problems(p)
    unknown = sorted(set(raw) - _CARD_FIELDS)
    if unknown:
        problems.add("card", f"unknown field(s) {unknown}; allowed: {sorted(_CARD_FIELDS)}")
    if not isinstance(raw.get("rates"), dict):
        problems.add("rates", f"missing or not a mapping of rate keys (got {raw.get('rates')!r})")
        problems.raise_if_any()
    profile = raw.get("profile", "cloud")
    if profile not in PROFILES:
        problems.add("profile", f"must be one of {list(PROFILES)}, got {profile!r}")
    own_profile_card = "default" if profile == "cloud" else str(profile)
    extends = raw.get("extends", own_profile_card if profile in PROFILES else "default")
    if extends not in ("default", "on_prem", "none"):
        problems.add("extends", f"must be 'default', 'on_prem' or 'none', got {extends!r}")
    elif profile in PROFILES and extends != "none" and extends != own_profile_card:
        problems.add(
            "extends",
            f"a card of profile {profile!r} cannot extend the {extends!r} card (its prices are made for "
            f"the other profile, so a cost would be paid twice or not at all); use extends: "
            f"{own_profile_card} or extends: none",
        )
    name = raw.get("name", p.stem)
    if not isinstance(name, str) or not name:
        problems.add("name", f"must be a non-empty string, got {name!r}")
    effective_from = _effective_from(problems, raw.get("effective_from"))
    own, bad_keys = _rates(problems, raw)
    merged: dict[tuple[str, str], Rate] = {}
    if profile in PROFILES and extends in ("default", "on_prem", "none"):
        if base == "default" and extends != "none":
            base = shipped_card(profile)
        if isinstance(base, RateCard) and extends != "none":
            merged.update({(r.key, r.subject): r for r in base.rates})
        merged.update({(r.key, r.subject): r for r in own})
        _check_complete(
            problems, merged, bad_keys, extends_none=extends == "none" or not isinstance(base, RateCard)
        )
        _check_profile(problems, profile, merged)
    problems.raise_if_any()
    return RateCard(
        name=str(name),
        rates=tuple(sorted(merged.values(), key=lambda r: (r.key, r.subject))),
        source_path=str(p),
        effective_from=effective_from,
        profile=str(profile),
    )


def _check_profile(problems: _Problems, profile: str, merged: dict[tuple[str, str], Rate]) -> None:
    electricity = merged.get(("electricity_usd_per_kwh", ""))
    if electricity is None:  # invalid or missing: already reported
        return
    where = "rates.electricity_usd_per_kwh"
    if profile == "cloud" and electricity.value != 0:
        problems.add(
            where,
            f"a cloud card's instance prices already include power, so electricity must be 0 (got "
            f"{electricity.value:g}); for hardware you own, write a card with `profile: on_prem` "
            "(amortised hardware + electricity)",
        )
    if profile == "on_prem" and electricity.value <= 0:
        problems.add(
            where,
            "an on_prem card pays electricity separately from its amortised hardware, so it must be > 0 "
            f"(your utility's $/kWh; got {electricity.value:g})",
        )


def _parse_file(p: Path) -> dict[str, Any]:
    """The file as a mapping; a file that cannot be read or parsed stops here (nothing else to check)."""
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise RateCardError(f"rate card {p}: file not found (set ${ENV_RATE_CARD} to a card)") from err
    except (OSError, UnicodeDecodeError) as err:
        raise RateCardError(f"rate card {p}: cannot read the file: {err}") from err
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise RateCardError(f"rate card {p}: not valid {p.suffix.lstrip('.') or 'YAML'}: {err}") from err
    if not isinstance(data, dict):
        raise RateCardError(f"rate card {p}: expected a mapping with a `rates:` section at the top")
    return data


def _rates(problems: _Problems, raw: dict[str, Any]) -> tuple[list[Rate], set[str]]:
    """The card's own rates, and the file keys that had a problem (not then reported as missing)."""
    card_source = raw.get("source")
    out: list[Rate] = []
    bad: set[str] = set()
    for key, body in raw["rates"].items():
        before = len(problems)
        if (key not in RATE_UNITS and key not in MODEL_KEYS) or key in _STORED_ONLY:
            problems.add(f"rates.{key}", f"unknown rate key; known: {sorted(FILE_KEYS)}")
        elif key in MODEL_KEYS:
            if not isinstance(body, dict) or not body or "min" in body or "max" in body:
                problems.add(
                    f"rates.{key}",
                    "expected one entry per processor family, e.g. "
                    f"`{key}: {{{DEFAULT_SUBJECT_NAME}: {{min: 0.74, max: 3.5, source: ...}}}}`, "
                    f"got {body!r}",
                )
            else:
                for subject, entry in body.items():
                    s = "" if subject == DEFAULT_SUBJECT_NAME else str(subject)
                    out.extend(_model_entry(problems, key, s, f"rates.{key}.{subject}", entry, card_source))
        elif key in KEYED_RATES:
            if not isinstance(body, dict) or not body or "value" in body:
                problems.add(
                    f"rates.{key}",
                    f"expected one entry per subject, e.g. "
                    f"`{key}: {{{DEFAULT_SUBJECT_NAME}: {{value: 1.0, source: ...}}}}`, got {body!r}",
                )
            else:
                for subject, entry in body.items():
                    s = "" if subject == DEFAULT_SUBJECT_NAME else str(subject)
                    out.extend(_entry(problems, key, s, f"rates.{key}.{subject}", entry, card_source))
        else:
            out.extend(_entry(problems, key, "", f"rates.{key}", body, card_source))
        if len(problems) > before:
            bad.add(key)
    return out, bad


def _model_entry(
    problems: _Problems, key: str, subject: str, where: str, entry: Any, card_source: Any
) -> list[Rate]:
    """A power model entry {min, max} -> the two stored rates; min <= max, both >= 0 watts."""
    if not isinstance(entry, dict):
        problems.add(where, f"expected a mapping with `min`, `max` and `source`, got {entry!r}")
        return []
    unknown = sorted(set(entry) - _MODEL_FIELDS)
    if unknown:
        problems.add(where, f"unknown field(s) {unknown}; allowed: {sorted(_MODEL_FIELDS)}")
        return []
    min_key, max_key = MODEL_KEYS[key]
    found: dict[str, Rate] = {}
    for bound, stored_key in (("min", min_key), ("max", max_key)):
        if bound not in entry:
            problems.add(f"{where}.{bound}", f"missing (watts per thread at {bound} load)")
            continue
        body = {k: v for k, v in entry.items() if k not in ("min", "max")}
        body["value"] = entry[bound]
        body.setdefault("unit", RATE_UNITS[min_key])
        for rate in _entry(problems, stored_key, subject, where, body, card_source, bound):
            found[bound] = rate
    if len(found) < 2:
        return []
    if found["min"].value > found["max"].value:
        problems.add(
            where,
            f"min ({found['min'].value:g} W) is above max ({found['max'].value:g} W); min is the idle "
            "watts per thread, max the watts at full load",
        )
        return []
    return [found["min"], found["max"]]


def _entry(
    problems: _Problems,
    key: str,
    subject: str,
    where: str,
    entry: Any,
    card_source: Any,
    field_name: str = "value",
) -> list[Rate]:
    """One rate (a list of one), or none with every problem of the entry added."""
    if not isinstance(entry, dict):
        problems.add(where, f"expected a mapping with `value` and `source`, got {entry!r}")
        return []
    before = len(problems)
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        problems.add(where, f"unknown field(s) {unknown}; allowed: {sorted(_ENTRY_FIELDS)}")
    value = entry.get("value")
    at = f"{where}.{field_name}"
    if "value" not in entry:
        problems.add(at, "missing")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(at, f"must be a number, got {value!r}")
    elif not math.isfinite(value):
        problems.add(at, f"must be finite, got {value!r}")
    elif value < 0:
        problems.add(at, f"must be >= 0, got {value!r}")
    source = entry.get("source", card_source)
    if not isinstance(source, str) or not source.strip():
        problems.add(f"{where}.source", f"missing; say where the figure comes from (got {source!r})")
    unit = entry.get("unit", RATE_UNITS[key])
    if unit != RATE_UNITS[key]:
        problems.add(f"{where}.unit", f"{key} is in {RATE_UNITS[key]}, got {unit!r}")
    year = entry.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2200):
        problems.add(f"{where}.year", f"must be a year such as 2024, got {year!r}")
    if year is None and key in NEEDS_YEAR:
        problems.add(
            f"{where}.year",
            f"missing; {key} describes one year (it is scaled to each transfer's year by "
            "data_kwh_per_gb_halving_years)",
        )
    basis: str | None = None
    if key == "grid_gco2e_per_kwh":
        lifecycle = entry.get("lifecycle")
        if isinstance(lifecycle, bool):
            basis = GRID_BASES[lifecycle]
        else:
            problems.add(
                f"{where}.lifecycle",
                "say whether the intensity is lifecycle CO2e (true: upstream and construction included, "
                f"as Ember's) or direct combustion CO2 (false, as eGRID's); got {lifecycle!r}",
            )
    elif "lifecycle" in entry:
        problems.add(f"{where}.lifecycle", "only grid_gco2e_per_kwh takes it")
    if len(problems) > before or not isinstance(value, int | float):
        return []
    return [Rate(key, subject, float(value), unit, str(source).strip(), year, basis)]


_STORED_ONLY = frozenset(k for pair in MODEL_KEYS.values() for k in pair)
FILE_KEYS = (set(RATE_UNITS) - _STORED_ONLY) | set(MODEL_KEYS)


def _file_key(stored_key: str) -> str:
    return next((m for m, pair in MODEL_KEYS.items() if stored_key in pair), stored_key)


def _check_complete(
    problems: _Problems, merged: dict[tuple[str, str], Rate], bad_keys: set[str], *, extends_none: bool
) -> None:
    """Every key (and the default subject of the keyed ones) present; a key whose entry had a problem
    is not reported again as missing."""
    keys = {k for k, _ in merged}
    reported: set[str] = set()
    for key in RATE_UNITS:
        file_key = _file_key(key)
        if key not in keys and file_key not in bad_keys and file_key not in reported:
            reported.add(file_key)
            why = "the card says `extends: none`" if extends_none else "not in the card it extends"
            problems.add(f"rates.{file_key}", f"missing ({why})")
    for key in NEEDS_DEFAULT_SUBJECT:
        file_key = _file_key(key)
        if (key, "") not in merged and key in keys and file_key not in bad_keys and file_key not in reported:
            reported.add(file_key)
            problems.add(
                f"rates.{file_key}.{DEFAULT_SUBJECT_NAME}",
                "missing (the fallback for subjects the card does not name)",
            )


def _effective_from(problems: _Problems, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, dt.date):
        ts = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            ts = dt.datetime.fromisoformat(value)
        except ValueError:
            problems.add("effective_from", f"not an ISO time such as 2026-01-01T00:00:00Z: {value!r}")
            return None
    else:
        problems.add("effective_from", f"expected an ISO time such as 2026-01-01T00:00:00Z, got {value!r}")
        return None
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
