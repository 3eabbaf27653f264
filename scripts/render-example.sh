#!/usr/bin/env bash
# The main job on the bundled example, with no container engine and no network:
# `kubectl kustomize --enable-alpha-plugins` over a kustomization-examples environment,
# its container functions run in-process by kfkrm's `docker` stand-in (the same mechanism
# as the ArgoCD plugin). The rendered manifests go to stdout, the functions' summaries
# to stderr.
#
#   scripts/render-example.sh [kustomization-examples/v1.3/envs/dev]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-$ROOT/kustomization-examples/v1.3/envs/dev}
"$ROOT/scripts/bootstrap.sh"
SHIM=$(mktemp -d)
trap 'rm -rf "$SHIM"' EXIT
ln -s "$ROOT/.venv/bin/kfkrm-docker" "$SHIM/docker"
if ! kubectl kustomize "$TARGET/../../base" >/dev/null 2>&1 && [ ! -d "$ROOT/../shared/kubeflow" ]; then
  echo "render-example: the example's base points at ../shared/kubeflow, which is not here;" \
       "switch $TARGET/../../base/kustomization.yaml to the upstream URL it lists" >&2
  exit 1
fi
PATH="$SHIM:$PATH" kubectl kustomize --enable-alpha-plugins "$TARGET"
