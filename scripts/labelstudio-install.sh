#!/usr/bin/env bash
# Pre-install Label Studio (1.23.x) into its OWN virtualenv (its pins clash with ours). Idempotent:
# a stamp file makes a second run instant. About 85 s and 1 GB the first time.
# Where: $FOOTPRINT_LABELSTUDIO_VENV if set; else $FOOTPRINT_TEST_CACHE/labelstudio/venv when a test
# cache is set (scripts/test.sh sets it; the test fixture looks there); else
# $FOOTPRINT_HOME/labelstudio/venv (default ./var/labelstudio/venv, used by `footprint labelstudio up`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${FOOTPRINT_LABELSTUDIO_VENV:-}" ]; then
  venv="$FOOTPRINT_LABELSTUDIO_VENV"
elif [ -n "${FOOTPRINT_TEST_CACHE:-}" ]; then
  venv="$FOOTPRINT_TEST_CACHE/labelstudio/venv"
else
  venv="${FOOTPRINT_HOME:-$PWD/var}/labelstudio/venv"
fi
PY="${PY:-.venv/bin/python}"
"$PY" -c 'import sys; from pathlib import Path; from labeling.install import ensure_venv; print("Label Studio:", ensure_venv(Path(sys.argv[1]).resolve()))' "$venv"
