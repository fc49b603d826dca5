"""Label Studio in its OWN virtualenv (its pins clash with the project's: pyarrow<25, pytz<2023,
Django<5.3). `ensure_venv` is idempotent (a stamp file names the installed spec) and safe to call
from several processes at once (a file lock serializes installers). Called by
`scripts/labelstudio-install.sh`, `footprint labelstudio install|up` and the test fixture.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ENV_VENV = "FOOTPRINT_LABELSTUDIO_VENV"
LABEL_STUDIO_SPEC = "label-studio>=1.23,<1.24"  # 1.23.x: the API this package was tested against


class ServerError(RuntimeError):
    """The local Label Studio server could not be installed, started or stopped."""


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_venv(venv: Path, *, python: str | None = None, quiet: bool = True) -> Path:
    """Create `venv` and pip-install Label Studio into it unless already done. Returns the
    `label-studio` executable. Safe to call concurrently (a file lock serializes installers)."""
    exe = venv / "bin" / "label-studio"
    stamp = venv / ".footprint-installed"
    if exe.exists() and stamp.exists() and stamp.read_text().strip() == LABEL_STUDIO_SPEC:
        return exe
    with _file_lock(venv.parent / f".{venv.name}.lock"):
        if exe.exists() and stamp.exists() and stamp.read_text().strip() == LABEL_STUDIO_SPEC:
            return exe
        base = python or getattr(sys, "_base_executable", None) or sys.executable
        steps = [
            [base, "-m", "venv", str(venv)],
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                *(["-q"] if quiet else []),
                LABEL_STUDIO_SPEC,
            ],
        ]
        for cmd in steps:
            if cmd[1:3] == ["-m", "venv"] and (venv / "bin" / "python").exists():
                continue
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout)[-2000:]
                raise ServerError(
                    f"installing Label Studio into {venv} failed ({' '.join(cmd[-3:])}):\n{tail}\n"
                    f"Fix the error above, or point ${ENV_VENV} at an existing Label Studio venv."
                )
        stamp.write_text(LABEL_STUDIO_SPEC + "\n")
    return exe
