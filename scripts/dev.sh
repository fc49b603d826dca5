#!/usr/bin/env bash
# `make dev`: the Dagster UI on the local instance under $FOOTPRINT_HOME/dagster.
# Ctrl-C stops it (and its code server and daemon children).
set -euo pipefail
cd "$(dirname "$0")/.."
export FOOTPRINT_HOME="${FOOTPRINT_HOME:-$PWD/var}"
export DAGSTER_HOME="$FOOTPRINT_HOME/dagster"
export HF_HOME="${HF_HOME:-$FOOTPRINT_HOME/cache/huggingface}"
# The local demo has no human annotators: simulated ones (labeling/replay.py) label tasks inside the
# `annotations` step. Set FOOTPRINT_SIMULATE_ANNOTATORS=0 when real people annotate.
export FOOTPRINT_SIMULATE_ANNOTATORS="${FOOTPRINT_SIMULATE_ANNOTATORS:-1}"
HOST="${DAGSTER_HOST:-127.0.0.1}"
PORT="${DAGSTER_PORT:-3000}"
BIN="${VENV_BIN:-.venv/bin}"

source scripts/dagster-home.sh

echo "Dagster UI: http://$HOST:$PORT  (DAGSTER_HOME=$DAGSTER_HOME, FOOTPRINT_HOME=$FOOTPRINT_HOME)"
echo "Open the asset graph at http://$HOST:$PORT/asset-groups and click 'Materialize all'; Ctrl-C stops."
# exec: dagster dev becomes this shell's process, so Ctrl-C / SIGTERM reach it and it stops its children.
exec "$BIN/dagster" dev -w workspace.yaml -h "$HOST" -p "$PORT"
