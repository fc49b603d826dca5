"""The meter's errors: a small typed hierarchy whose messages say what to do."""

from __future__ import annotations


class MeterError(RuntimeError):
    """Misuse of the meter (bad interval, unknown process, window closed twice, ...)."""


class LedgerError(MeterError):
    """The host ledger could not tick (its directory, lock or state); nothing was recorded."""
