"""Errors the CLI turns into one readable line, and the top-level wrapper that does it.

Exit codes: 1 = the environment (missing or locked warehouse, a failed write), 2 = bad input
(unknown asset, a writing query, a negative input), 3 = a sync quarantined a corrupt batch,
70 = an unexpected error (one line; `footprint --debug ...` shows the traceback).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

EXIT_ENVIRONMENT = 1
EXIT_BAD_INPUT = 2
EXIT_QUARANTINE = 3
EXIT_UNEXPECTED = 70
DEBUG_ENV = "FOOTPRINT_DEBUG"


class CliError(Exception):
    """An error with a message a user can act on and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")


def error_line(message: str) -> str:
    """One line, secrets masked."""
    from warehouse.redact import redact

    flat = " ".join(str(message).split())
    return redact(f"footprint: error: {flat}")


def _log_traceback() -> str | None:
    """Append the traceback to $FOOTPRINT_HOME/logs/footprint-cli.log when that home exists."""
    try:
        from warehouse.home import FootprintHome
        from warehouse.redact import redact

        home = FootprintHome.resolve()
        if not home.root.is_dir():
            return None
        log_dir = home.root / "logs"
        log_dir.mkdir(mode=0o700, exist_ok=True)
        path = log_dir / "footprint-cli.log"
        with path.open("a") as fh:
            fh.write(redact(traceback.format_exc()) + "\n")
        return str(path)
    except OSError:
        return None


def run_app(app: Callable[[], object]) -> None:
    """Call the Typer app; turn any escaping exception into one line on stderr and an exit code."""
    from warehouse.connection import WarehouseError

    try:
        app()
    except CliError as err:
        print(error_line(str(err)), file=sys.stderr)
        sys.exit(err.exit_code)
    except WarehouseError as err:
        print(error_line(str(err)), file=sys.stderr)
        sys.exit(EXIT_ENVIRONMENT)
    except KeyboardInterrupt:
        print("footprint: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        if debug_enabled():
            traceback.print_exc()
        where = _log_traceback()
        hint = f"traceback in {where}; " if where else ""
        print(
            error_line(f"unexpected {type(err).__name__}: {err}")
            + f" ({hint}re-run as `footprint --debug ...` to print it)",
            file=sys.stderr,
        )
        sys.exit(EXIT_UNEXPECTED)
