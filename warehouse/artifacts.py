"""Artifact handles: what a materialization produced, handed from an asset to its downstream so that
lineage names the exact upstream materialization consumed, never "the latest"."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ArtifactHandle:
    asset_key: str
    materialization_id: str
    path: str
    bytes: int
    rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local_path(self) -> Path:
        return Path(self.path)


def tree_bytes(path: Path) -> int:
    """Bytes held by a file, or by every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
