#!/usr/bin/env bash
# The test suite, with everything it needs installed first.
# Container tests run when a container engine can be set up (podman is installed and
# configured when missing); under CI=true they are required.
#
#   scripts/test.sh [pytest arguments]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" --test
if [ "${KFKRM_CONTAINERS:-auto}" != "skip" ]; then
  if env_lines=$("$ROOT/scripts/container-setup.sh"); then
    eval "$env_lines"
  elif [ "${CI:-}" = "true" ]; then
    echo "test: CI=true needs a container engine, and setting one up failed" >&2
    exit 1
  else
    echo "test: no container engine could be set up; container tests will skip" >&2
  fi
fi
exec "$ROOT/.venv/bin/python" -m pytest "$@"
