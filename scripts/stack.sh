#!/usr/bin/env bash
# The local stack of real servers on loopback: PostgreSQL (Dagster's instance storage) and SeaweedFS
# (the S3 object store behind FOOTPRINT_STORE). docs/deploy.md.
#   scripts/stack.sh up       start both (idempotent), wait until both answer
#   scripts/stack.sh env      export lines with the store URL, S3 keys and DAGSTER_PG_URL (secrets):
#                             eval "$(scripts/stack.sh env)"
#   scripts/stack.sh status   what runs where (no secrets)
#   scripts/stack.sh down     stop both, wait for their ports to close (data kept)
#   scripts/stack.sh purge    stop both and delete their data, credentials and logs
# State (ports, 0600 credentials, data, logs): $FOOTPRINT_HOME/stack/ (default ./var/stack/).
set -euo pipefail
cd "$(dirname "$0")/.."
export FOOTPRINT_HOME="${FOOTPRINT_HOME:-$PWD/var}"
PY="${PY:-.venv/bin/python}"
exec "$PY" -m pipelines.stack "$@"
