"""Where all state lives: one directory, `$FOOTPRINT_HOME` (default `./var`).

Nothing here runs at import time; callers ask for paths when they need them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "FOOTPRINT_HOME"
DEFAULT_HOME = "var"


@dataclass(frozen=True)
class FootprintHome:
    """The state directory and the well-known places inside it."""

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> FootprintHome:
        """`root` if given, else `$FOOTPRINT_HOME`, else `./var` (made absolute)."""
        chosen = root if root is not None else os.environ.get(ENV_HOME) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def pending_dir(self) -> Path:
        """Fact batches written by steps and not yet merged into the warehouse."""
        return self.root / "facts" / "pending"

    @property
    def loaded_dir(self) -> Path:
        """Batches already merged (kept for audit / re-load; safe to delete)."""
        return self.root / "facts" / "loaded"

    @property
    def uploaded_dir(self) -> Path:
        """Spooled batches already uploaded to a remote store (`warehouse.store`), kept a while so that
        this host's steps can price their own ticks without reading the store."""
        return self.root / "facts" / "uploaded"

    @property
    def quarantine_dir(self) -> Path:
        """Batches that could not be read; each has a `REASON.txt` beside its files."""
        return self.root / "facts" / "quarantine"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def labelstudio_dir(self) -> Path:
        return self.root / "labelstudio"

    def ensure(self) -> FootprintHome:
        """Create the state directories with owner-only permissions (0700)."""
        for path in (
            self.root,
            self.root / "facts",
            self.pending_dir,
            self.loaded_dir,
            self.uploaded_dir,
            self.quarantine_dir,
            self.artifacts_dir,
            self.reports_dir,
            self.cache_dir,
        ):
            make_private_dir(path)
        return self


def make_private_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 (also tightens an existing directory we own)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # not ours: leave it, the owner decided
        path.chmod(0o700)
    return path
