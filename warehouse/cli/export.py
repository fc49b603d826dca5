"""`footprint export --parquet DIR`: every table and view of the warehouse as one Parquet file each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.atomic import atomic_file
from warehouse.cli.errors import EXIT_ENVIRONMENT, CliError

if TYPE_CHECKING:
    from warehouse.home import FootprintHome

_OBJECTS_SQL = """
SELECT table_name AS name, 'table' AS kind FROM duckdb_tables()
 WHERE database_name = current_database() AND schema_name = 'main'
UNION ALL
SELECT view_name, 'view' FROM duckdb_views()
 WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
ORDER BY kind, name
"""


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_export(home: FootprintHome, out_dir: Path, *, wait_s: float) -> list[tuple[str, str, int, str]]:
    """Write DIR/<name>.parquet for each table and view; returns (name, kind, rows, path)."""
    import duckdb
    from rich.progress import Progress

    from warehouse.cli.reader import open_for_reading
    from warehouse.cli.render import stderr_console

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CliError(f"cannot create export directory {out_dir}: {err}", EXIT_ENVIRONMENT) from err
    written: list[tuple[str, str, int, str]] = []
    with open_for_reading(home, wait_s=wait_s) as session:
        for notice in session.notices:
            stderr_console().print(f"note: {notice}", markup=False)
        objects = session.con.execute(_OBJECTS_SQL).fetchall()
        with Progress(console=stderr_console(), transient=True) as progress:
            task = progress.add_task("exporting", total=len(objects))
            for name, kind in objects:
                final = out_dir / f"{name}.parquet"
                try:
                    with atomic_file(final) as tmp:
                        session.con.execute(
                            f"COPY (SELECT * FROM {_quote_ident(name)}) TO {_quote_literal(str(tmp))} "
                            "(FORMAT parquet, COMPRESSION zstd)"
                        )
                        rows = session.con.execute(f"SELECT count(*) FROM {_quote_ident(name)}").fetchone()
                except duckdb.Error as err:
                    raise CliError(f"exporting {kind} {name} failed: {err}", EXIT_ENVIRONMENT) from err
                written.append((name, kind, int(rows[0]) if rows else 0, str(final)))
                progress.advance(task)
    return written
