"""Fixtures shared by every suite, and the CUDA pin.

CPU tests must not depend on (nor trip over) a GPU the host happens to have: from `pytest_configure`
on, `CUDA_VISIBLE_DEVICES=""` for the test process and every process it starts, so torch sees no CUDA
device (2-rank tests use gloo, "no GPU" assertions hold). Tests marked `gpu` need a real NVIDIA GPU:
they are skipped when NVML lists none, and start their CUDA work in subprocesses with
`host_cuda_env()` (the host's own CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse.home import ENV_HOME, FootprintHome

# Fixtures with a real Label Studio server (session-scoped: one server for the whole run).
pytest_plugins = ["tests.labelstudio_fixtures"]

CUDA_PIN = "CUDA_VISIBLE_DEVICES"
# the host's own value before the pin, JSON (null = unset); kept in the environment so that every
# import of this module (and every test process) reads the same
HOST_CUDA = "FOOTPRINT_TEST_HOST_CUDA_VISIBLE_DEVICES"


def pytest_configure(config: pytest.Config) -> None:
    if HOST_CUDA not in os.environ:
        os.environ[HOST_CUDA] = json.dumps(os.environ.get(CUDA_PIN))
    os.environ[CUDA_PIN] = ""


def pytest_unconfigure(config: pytest.Config) -> None:
    host = host_cuda_visible()
    if host is None:
        os.environ.pop(CUDA_PIN, None)
    else:
        os.environ[CUDA_PIN] = host
    os.environ.pop(HOST_CUDA, None)


def host_cuda_visible() -> str | None:
    """The host's CUDA_VISIBLE_DEVICES before the pin (None: unset)."""
    value = json.loads(os.environ.get(HOST_CUDA, "null"))
    return value if isinstance(value, str) else None


def host_cuda_env(**extra: str) -> dict[str, str]:
    """This environment with the host's own CUDA_VISIBLE_DEVICES (for a `gpu` test's subprocess)."""
    env = {k: v for k, v in os.environ.items() if k not in (CUDA_PIN, HOST_CUDA)}
    host = host_cuda_visible()
    if host is not None:
        env[CUDA_PIN] = host
    env.update(extra)
    return env


def nvidia_gpu_count() -> tuple[int, str]:
    """(GPUs the real NVML lists, why none). NVML ignores CUDA_VISIBLE_DEVICES, so the pin does not hide
    them here; a host whose own CUDA_VISIBLE_DEVICES is empty counts as having none."""
    if host_cuda_visible() == "":
        return 0, "the host's CUDA_VISIBLE_DEVICES is empty"
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as err:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded
        return 0, f"NVML unavailable ({type(err).__name__}: {err})"
    try:
        n = int(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()
    return n, "" if n else "NVML lists no GPU"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    n, why = nvidia_gpu_count()
    if n == 0:
        skip = pytest.mark.skip(reason=f"needs an NVIDIA GPU: {why}")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FootprintHome]:
    """A fresh FOOTPRINT_HOME in a temp dir, also exported to subprocesses via the environment."""
    root = tmp_path / "fp-home"
    monkeypatch.setenv(ENV_HOME, str(root))
    yield FootprintHome.resolve(root).ensure()
