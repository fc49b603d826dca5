"""The browser suite drives the whole graph, whose annotation stage needs the real Label Studio: reuse
the annotation suite's session server fixture (self-contained, meant to move to tests/conftest.py)."""

from __future__ import annotations

from tests.labeling.conftest import LiveLabelStudio, labelstudio_server

__all__ = ["LiveLabelStudio", "labelstudio_server"]
