"""`footprint sql`: run analyst SQL against the warehouse, read-only.

Two locks: every statement is parsed by DuckDB and refused unless it only reads (SELECT, WITH ...
SELECT, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of those, and PRAGMAs that only show
something); and the file is opened with read_only=True anyway.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from warehouse.cli.errors import EXIT_BAD_INPUT, CliError

if TYPE_CHECKING:
    from warehouse.home import FootprintHome

READ_PRAGMAS = frozenset(
    {
        "show_tables",
        "show_tables_expanded",
        "table_info",
        "show",
        "database_list",
        "database_size",
        "storage_info",
        "version",
        "platform",
        "functions",
        "collations",
        "metadata_info",
        "user_agent",
    }
)
_COMMENTS = re.compile(r"^\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.DOTALL)
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(?:\([^)]*\)\s*)?(?P<inner>.*)$", re.I | re.S)
_PRAGMA = re.compile(r"^\s*pragma\s+(?P<name>\w+)\s*(?P<rest>.*)$", re.I | re.S)


class WritingStatementError(CliError):
    pass


def _strip_comments(text: str) -> str:
    while True:
        stripped = _COMMENTS.sub("", text, count=1)
        if stripped == text:
            return text.strip()
        text = stripped


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


def _refuse(index: int, kind: str, text: str) -> WritingStatementError:
    return WritingStatementError(
        f"refused: `footprint sql` is read-only and statement {index} is {kind} "
        f"({_short(text)!r}); only SELECT / WITH ... SELECT / DESCRIBE / SHOW / EXPLAIN SELECT / "
        "PRAGMA show_* run here (rate cards change through `footprint ratecard load`)",
        EXIT_BAD_INPUT,
    )


def read_only_statements(query: str) -> list[str]:
    """The statements of `query`, each checked to only read. Raises CliError (exit 2) otherwise."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as err:
        raise CliError(f"cannot parse the query: {err}", EXIT_BAD_INPUT) from err
    if not statements:
        raise CliError("no SQL statement given", EXIT_BAD_INPUT)
    texts: list[str] = []
    for index, stmt in enumerate(statements, start=1):
        _check(index, stmt)
        texts.append(stmt.query)
    return texts


def _check(index: int, stmt: Any, depth: int = 0) -> None:
    import duckdb

    kind = stmt.type
    text = _strip_comments(stmt.query)
    if kind == duckdb.StatementType.SELECT:
        return
    if kind == duckdb.StatementType.PRAGMA:
        match = _PRAGMA.match(text)
        if match and match["name"].lower() in READ_PRAGMAS and not match["rest"].lstrip().startswith("="):
            return
        raise _refuse(index, "a PRAGMA that is not a show_* pragma", text)
    if kind == duckdb.StatementType.EXPLAIN and depth == 0:
        match = _EXPLAIN.match(text)
        inner = match["inner"] if match else ""
        try:
            inner_statements = duckdb.extract_statements(inner) if inner.strip() else []
        except duckdb.Error:
            inner_statements = []
        if len(inner_statements) != 1:
            raise _refuse(index, "an EXPLAIN of something that is not one SELECT", text)
        _check(index, inner_statements[0], depth + 1)
        return
    name = str(kind).rsplit(".", 1)[-1]
    raise _refuse(index, f"a {name} statement", text)


def run_query(
    home: FootprintHome, query: str, *, wait_s: float
) -> tuple[list[str], list[tuple[Any, ...]], list[str]]:
    """Check, then run each statement; returns the last statement's columns and rows, and notices."""
    from warehouse.cli.reader import open_for_reading

    statements = read_only_statements(query)  # refuse before touching the warehouse
    import duckdb

    with open_for_reading(home, wait_s=wait_s) as session:
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for text in statements:
            try:
                cursor = session.con.execute(text)
            except duckdb.Error as err:
                raise CliError(f"query failed: {err}", EXIT_BAD_INPUT) from err
            if cursor.description is None:
                columns, rows = [], []
            else:
                columns = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
        return columns, rows, session.notices
