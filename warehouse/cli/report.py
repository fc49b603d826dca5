"""`footprint report`: per-asset and end-to-end footprint of one run (the latest by default), and the
quality of its models beside it: their final scores, each model against the baseline it was compared
with, per class, and the F1 points gained per kWh / USD / kg CO2e of the model's end-to-end footprint.

Reads the analyst views `asset_footprint`, `end_to_end_footprint_of` (warehouse/sql/views.sql,
rollup.sql), `model_quality`, `model_vs_baseline_of` and `model_vs_baseline_per_class` (sql/quality.sql).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warehouse.cli.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, CliError
from warehouse.verdict import PER_CLASS_COLUMNS, gain_verdict

if TYPE_CHECKING:
    import duckdb

    from warehouse.home import FootprintHome

# Columns shown in the tables (the JSON output carries every column of the views). A figure with
# unknown parts is NULL in the views; the table shows its `_at_least` sibling: "at least X (N parts
# unknown)" (warehouse/figures.py).
ASSET_TABLE_COLUMNS = (
    "asset_key",
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
    "unknown_parts",
)
E2E_TABLE_COLUMNS = (
    "asset_key",
    "upstream_count",
    "energy_kwh",
    "energy_method",
    "co2e_kg",
    "bytes_moved",
    "human_hours",
    "cost_usd",
    "alloc_co2e_kg",
    "alloc_cost_usd",
    "unknown_parts",
)
FIGURE_SUFFIXES = ("_usd", "_kwh", "_kg", "_hours")  # NULL there means unknown
# The hosts' unattributed remainder in the hours the run spanned (host_unattributed); the table
# shows host, device kind, party and service as one label beside the hour (it fits 80 columns).
HOST_LABEL_COLUMNS = ("host", "device_kind", "party", "service")
HOST_TABLE_COLUMNS = (
    "host",
    "hour_utc",
    "device_kind",
    "party",
    "service",
    "device_s",
    "energy_kwh",
    "co2e_kg",
    "cost_hardware_usd",
    "intervals_unknown",
)


# Model quality: the final overall eval scores of each model of the run (model_quality).
QUALITY_SQL = """
SELECT asset_key, materialization_id,
       max(value) FILTER (WHERE name = 'f1_macro') AS f1_macro,
       max(value) FILTER (WHERE name = 'accuracy') AS accuracy,
       max(value) FILTER (WHERE name = 'precision_macro') AS precision_macro,
       max(value) FILTER (WHERE name = 'recall_macro') AS recall_macro
FROM model_quality
WHERE run_id = ? AND split = 'eval' AND label IS NULL
GROUP BY asset_key, materialization_id, started_at
ORDER BY started_at, asset_key
"""
QUALITY_TABLE_COLUMNS = ("asset_key", "f1_macro", "accuracy", "precision_macro", "recall_macro")
VS_FIGURES = {  # model_vs_baseline column -> row label (one small table per model and baseline)
    "model_f1_macro": "model macro-F1",
    "baseline_f1_macro": "baseline macro-F1",
    "f1_points_gained": "F1 points gained",
    "energy_kwh": "end-to-end energy",
    "cost_usd": "end-to-end cost (USD)",
    "co2e_kg": "end-to-end CO2e",
    "f1_points_per_kwh": "F1 points per kWh",
    "f1_points_per_usd": "F1 points per USD",
    "f1_points_per_kg_co2e": "F1 points per kg CO2e",
    "unknown_parts": "unknown parts",
}
PER_UNIT_COLUMNS = ("f1_points_per_kwh", "f1_points_per_usd", "f1_points_per_kg_co2e")


@dataclass
class Report:
    run_id: str
    asset_columns: list[str]
    asset_rows: list[tuple[Any, ...]]
    e2e_columns: list[str]
    e2e_rows: list[tuple[Any, ...]]
    host_columns: list[str] = field(default_factory=list)
    host_rows: list[tuple[Any, ...]] = field(default_factory=list)
    quality_columns: list[str] = field(default_factory=list)
    quality_rows: list[tuple[Any, ...]] = field(default_factory=list)
    vs_columns: list[str] = field(default_factory=list)
    vs_rows: list[tuple[Any, ...]] = field(default_factory=list)
    per_class_columns: list[str] = field(default_factory=list)
    per_class_rows: list[tuple[Any, ...]] = field(default_factory=list)
    pending_batches: int = 0
    notices: list[str] = field(default_factory=list)


def _fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = con.execute(sql, params)
    return [d[0] for d in cursor.description or []], cursor.fetchall()


def _known_assets(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT asset_key FROM materialization ORDER BY 1").fetchall()]


def _pick_run(con: duckdb.DuckDBPyConnection, run_id: str | None, asset: str | None) -> str:
    if asset is not None:
        known = _known_assets(con)
        if asset not in known:
            listed = ", ".join(known) if known else "none yet (no materialization recorded)"
            raise CliError(f"unknown asset {asset!r}; known assets: {listed}", EXIT_BAD_INPUT)
    where, params = ("WHERE asset_key = ?", [asset]) if asset is not None else ("", [])
    runs = con.execute(
        f"SELECT run_id FROM materialization {where} GROUP BY run_id ORDER BY min(started_at) DESC, run_id",
        params,
    ).fetchall()
    if not runs:
        raise CliError(
            "the warehouse holds no materializations yet: materialise an asset (`make demo`) "
            "or run `footprint sync` to merge pending facts",
            EXIT_ENVIRONMENT,
        )
    if run_id is None:
        return str(runs[0][0])
    if run_id not in {r[0] for r in runs}:
        recent = ", ".join(str(r[0]) for r in runs[:5])
        scope = f" with asset {asset!r}" if asset is not None else ""
        raise CliError(f"unknown run {run_id!r}{scope}; most recent runs: {recent}", EXIT_BAD_INPUT)
    return run_id


def _end_to_end(con: duckdb.DuckDBPyConnection, ids: list[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One walk per materialization (`end_to_end_footprint_of(id)`): a WHERE on the
    `end_to_end_footprint` view would walk the whole lineage graph."""
    columns: list[str] = []
    rows: list[tuple[Any, ...]] = []
    for mid in ids:
        columns, found = _fetch(con, "SELECT * FROM end_to_end_footprint_of(?)", [mid])
        rows.extend(found)
    if not columns:
        columns, _ = _fetch(con, "SELECT * FROM end_to_end_footprint LIMIT 0", [])
    return columns, rows


def _compared(
    con: duckdb.DuckDBPyConnection, ids: list[str]
) -> tuple[list[str], list[tuple[Any, ...]], list[str], list[tuple[Any, ...]]]:
    """model_vs_baseline_of(id) and the per-class rows of the run's models that were compared with a
    baseline, one model at a time (the macro's end-to-end walk then runs for that model only)."""
    models = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT materialization_id FROM lineage_edge WHERE relation = 'compared_with' "
            "AND materialization_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
            [ids],
        ).fetchall()
    ]
    vs_columns, _ = _fetch(con, "SELECT * FROM model_vs_baseline LIMIT 0", [])
    class_columns, _ = _fetch(con, "SELECT * FROM model_vs_baseline_per_class LIMIT 0", [])
    vs_rows: list[tuple[Any, ...]] = []
    class_rows: list[tuple[Any, ...]] = []
    for mid in models:
        vs_rows += _fetch(
            con, "SELECT * FROM model_vs_baseline_of(?) ORDER BY baseline_materialization_id", [mid]
        )[1]
        class_rows += _fetch(
            con,
            "SELECT * FROM model_vs_baseline_per_class WHERE model_materialization_id = ? "
            "ORDER BY baseline_materialization_id, label",
            [mid],
        )[1]
    return vs_columns, vs_rows, class_columns, class_rows


def build_report(home: FootprintHome, *, run_id: str | None, asset: str | None, wait_s: float) -> Report:
    import duckdb

    from warehouse.cli.reader import open_for_reading

    with open_for_reading(home, wait_s=wait_s) as session:
        con = session.con
        try:
            chosen = _pick_run(con, run_id, asset)
            asset_filter = " AND asset_key = ?" if asset is not None else ""
            params: list[Any] = [chosen] + ([asset] if asset is not None else [])
            cols, rows = _fetch(
                con,
                f"SELECT * FROM asset_footprint WHERE run_id = ?{asset_filter} "
                "ORDER BY started_at, asset_key",
                params,
            )
            ids = [r[cols.index("materialization_id")] for r in rows]
            e2e_cols, e2e_rows = _end_to_end(con, ids)
            quality_cols, quality_rows = _fetch(con, QUALITY_SQL, [chosen])
            vs_cols, vs_rows, per_class_cols, per_class_rows = _compared(con, ids)
            host_cols, host_rows = _fetch(
                con,
                "SELECT h.* FROM host_unattributed h WHERE h.hour_utc BETWEEN "
                "(SELECT date_trunc('hour', timezone('UTC', min(started_at))) FROM materialization "
                " WHERE run_id = ?) AND "
                "(SELECT max(timezone('UTC', coalesce(ended_at, started_at))) FROM materialization_status "
                " WHERE run_id = ?) ORDER BY h.host, h.hour_utc, h.device_kind, h.party, h.service",
                [chosen, chosen],
            )
        except duckdb.CatalogException as err:
            raise CliError(
                f"the warehouse at {home.warehouse_path} lacks the analyst views ({err}); "
                "run `footprint sync` to create them",
                EXIT_ENVIRONMENT,
            ) from err
        return Report(
            run_id=chosen,
            asset_columns=cols,
            asset_rows=rows,
            e2e_columns=e2e_cols,
            e2e_rows=e2e_rows,
            host_columns=host_cols,
            host_rows=host_rows,
            quality_columns=quality_cols,
            quality_rows=quality_rows,
            vs_columns=vs_cols,
            vs_rows=vs_rows,
            per_class_columns=per_class_cols,
            per_class_rows=per_class_rows,
            pending_batches=session.pending_batches,
            notices=list(session.notices),
        )


def print_report(report: Report, *, as_json: bool) -> None:
    from warehouse.cli import render

    if as_json:
        render.write_json(
            {
                "run_id": report.run_id,
                "pending_batches": report.pending_batches,
                "notices": report.notices,
                "asset_footprint": render.records(report.asset_columns, report.asset_rows),
                "end_to_end_footprint": render.records(report.e2e_columns, report.e2e_rows),
                "host_unattributed": render.records(report.host_columns, report.host_rows),
                "model_quality": render.records(report.quality_columns, report.quality_rows),
                "model_vs_baseline": render.records(report.vs_columns, report.vs_rows),
                "model_vs_baseline_per_class": render.records(
                    report.per_class_columns, report.per_class_rows
                ),
            }
        )
        return
    console = render.stdout_console()
    for title, columns, rows, wanted in (
        (
            f"Footprint per asset, run {report.run_id}",
            report.asset_columns,
            report.asset_rows,
            ASSET_TABLE_COLUMNS,
        ),
        (
            "End-to-end footprint: each materialization with all its upstreams, each counted once "
            "(alloc: shared upstreams split among their consumers)",
            report.e2e_columns,
            report.e2e_rows,
            E2E_TABLE_COLUMNS,
        ),
    ):
        keep = [c for c in wanted if c in columns]
        _print_tables(console, title, keep, [_cells(columns, r, keep) for r in rows])
    unknown = [
        (r[report.asset_columns.index("asset_key")], r[report.asset_columns.index("unknown_detail")])
        for r in report.asset_rows
        if r[report.asset_columns.index("unknown_detail")]
    ]
    for asset_key, detail in unknown:
        console.print(f"{asset_key}: unknown: {detail}", highlight=False)
    print_quality(report, console)
    if report.host_rows:
        keep = [c for c in HOST_TABLE_COLUMNS if c in report.host_columns and c not in HOST_LABEL_COLUMNS]
        _print_tables(
            console,
            "Unattributed on the hosts during the run (idle capacity, processes outside every meter "
            "window, a service no step was using): not in any figure above",
            ["host_device_party", *keep],
            [
                (_host_label(report.host_columns, r), *_cells(report.host_columns, r, keep))
                for r in report.host_rows
            ],
            keys=2,
        )
    if report.pending_batches:
        console.print(
            f"{report.pending_batches} fact batches pending (not in these figures)", highlight=False
        )


HEADERS = {"host_device_party": "host device party service", "hour_utc": "hour (UTC)"}


def _host_label(columns: list[str], row: tuple[Any, ...]) -> str:
    """`vm cpu service label-studio`: which host, device and party a remainder row is about."""
    values = dict(zip(columns, row, strict=True))
    return " ".join(str(values[c]) for c in HOST_LABEL_COLUMNS if values.get(c))


def _print_tables(
    console: Any, title: str, columns: list[str], cells: list[tuple[str | None, ...]], *, keys: int = 1
) -> None:
    """One table, or stacked tables that fit the console, each repeating the key column (an asset key is
    never broken across lines); figures carry their unit in the cell (warehouse/units.py)."""
    from warehouse.cli import render

    headers = [HEADERS.get(c) or render.figure_header(c) for c in columns]
    text = [tuple(render.cell(v) for v in row) for row in cells]
    for table in render.fitted_tables(title, headers, text, width=console.width, keys=keys):
        console.print(table)


def print_quality(report: Report, console: Any) -> None:
    """The models' scores, each model against its baseline (gain per unit of its end-to-end footprint;
    a per-unit figure that cannot be given is 'n/a', the note says why) and per class."""
    from warehouse.cli import render

    if report.quality_rows:
        keep = [c for c in QUALITY_TABLE_COLUMNS if c in report.quality_columns]
        _print_tables(
            console,
            "Model quality (final scores on the held-out eval split)",
            keep,
            [_cells(report.quality_columns, r, keep) for r in report.quality_rows],
        )
    for r in report.vs_rows:
        values = dict(zip(report.vs_columns, r, strict=True))
        shown_cells = dict(zip(VS_FIGURES, _cells(report.vs_columns, r, list(VS_FIGURES)), strict=True))
        gained = values.get("f1_points_gained")
        shown_cells["f1_points_gained"] = "unknown" if gained is None else f"{gained:+.2f}"
        rows = [
            ("model", f"{values['model_asset_key']} {values['model_materialization_id']}"),
            ("baseline", f"{values['baseline_asset_key']} {values['baseline_materialization_id']}"),
            *(
                (
                    label,
                    "n/a" if name in PER_UNIT_COLUMNS and shown_cells[name] is None else shown_cells[name],
                )
                for name, label in VS_FIGURES.items()
            ),
        ]
        if values.get("per_unit_note"):
            rows.append(("note", values["per_unit_note"]))
        for table in render.fitted_tables(
            "Model vs baseline", ["figure", "value"], rows, width=console.width
        ):
            console.print(table)
        console.print(gain_verdict(gained, str(values["baseline_asset_key"] or "the baseline")), style="bold")
        console.print(
            "F1 points gained over the baseline the model was compared with, per unit of the model's "
            "end-to-end footprint (labelling included; the baseline's own footprint is not in it)",
            highlight=False,
        )
    if report.per_class_rows:
        keep = [c for c in PER_CLASS_COLUMNS if c in report.per_class_columns]
        _print_tables(
            console,
            "Per class (eval): model vs baseline",
            keep,
            [_cells(report.per_class_columns, r, keep) for r in report.per_class_rows],
        )


def _cells(columns: list[str], row: tuple[Any, ...], keep: list[str]) -> tuple[str | None, ...]:
    """The kept cells of a row as text, figures in readable units (`30.6 mWh`, warehouse/units.py); a
    figure with unknown parts shows "at least X (N parts unknown)" or "unknown (...)"; None for a
    missing value that is not a figure (a per-unit gain that cannot be given)."""
    from warehouse.cli.render import cell, figure_cell
    from warehouse.figures import shown
    from warehouse.units import for_column

    values = dict(zip(columns, row, strict=True))
    out: list[str | None] = []
    for c in keep:
        value = values.get(c)
        if value is None and c.endswith(FIGURE_SUFFIXES) and c not in PER_UNIT_COLUMNS:
            fmt = for_column(c) or cell
            out.append(shown(None, values.get(f"{c}_at_least"), values.get("unknown_parts"), fmt))
        elif value is None:
            out.append(None)
        else:
            out.append(figure_cell(c, value))
    return tuple(out)
