"""Errors of the corpus stage: one type, with a message naming the source, the column and the problem."""

from __future__ import annotations


class CorpusError(ValueError):
    """Bad corpus input or an unusable result (missing column, wrong type, undecodable bytes, empty
    source, nothing left after cleaning, unreadable file, unreachable hub).

    `source` is the file path or source spec, `column` the column concerned (if any)."""

    def __init__(self, problem: str, *, source: str = "", column: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.column = column
        where = []
        if source:
            where.append(f"source {source}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + problem)
