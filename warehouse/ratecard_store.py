"""Putting rate cards into the warehouse: each load is a new version, never an edit.

`install_rate_card` inserts a version row and its rates in one transaction (nothing half-written);
a card whose content hash is already stored returns that version instead of a duplicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from warehouse.ratecard import RateCard, RateCardError, load_default_card


@dataclass(frozen=True)
class InstalledCard:
    version: int
    inserted: bool  # False: identical content was already loaded as `version`
    effective_from: dt.datetime


def install_rate_card(
    con: duckdb.DuckDBPyConnection, card: RateCard, *, effective_from: dt.datetime | None = None
) -> InstalledCard:
    """Insert `card` as a new version (effective from the card's time, `effective_from`, or now)."""
    if effective_from is not None and effective_from.tzinfo is None:
        effective_from = effective_from.replace(tzinfo=dt.UTC)
    digest = card.sha256(effective_from)
    found = con.execute(
        "SELECT version, effective_from FROM rate_card_version WHERE sha256 = ? ORDER BY version LIMIT 1",
        [digest],
    ).fetchall()
    if found:
        return InstalledCard(int(found[0][0]), False, found[0][1])
    if effective_from is None and card.effective_from is None:
        latest = _latest_if_identical(con, card)
        if latest is not None:  # the same card is already the newest version: no duplicate "now"
            return latest
    when = effective_from or card.effective_from or dt.datetime.now(dt.UTC)
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute("SELECT coalesce(max(version), 0) + 1 FROM rate_card_version").fetchall()
        version = int(row[0][0])
        con.execute(
            "INSERT INTO rate_card_version (version, effective_from, name, source_path, sha256, loaded_at, "
            "profile) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [version, when, card.name, card.source_path, digest, dt.datetime.now(dt.UTC), card.profile],
        )
        con.executemany(
            "INSERT INTO rate (version, key, subject, value, unit, source, year, basis) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[version, r.key, r.subject, r.value, r.unit, r.source, r.year, r.basis] for r in card.rates],
        )
        refresh_rate_tables(con)
        _reprice(con)
        con.execute("COMMIT")
    except duckdb.Error as err:
        con.execute("ROLLBACK")
        raise RateCardError(f"rate card {card.source_path}: could not be stored: {err}") from err
    return InstalledCard(version, True, when)


def refresh_rate_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the small lookup tables the views join (rate_card_period, rate_card_scalar) from the
    stored cards (sql/rate_tables.sql)."""
    from warehouse.connection import sql_text

    for statement in sql_text("rate_tables.sql").split(";\n"):
        if statement.strip() and not all(x.lstrip().startswith("--") for x in statement.strip().splitlines()):
            con.execute(statement)


def _latest_if_identical(con: duckdb.DuckDBPyConnection, card: RateCard) -> InstalledCard | None:
    row = con.execute(
        "SELECT version, effective_from, name, profile FROM rate_card_version ORDER BY version DESC LIMIT 1"
    ).fetchall()
    if not row or row[0][2] != card.name or row[0][3] != card.profile:
        return None
    version = int(row[0][0])
    stored = {
        tuple(r)
        for r in con.execute(
            "SELECT key, subject, value, unit, source, year, basis FROM rate WHERE version = ?", [version]
        ).fetchall()
    }
    ours = {(r.key, r.subject, r.value, r.unit, r.source, r.year, r.basis) for r in card.rates}
    return InstalledCard(version, False, row[0][1]) if stored == ours else None


def ensure_default_card(con: duckdb.DuckDBPyConnection) -> None:
    """Load the shipped default card as version 1 when the warehouse has no card at all."""
    row = con.execute("SELECT count(*) FROM rate_card_version").fetchall()
    if int(row[0][0]) == 0:
        install_rate_card(con, load_default_card())


def fill_missing_rates(con: duckdb.DuckDBPyConnection) -> int:
    """Give versions loaded before a rate key existed that key, from the shipped default card: the CPU
    and RAM power model and the network trend arrived in 2026-12, and without them a version could not
    re-estimate its history. Only absent keys are added (never a changed value); returns how many rates
    were inserted. Cheap when nothing is missing (one query)."""
    card = load_default_card()
    keys = sorted({r.key for r in card.rates})
    missing = con.execute(
        "SELECT v.version, k.key FROM rate_card_version v CROSS JOIN (SELECT unnest(?) AS key) k "
        "WHERE NOT EXISTS (SELECT 1 FROM rate r WHERE r.version = v.version AND r.key = k.key)",
        [keys],
    ).fetchall()
    rows = [
        [
            version,
            r.key,
            r.subject,
            r.value,
            r.unit,
            f"(from the shipped default card) {r.source}",
            r.year,
            r.basis,
        ]
        for version, key in missing
        for r in card.rates
        if r.key == key
    ]
    if rows:
        con.executemany(
            "INSERT INTO rate (version, key, subject, value, unit, source, year, basis) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    if rows or not _table_present(con, "rate_card_scalar"):
        refresh_rate_tables(con)
        if rows:
            _reprice(con)
    return len(rows)


def _table_present(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0]
    )


def _reprice(con: duckdb.DuckDBPyConnection) -> None:
    """A stored card changes prices (and which card is in force when): the priced cache follows, once
    the views exist (a fresh warehouse gets it with its views)."""
    from warehouse.views import rebuild_node_footprint

    if _table_present(con, "node_footprint"):
        rebuild_node_footprint(con)
