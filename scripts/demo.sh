#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults (a DuckDB file, a local Label Studio, a local
# Dagster instance, all under $FOOTPRINT_HOME), then the footprint table.
set -euo pipefail
cd "$(dirname "$0")/.."
export FOOTPRINT_HOME="${FOOTPRINT_HOME:-$PWD/var}"
export DAGSTER_HOME="$FOOTPRINT_HOME/dagster"
export HF_HOME="${HF_HOME:-$FOOTPRINT_HOME/cache/huggingface}"
mkdir -p "$FOOTPRINT_HOME"
source scripts/dagster-home.sh
BIN=.venv/bin
exec $BIN/python -m pipelines.demo "$@"
