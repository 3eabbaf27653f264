#!/usr/bin/env bash
# Make a real container engine available and build the kfkrm image with it.
#
#   scripts/container-setup.sh            # prints the env to use: eval "$(scripts/container-setup.sh)"
#
# On a machine with a working `docker` engine nothing is installed: the image is built with
# docker. Otherwise podman is installed (Debian packages), configured through
# CONTAINERS_CONF, exposed as `docker` on a PATH folder of ours (kustomize calls `docker`),
# and, because no image registry may be reachable, a Python base image is bootstrapped
# from Debian packages. Idempotent: existing images are reused.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KFKRM_CACHE:-$ROOT/.cache}
BASE_IMAGE=${KFKRM_BASE_IMAGE:-localhost/kfkrm-python-base:bookworm}
IMAGE=${KFKRM_IMAGE:-localhost/kfkrm:dev}
SHIM=$CACHE/docker-shim
log() { echo "container-setup: $*" >&2; }

if docker info >/dev/null 2>&1; then
  log "using the running docker engine"
  ENGINE=docker
else
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    log "installing podman, runc and debootstrap (Debian packages)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >&2
  fi
  export CONTAINERS_CONF=$ROOT/containers/containers.conf
  mkdir -p "$SHIM"
  ln -sf "$(command -v podman)" "$SHIM/docker"
  ENGINE=podman
  if ! podman image exists "$BASE_IMAGE"; then
    mirror=$(grep -h -m1 -o 'URIs: *[^ ]*debian/\?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/URIs: *//')
    [ -n "$mirror" ] || mirror=$(grep -h -m1 -o '^deb [^ ]*' /etc/apt/sources.list 2>/dev/null | head -1 | cut -d' ' -f2)
    [ -n "$mirror" ] || { log "no Debian mirror configured for apt; cannot bootstrap a base image"; exit 1; }
    rootfs=$CACHE/base-rootfs
    rm -rf "$rootfs"
    log "bootstrapping $BASE_IMAGE from Debian packages (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip bookworm "$rootfs" "$mirror" >&2
    tar -C "$rootfs" -c . | podman import - "$BASE_IMAGE" >&2
    rm -rf "$rootfs"
  fi
fi

build_args=(--build-arg "BASE=$BASE_IMAGE" -f "$ROOT/Dockerfile")
if [ "$ENGINE" = podman ]; then
  # pip inside the build reaches the package index only through the host network, with
  # the host's CA bundle.
  ca=/etc/ssl/certs/ca-certificates.crt
  build_args+=(--network host)
  [ -f "$ca" ] && build_args+=(-v "$ca:/etc/ssl/host-ca.crt:ro" --build-arg PIP_CERT=/etc/ssl/host-ca.crt)
fi
log "building $IMAGE"
$ENGINE build -q "${build_args[@]}" --target function -t "$IMAGE" "$ROOT" >&2
if [ "$ENGINE" = podman ]; then
  echo "export CONTAINERS_CONF=$CONTAINERS_CONF"
  echo "export PATH=$SHIM:\$PATH"
fi
echo "export KFKRM_IMAGE=$IMAGE"
