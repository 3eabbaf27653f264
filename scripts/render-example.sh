#!/usr/bin/env bash
# The README's first command: `kfkrm build` over a kustomization-examples environment, with
# no container engine and no network (the examples' base is the upstream render embedded
# in upstream/kubeflow). Creates .venv first if needed. The rendered manifests go to
# stdout; kustomize's messages, each function's summary and the table of every warning and
# error go to stderr; exit 1 on any error.
#
#   scripts/render-example.sh [DIR]        # default: kustomization-examples/v1.3/envs/dev
#
# DIR can be any kustomization: this is `.venv/bin/kfkrm build DIR`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-$ROOT/kustomization-examples/v1.3/envs/dev}
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/kfkrm" build "$TARGET"
