#!/usr/bin/env bash
# Download Argo CD's Application, ApplicationSet and AppProject CRDs of the release
# argocd/kustomization.yaml installs into .cache/argocd-crds/<version>/, where
# tests/test_multi_cluster.py validates the multi-cluster examples against them. They are
# Argo CD's files (Apache-2.0), not this repository's, so they are fetched, not committed;
# this needs a network that reaches GitHub (the project's CI machines have none, and the test
# skips there saying so). KFKRM_ARGOCD_CRDS=DIR points the test at a copy elsewhere.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
version=$(grep -o 'argoproj/argo-cd/v[0-9.]*/' "$ROOT/argocd/kustomization.yaml" | cut -d/ -f3)
out=$ROOT/.cache/argocd-crds/$version
mkdir -p "$out"
for crd in application applicationset appproject; do
  curl -fsSL -o "$out/$crd-crd.yaml.tmp" \
    "https://raw.githubusercontent.com/argoproj/argo-cd/$version/manifests/crds/$crd-crd.yaml"
  mv "$out/$crd-crd.yaml.tmp" "$out/$crd-crd.yaml"
done
echo "$out"
