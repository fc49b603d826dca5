#!/usr/bin/env bash
# System packages the test suites drive for real: Debian's chromium for the browser test (Playwright
# launches /usr/bin/chromium; no `playwright install` download) and Debian's postgresql for the
# local stack and the distributed tests (server binaries in /usr/lib/postgresql/*/bin; no service is
# started: scripts/stack.sh and the test fixtures run their own clusters). Idempotent: does nothing
# when both are present.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-system-deps: missing ${missing[*]} and apt-get is not available;" \
       "install them by hand (Chromium at $CHROMIUM; PostgreSQL server binaries)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "ci-system-deps: not root and no sudo: run 'apt-get install -y ${missing[*]}' as root" >&2
    exit 1
  fi
fi
echo "ci-system-deps: installing Debian ${missing[*]} (about 30 s each)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" chromium "* ]]; then "$CHROMIUM" --version; fi
if [[ " ${missing[*]} " == *" postgresql "* ]]; then ls -d /usr/lib/postgresql/*/bin; fi
