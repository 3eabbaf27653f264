#!/usr/bin/env bash
# The test suite, with everything it needs installed first.
# Container tests run when a container engine can be set up (podman is installed and
# configured when missing); under CI=true they are required. What it installs on the
# system (Debian packages, as root) it says first, with why; apt's, debootstrap's and the
# image build's output go to .cache/container-setup.log (the last lines shown on failure).
# KFKRM_CONTAINERS=skip leaves the system alone and skips the container tests.
#
#   scripts/test.sh [pytest arguments]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
phase() { if [ -t 2 ]; then echo "test: $*" >&2; fi; }
phase "set-up 1/3: .venv with the pinned Python packages (scripts/bootstrap.sh --test)"
"$ROOT/scripts/bootstrap.sh" --test
if [ "${KFKRM_CONTAINERS:-auto}" != "skip" ]; then
  phase "set-up 2/3: a container engine and the kfkrm image (scripts/container-setup.sh)"
  if env_lines=$("$ROOT/scripts/container-setup.sh"); then
    eval "$env_lines"
  elif [ "${CI:-}" = "true" ]; then
    echo "test: CI=true needs a container engine, and setting one up failed" >&2
    exit 1
  else
    echo "test: no container engine could be set up; container tests will skip" >&2
  fi
fi
phase "3/3: the tests (pytest)"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
