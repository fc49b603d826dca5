#!/usr/bin/env bash
# Prepare the local Dagster instance under $DAGSTER_HOME (sourced by dev.sh and demo.sh):
# SQLite run/event/schedule storage (Dagster's default), one run at a time (2-core machines;
# training saturates them), no telemetry (no network here). Owner-only directories.
mkdir -p "$DAGSTER_HOME"
chmod 700 "$FOOTPRINT_HOME" "$DAGSTER_HOME"
if [ ! -f "$DAGSTER_HOME/dagster.yaml" ]; then
  cat >"$DAGSTER_HOME/dagster.yaml" <<YAML
storage:
  sqlite:
    base_dir:
      env: DAGSTER_HOME
run_queue:
  max_concurrent_runs: 1
telemetry:
  enabled: false
YAML
fi
