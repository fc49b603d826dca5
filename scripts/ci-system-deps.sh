#!/usr/bin/env bash
# System packages the test suites drive for real: Debian's chromium for the browser test (Playwright
# launches /usr/bin/chromium; no `playwright install` download). Idempotent: does nothing when present.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-system-deps: $CHROMIUM is missing and apt-get is not available;" \
       "install a Chromium at $CHROMIUM by hand (the browser tests will skip without it)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "ci-system-deps: not root and no sudo: run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
fi
echo "ci-system-deps: installing Debian chromium (about 30 s)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
"$CHROMIUM" --version
