#!/usr/bin/env bash
# Create .venv with kfkrm and its pinned dependencies (and pytest with --test).
# Prints nothing but errors, and one line per phase on a terminal; safe to run again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${KFKRM_VENV:-$ROOT/.venv}
LOG=${KFKRM_CACHE:-$ROOT/.cache}/bootstrap.log
phase() { if [ -t 2 ]; then echo "bootstrap: $*" >&2; fi; }
# pip's own output (and whatever this machine's pip configuration warns about) goes to $LOG;
# on a failure its last lines are shown.
pip_quiet() {
  "$VENV/bin/pip" install -q "$@" >>"$LOG" 2>&1 || {
    echo "bootstrap: pip install $* failed; the last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  }
}
mkdir -p "$(dirname "$LOG")"
if [ ! -x "$VENV/bin/python" ]; then
  phase "creating $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.kfkrm-installed"
want=$(cat "$ROOT/requirements.lock" "$ROOT/requirements-test.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)$*
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  phase "installing the pinned dependencies (requirements.lock) into $VENV"
  : >"$LOG"
  pip_quiet -r "$ROOT/requirements.lock"
  if [ "${1:-}" = "--test" ]; then
    phase "installing the test dependencies (requirements-test.lock)"
    pip_quiet -r "$ROOT/requirements-test.lock"
  fi
  phase "installing kfkrm itself (editable): $VENV/bin/kfkrm"
  pip_quiet --no-deps -e "$ROOT"
  echo "$want" > "$stamp"
fi
