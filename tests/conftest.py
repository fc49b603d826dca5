"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse.home import ENV_HOME, FootprintHome

# Fixtures with a real Label Studio server (session-scoped: one server for the whole run).
pytest_plugins = ["tests.labelstudio_fixtures"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FootprintHome]:
    """A fresh FOOTPRINT_HOME in a temp dir, also exported to subprocesses via the environment."""
    root = tmp_path / "fp-home"
    monkeypatch.setenv(ENV_HOME, str(root))
    yield FootprintHome.resolve(root).ensure()
