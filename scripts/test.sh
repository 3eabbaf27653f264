#!/usr/bin/env bash
# The test suite, with everything it needs installed first.
# Container tests run when a container engine can be set up (podman is installed and
# configured when missing); under CI=true they are required. What it installs on the
# system (Debian packages, as root) it says first, with why; apt's, debootstrap's and the
# image build's output go to .cache/container-setup.log (the last lines shown on failure).
# KFKRM_CONTAINERS=skip leaves the system alone and skips the container tests.
#
# The whole suite runs on pytest-xdist workers, one per core (`-n auto`), each test file on
# one worker (`--dist loadfile`: a file's own caches stay in one process); renders several
# files read are made once per run for every worker (tests/render_cache.py). With a
# selection (`-k`, a file or a test id) it runs in one process, which starts faster for
# a quick loop. KFKRM_TEST_WORKERS=N (0: no workers) or your own `-n`/`-p no:xdist` decide
# instead.
#
#   scripts/test.sh [pytest arguments]
set -euo pipefail
case "${1:-}" in
  -h|--help)  # our own help, before anything is installed
    cat <<'HELP'
usage: scripts/test.sh [pytest arguments]

Creates .venv with the pinned Python packages (scripts/bootstrap.sh --test), sets up a
container engine and the kfkrm image for the container tests (scripts/container-setup.sh:
podman from Debian packages when no docker engine runs; it says what it installs first),
then runs pytest with the arguments given (default: every test).

  scripts/test.sh -x -q tests/test_build.py     one file
  KFKRM_CONTAINERS=skip scripts/test.sh ...     leave the system alone; container tests skip
  CI=true scripts/test.sh                       container tests required (.ci/run)
  KFKRM_UPDATE_GOLDEN=1 scripts/test.sh tests/test_examples.py   rewrite the golden outputs

pytest's own options: .venv/bin/python -m pytest --help (once .venv exists).
HELP
    exit 0
    ;;
esac
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
workers=${KFKRM_TEST_WORKERS:-}
for arg in "$@"; do
  case "$arg" in
    -n | -n?* | --numprocesses* | --dist* | no:xdist | -pno:xdist) workers=own ;;  # the caller decides
    -k | -k?*) [ -n "$workers" ] || workers=0 ;;
    -*) ;;
    *) if [ -z "$workers" ] && [ -e "${arg%%::*}" ]; then workers=0; fi ;;
  esac
done
case "${workers:-auto}" in
  own) set -- "$@" ;;
  0) set -- -p no:xdist "$@" ;;
  *) set -- -n "${workers:-auto}" --dist loadfile --no-loadscope-reorder "$@" ;;
esac
# kustomize and kpt (Go) render whole releases hundreds of times here. Go's default GC
# target (GOGC=100) spends a third of their CPU collecting; 400 halves that for about twice
# the peak memory (v1.10: 320 MB -> 620 MB), and changes nothing in what they print.
export GOGC="${GOGC:-400}"
phase "3/3: the tests (pytest $*)"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
