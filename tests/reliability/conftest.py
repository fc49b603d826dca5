"""The reliability suite reuses the annotation stage's fixtures: the real Label Studio server
(session-scoped, on loopback), a unique project per test and the in-process annotation pipeline.

(A session fixture imported into two conftests is two fixtures: when tests/labeling and this suite run
in one session, the second server takes a fresh data dir. Moving `labelstudio_server` to
tests/conftest.py, as its docstring plans, would share one.)
"""

from __future__ import annotations

from tests.labeling.conftest import (  # noqa: F401  (pytest finds fixtures by name here)
    AnnotationPipeline,
    LiveLabelStudio,
    labelstudio_server,
    pipeline,
    project_title,
)
