#!/usr/bin/env bash
# Re-render the embedded upstream Kubeflow streams (upstream/kubeflow/<release>/all.yaml)
# from github.com/kubeflow/manifests and rewrite their PROVENANCE files.
#
#   scripts/refresh-upstream.sh [RELEASE=TAG ...]     # default: v1.3.0=v1.3.0 v1.7.0=v1.7.0 v1.10=v1.10.0
#   scripts/refresh-upstream.sh v1.11=v1.11.0         # add a release (then add it to the tests' VERSIONS)
#
# NEEDS NETWORK (git clone from github.com): it cannot run on the project's CI or
# development machines, which reach only the package registries. Run it where GitHub is
# reachable and commit the result; tests/test_upstream.py then checks each file against
# the sha256 in its PROVENANCE. For every release: a shallow clone of the tag, the render
# `kubectl kustomize example` (the command upstream's README documents), kustomize's
# version as kubectl reports it, the object count and the sha256.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCE=https://github.com/kubeflow/manifests
[ $# -gt 0 ] || set -- v1.3.0=v1.3.0 v1.7.0=v1.7.0 v1.10=v1.10.0
command -v git >/dev/null || { echo "refresh-upstream: git is needed" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "refresh-upstream: kubectl is needed (its kustomize renders)" >&2; exit 1; }
kustomize_version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for pair in "$@"; do
  release=${pair%%=*} tag=${pair#*=}
  dest=$ROOT/upstream/kubeflow/$release
  echo "refresh-upstream: $release: cloning $SOURCE at $tag" >&2
  git clone -q --depth 1 --branch "$tag" "$SOURCE" "$work/$release" 2>"$work/clone.log" || {
    cat "$work/clone.log" >&2
    echo "refresh-upstream: cannot clone $SOURCE at $tag (no network here?)" >&2
    exit 1
  }
  commit=$(git -C "$work/$release" rev-parse HEAD)
  echo "refresh-upstream: $release: kubectl kustomize example" >&2
  mkdir -p "$dest"
  (cd "$work/$release" && kubectl kustomize example) >"$dest/all.yaml.new"
  mv "$dest/all.yaml.new" "$dest/all.yaml"
  cp "$work/$release/LICENSE" "$ROOT/upstream/kubeflow/LICENSE"
  sha=$(sha256sum "$dest/all.yaml" | cut -d' ' -f1)
  objects=$(grep -c '^kind:' "$dest/all.yaml" || true)
  cat >"$dest/PROVENANCE" <<PROV
# Where upstream/kubeflow/$release/all.yaml comes from. scripts/refresh-upstream.sh rewrites this
# file; tests/test_upstream.py checks that the sha256 matches the file.
source: $SOURCE
ref: $tag
commit: $commit
license: Apache-2.0 (upstream/kubeflow/LICENSE, copied from the same repository)
render: kubectl kustomize example
kustomize: $kustomize_version
file: all.yaml
objects: $objects
sha256: $sha
verified: rendered by scripts/refresh-upstream.sh on $(date -u +%Y-%m-%d)
PROV
  [ -f "$dest/kustomization.yaml" ] || sed "s/RELEASE/$release/" >"$dest/kustomization.yaml" <<'KUST'
# Upstream Kubeflow RELEASE, rendered once from github.com/kubeflow/manifests (see PROVENANCE),
# so that a kustomization can use it as a base with no network and no upstream checkout.
# fifo keeps the stream in upstream's own order when this directory is rendered by itself
# (kustomize honours sortOptions only in the top-level kustomization).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
sortOptions:
  order: fifo
resources:
- all.yaml
KUST
  echo "refresh-upstream: $release: $objects objects, sha256 $sha" >&2
done
