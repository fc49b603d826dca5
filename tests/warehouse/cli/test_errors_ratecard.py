"""Top-level errors (one line, exit code, --debug) and `footprint ratecard load|show`."""

from __future__ import annotations

import json
from pathlib import Path


def test_unexpected_error_is_one_line_with_where_to_look(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    proc = cli("sync", env={"FOOTPRINT_HOME": str(not_a_dir)})
    assert proc.returncode == 70
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("footprint: error: unexpected"), proc.stderr
    assert "--debug" in lines[0]
    debug = cli("--debug", "sync", env={"FOOTPRINT_HOME": str(not_a_dir)})
    assert debug.returncode == 70 and "Traceback" in debug.stderr


def test_secrets_are_redacted_from_errors(cli, one_line_error, home) -> None:  # type: ignore[no-untyped-def]
    proc = cli("sql", "SELECT * FROM x WHERE url = 'http://h/?token=s3cr3tvalue'; DROP TABLE x")
    one_line_error(proc, "read-only")
    # the refused statement is quoted; a token in it must not be
    assert "s3cr3tvalue" not in proc.stderr


def test_ratecard_load_and_show(cli, one_line_error, small_warehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    card = tmp_path / "ours.yaml"
    card.write_text(
        "name: ours\nprofile: on_prem\n"
        'rates:\n  electricity_usd_per_kwh: {value: 0.3, source: "utility bill"}\n'
    )
    loaded = cli("ratecard", "load", str(card), "--effective-from", "2026-11-01T12:30:00Z")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded as version 2" in loaded.stdout
    again = cli("ratecard", "load", str(card))
    assert again.returncode == 0 and "nothing written" in again.stdout
    shown = json.loads(cli("ratecard", "show", "--format", "json").stdout)
    assert [v["name"] for v in shown["versions"]] == ["default", "ours"]
    assert shown["version"] == 2
    rates = {(r["key"], r["subject"]): r["value"] for r in shown["rates"]}
    assert rates[("electricity_usd_per_kwh", "")] == 0.3
    assert [v["profile"] for v in shown["versions"]] == ["cloud", "on_prem"]
    assert {r["basis"] for r in shown["rates"] if r["key"] == "grid_gco2e_per_kwh"} == {"lifecycle"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'name: bad\nprofile: on_prem\nrates:\n  electricity_usd_per_kwh: {value: -1, source: "x"}\n'
    )
    one_line_error(cli("ratecard", "load", str(bad)), "electricity_usd_per_kwh", ">= 0")
    one_line_error(cli("ratecard", "load", str(card), "--effective-from", "yesterday"), "--effective-from")


def test_ratecard_load_reports_every_bad_value_and_stores_nothing(
    cli, one_line_error, small_warehouse, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Three bad values, one error listing the three, exit 2, and no new version in the warehouse."""
    before = json.loads(cli("ratecard", "show", "--format", "json").stdout)["versions"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: ours\nrates:\n"
        "  pue: {value: -1.2, source: audit}\n"
        "  annotator_usd_per_hour: {alice: {value: twenty, source: contract}}\n"
        "  transfer_usd_per_gb: {value: 0.09}\n"
    )
    proc = cli("ratecard", "load", str(bad))
    assert proc.returncode == 2
    one_line_error(
        proc,
        str(bad),
        "3 problems",
        "rates.pue.value: must be >= 0, got -1.2",
        "rates.annotator_usd_per_hour.alice.value: must be a number, got 'twenty'",
        "rates.transfer_usd_per_gb.source: missing; say where the figure comes from",
        "Nothing was loaded",
    )
    after = json.loads(cli("ratecard", "show", "--format", "json").stdout)["versions"]
    assert after == before and [v["name"] for v in after] == ["default"]
