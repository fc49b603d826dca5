"""Opening the warehouse for reading: merge pending fact batches first when the lock allows,
say what is still pending, then open read-only (readers never hold the write lock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from warehouse.cli.errors import EXIT_ENVIRONMENT, CliError

if TYPE_CHECKING:
    import duckdb

    from warehouse.home import FootprintHome

DEFAULT_READ_WAIT_S = 2.0


@dataclass
class ReadSession:
    con: duckdb.DuckDBPyConnection
    pending_batches: int = 0
    merged_batches: int = 0
    notices: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ReadSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_for_reading(home: FootprintHome, *, wait_s: float = DEFAULT_READ_WAIT_S) -> ReadSession:
    """Merge pending batches (bounded by `wait_s`), then open the warehouse read-only."""
    from warehouse.batches import pending_batches
    from warehouse.connection import WarehouseLockedError, connect
    from warehouse.loader import try_sync

    notices: list[str] = []
    merged = 0
    pending = len(pending_batches(home))
    if pending:
        result = try_sync(home, wait_s=wait_s)
        merged = result.loaded_batches
        pending = result.pending_left
        if result.locked:
            notices.append(
                f"{pending} fact batches pending: warehouse locked by another process; "
                "figures below leave them out (run `footprint sync` once it is free)"
            )
        if result.quarantined:
            notices.append(
                f"{len(result.quarantined)} corrupt fact batches quarantined under "
                f"{home.quarantine_dir} (see REASON.txt in each)"
            )
    try:
        con = connect(home, read_only=True, wait_s=wait_s)
    except WarehouseLockedError as err:
        extra = f"; {pending} fact batches pending" if pending else ""
        raise CliError(
            f"{err}{extra}. Retry when the writer finishes, or pass --wait SECONDS", EXIT_ENVIRONMENT
        ) from err
    return ReadSession(con=con, pending_batches=pending, merged_batches=merged, notices=notices)
