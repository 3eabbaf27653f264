#!/usr/bin/env bash
# Create .venv with kfkrm and its pinned dependencies (and pytest with --test).
# Prints nothing but errors; safe to run again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${KFKRM_VENV:-$ROOT/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.kfkrm-installed"
want=$(cat "$ROOT/requirements.lock" "$ROOT/requirements-test.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)$*
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/pip" install -q -r "$ROOT/requirements.lock"
  [ "${1:-}" = "--test" ] && "$VENV/bin/pip" install -q -r "$ROOT/requirements-test.lock"
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
  echo "$want" > "$stamp"
fi
