#!/usr/bin/env bash
# A venv with CodeCarbon only, for the side-by-side accounting benchmark (bench/bench_accounting.py).
# Bench-only: CodeCarbon never enters the project's environment. Idempotent; about a minute the first
# time. Usage: scripts/codecarbon-venv.sh [DIR]   (default .venv-codecarbon; prints its python)
set -euo pipefail
DIR="${1:-.venv-codecarbon}"
CODECARBON_VERSION="3.3.2"  # pinned: the figure is compared across runs
PY="${PYTHON:-python3}"
if [ -x "$DIR/bin/python" ] && "$DIR/bin/python" -c "import codecarbon, sys; sys.exit(codecarbon.__version__ != '$CODECARBON_VERSION')" 2>/dev/null; then
  echo "$DIR/bin/python"
  exit 0
fi
"$PY" -m venv "$DIR" >&2
"$DIR/bin/python" -m pip install --quiet --disable-pip-version-check "codecarbon==$CODECARBON_VERSION" >&2
echo "$DIR/bin/python"
