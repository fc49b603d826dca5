#!/usr/bin/env bash
# `make test`: system pieces the suites drive for real (chromium and PostgreSQL from Debian, Label
# Studio in its own venv; SeaweedFS comes with the project's venv), then every test. Suites are marked
# (slow, labelstudio, browser, reliability, multiprocess, distributed) so they can be run apart with
# -m, but this runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE="${PYTHONDONTWRITEBYTECODE:-}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export FOOTPRINT_TEST_CACHE="${FOOTPRINT_TEST_CACHE:-$HOME/.cache/footprint-tests}"
mkdir -p "$FOOTPRINT_TEST_CACHE" test-artifacts
[ -f scripts/ci-system-deps.sh ] && bash scripts/ci-system-deps.sh
[ -f scripts/labelstudio-install.sh ] && bash scripts/labelstudio-install.sh
exec .venv/bin/python -m pytest tests "$@"
