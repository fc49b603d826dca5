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
from dataclasses import dataclass
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
    """A rate card that cannot be used; the message names the file, the key and the problem."""


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
    unless the file says `extends: none`; `base=None` requires a complete card."""
    p = Path(path)
    raw = _parse_file(p)
    profile = raw.get("profile", "cloud")
    if profile not in PROFILES:
        raise RateCardError(f"rate card {p}: profile: must be one of {list(PROFILES)}, got {profile!r}")
    own_profile_card = "default" if profile == "cloud" else profile
    extends = raw.get("extends", own_profile_card)
    if extends not in ("default", "on_prem", "none"):
        raise RateCardError(
            f"rate card {p}: extends: must be 'default', 'on_prem' or 'none', got {extends!r}"
        )
    if extends != "none" and extends != own_profile_card:
        raise RateCardError(
            f"rate card {p}: extends: a card of profile {profile!r} cannot extend the {extends!r} card "
            f"(its prices are made for the other profile, so a cost would be paid twice or not at all); "
            f"use extends: {own_profile_card} or extends: none"
        )
    own = _rates(p, raw)
    merged: dict[tuple[str, str], Rate] = {}
    if base == "default" and extends != "none":
        base = shipped_card(profile)
    if isinstance(base, RateCard) and extends != "none":
        merged.update({(r.key, r.subject): r for r in base.rates})
    merged.update({(r.key, r.subject): r for r in own})
    _check_complete(p, merged)
    _check_profile(p, profile, merged)
    name = raw.get("name", p.stem)
    if not isinstance(name, str) or not name:
        raise RateCardError(f"rate card {p}: name: must be a non-empty string, got {name!r}")
    return RateCard(
        name=name,
        rates=tuple(sorted(merged.values(), key=lambda r: (r.key, r.subject))),
        source_path=str(p),
        effective_from=_effective_from(p, raw.get("effective_from")),
        profile=profile,
    )


def _check_profile(p: Path, profile: str, merged: dict[tuple[str, str], Rate]) -> None:
    electricity = merged[("electricity_usd_per_kwh", "")]
    if profile == "cloud" and electricity.value != 0:
        raise RateCardError(
            f"rate card {p}: rates.electricity_usd_per_kwh: a cloud card's instance prices already include "
            f"power, so electricity must be 0 (got {electricity.value:g}); for hardware you own, write a "
            "card with `profile: on_prem` (amortised hardware + electricity)"
        )
    if profile == "on_prem" and electricity.value <= 0:
        raise RateCardError(
            f"rate card {p}: rates.electricity_usd_per_kwh: an on_prem card pays electricity separately "
            "from its amortised hardware, so it must be > 0 (your utility's $/kWh)"
        )


def _parse_file(p: Path) -> dict[str, Any]:
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
    unknown = sorted(set(data) - _CARD_FIELDS)
    if unknown:
        raise RateCardError(f"rate card {p}: unknown field(s) {unknown}; allowed: {sorted(_CARD_FIELDS)}")
    if not isinstance(data.get("rates"), dict):
        raise RateCardError(f"rate card {p}: rates: missing or not a mapping of rate keys")
    return data


def _rates(p: Path, raw: dict[str, Any]) -> list[Rate]:
    card_source = raw.get("source")
    out: list[Rate] = []
    for key, body in raw["rates"].items():
        if (key not in RATE_UNITS and key not in MODEL_KEYS) or key in _STORED_ONLY:
            raise RateCardError(f"rate card {p}: rates.{key}: unknown rate key; known: {sorted(FILE_KEYS)}")
        if key in MODEL_KEYS:
            if not isinstance(body, dict) or not body or "min" in body or "max" in body:
                raise RateCardError(
                    f"rate card {p}: rates.{key}: expected one entry per processor family, e.g. "
                    f"`{key}: {{{DEFAULT_SUBJECT_NAME}: {{min: 0.74, max: 3.5, source: ...}}}}`"
                )
            for subject, entry in body.items():
                s = "" if subject == DEFAULT_SUBJECT_NAME else str(subject)
                out.extend(_model_entry(p, key, s, f"rates.{key}.{subject}", entry, card_source))
        elif key in KEYED_RATES:
            if not isinstance(body, dict) or not body or "value" in body:
                raise RateCardError(
                    f"rate card {p}: rates.{key}: expected one entry per subject, e.g. "
                    f"`{key}: {{{DEFAULT_SUBJECT_NAME}: {{value: 1.0, source: ...}}}}`"
                )
            for subject, entry in body.items():
                s = "" if subject == DEFAULT_SUBJECT_NAME else str(subject)
                out.append(_entry(p, key, s, f"rates.{key}.{subject}", entry, card_source))
        else:
            out.append(_entry(p, key, "", f"rates.{key}", body, card_source))
    return out


def _model_entry(p: Path, key: str, subject: str, where: str, entry: Any, card_source: Any) -> list[Rate]:
    """A power model entry {min, max} -> the two stored rates; min <= max, both >= 0 watts."""
    if not isinstance(entry, dict):
        raise RateCardError(f"rate card {p}: {where}: expected a mapping with `min`, `max` and `source`")
    unknown = sorted(set(entry) - _MODEL_FIELDS)
    if unknown:
        raise RateCardError(
            f"rate card {p}: {where}: unknown field(s) {unknown}; allowed: {sorted(_MODEL_FIELDS)}"
        )
    min_key, max_key = MODEL_KEYS[key]
    values = {}
    for bound in ("min", "max"):
        body = {k: v for k, v in entry.items() if k not in ("min", "max")}
        if bound not in entry:
            raise RateCardError(f"rate card {p}: {where}.{bound}: missing (watts per thread at {bound} load)")
        body["value"] = entry[bound]
        body.setdefault("unit", RATE_UNITS[min_key])
        values[bound] = _entry(
            p, min_key if bound == "min" else max_key, subject, where, body, card_source, bound
        )
    if values["min"].value > values["max"].value:
        raise RateCardError(
            f"rate card {p}: {where}: min ({values['min'].value:g} W) is above max "
            f"({values['max'].value:g} W); min is the idle watts per thread, max the watts at full load"
        )
    return [values["min"], values["max"]]


def _entry(
    p: Path, key: str, subject: str, where: str, entry: Any, card_source: Any, field_name: str = "value"
) -> Rate:
    if not isinstance(entry, dict):
        raise RateCardError(f"rate card {p}: {where}: expected a mapping with `value` and `source`")
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise RateCardError(
            f"rate card {p}: {where}: unknown field(s) {unknown}; allowed: {sorted(_ENTRY_FIELDS)}"
        )
    if "value" not in entry:
        raise RateCardError(f"rate card {p}: {where}.value: missing")
    value = entry["value"]
    at = f"{where}.{field_name}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RateCardError(f"rate card {p}: {at}: must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RateCardError(f"rate card {p}: {at}: must be finite, got {value!r}")
    if value < 0:
        raise RateCardError(f"rate card {p}: {at}: must be >= 0, got {value!r}")
    source = entry.get("source", card_source)
    if not isinstance(source, str) or not source.strip():
        raise RateCardError(f"rate card {p}: {where}.source: missing; say where the figure comes from")
    unit = entry.get("unit", RATE_UNITS[key])
    if unit != RATE_UNITS[key]:
        raise RateCardError(f"rate card {p}: {where}.unit: {key} is in {RATE_UNITS[key]}, got {unit!r}")
    year = entry.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2200):
        raise RateCardError(f"rate card {p}: {where}.year: must be a year such as 2024, got {year!r}")
    if year is None and key in NEEDS_YEAR:
        raise RateCardError(
            f"rate card {p}: {where}.year: missing; {key} describes one year (it is scaled to each "
            "transfer's year by data_kwh_per_gb_halving_years)"
        )
    basis: str | None = None
    if key == "grid_gco2e_per_kwh":
        lifecycle = entry.get("lifecycle")
        if not isinstance(lifecycle, bool):
            raise RateCardError(
                f"rate card {p}: {where}.lifecycle: say whether the intensity is lifecycle CO2e (true: "
                "upstream and construction included, as Ember's) or direct combustion CO2 (false, as "
                f"eGRID's); got {lifecycle!r}"
            )
        basis = GRID_BASES[lifecycle]
    elif "lifecycle" in entry:
        raise RateCardError(f"rate card {p}: {where}.lifecycle: only grid_gco2e_per_kwh takes it")
    return Rate(key, subject, float(value), unit, source.strip(), year, basis)


_STORED_ONLY = frozenset(k for pair in MODEL_KEYS.values() for k in pair)
FILE_KEYS = (set(RATE_UNITS) - _STORED_ONLY) | set(MODEL_KEYS)


def _check_complete(p: Path, merged: dict[tuple[str, str], Rate]) -> None:
    keys = {k for k, _ in merged}
    for key in RATE_UNITS:
        if key not in keys:
            file_key = next((m for m, pair in MODEL_KEYS.items() if key in pair), key)
            raise RateCardError(f"rate card {p}: rates.{file_key}: missing (the card says `extends: none`)")
    for key in NEEDS_DEFAULT_SUBJECT:
        if (key, "") not in merged:
            file_key = next((m for m, pair in MODEL_KEYS.items() if key in pair), key)
            raise RateCardError(
                f"rate card {p}: rates.{file_key}.{DEFAULT_SUBJECT_NAME}: missing (the fallback for subjects "
                "the card does not name)"
            )


def _effective_from(p: Path, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, dt.date):
        ts = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            ts = dt.datetime.fromisoformat(value)
        except ValueError as err:
            raise RateCardError(
                f"rate card {p}: effective_from: not an ISO time such as 2026-01-01T00:00:00Z: {value!r}"
            ) from err
    else:
        raise RateCardError(f"rate card {p}: effective_from: expected an ISO time, got {value!r}")
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
