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
#
# The kfkrm image is keyed on its inputs: a hash of everything the build reads (Dockerfile,
# .dockerignore, the locks, pyproject.toml, README.md, functions/, argocd/generate.sh, the
# base image's id) is its tag, localhost/kfkrm:in-HASH; when that image exists the build is
# skipped (KFKRM_IMAGE=NAME tags it NAME too). Keyed images of older inputs are left in
# place (another checkout may be testing with one): `podman rmi localhost/kfkrm:in-OLDHASH`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KFKRM_CACHE:-$ROOT/.cache}
BASE_IMAGE=${KFKRM_BASE_IMAGE:-localhost/kfkrm-python-base:bookworm}
SHIM=$CACHE/docker-shim
LOG=${KFKRM_SETUP_LOG:-$CACHE/container-setup.log}
# Units the podman package enables (and starts, under systemd) on installation; the tests
# run podman directly, daemonless, and need none of them.
PODMAN_UNITS="podman.socket podman.service podman-restart.service podman-auto-update.service podman-auto-update.timer"
log() { echo "container-setup: $*" >&2; }
mkdir -p "$CACHE"
# Noisy tools write to $LOG; on failure their last lines are shown.
logged() {
  echo "+ $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    log "failed: $* (last lines of $LOG below)"
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}
enabled_units() {
  command -v systemctl >/dev/null || return 0
  for unit in $PODMAN_UNITS; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null; then echo "$unit"; fi
  done
}

if docker info >/dev/null 2>&1; then
  log "using the running docker engine"
  ENGINE=docker
else
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    log "about to install the Debian packages podman, runc and debootstrap with apt-get: the container"
    log "  tests need a real engine (podman, running containers with runc) and a Python base image"
    log "  bootstrapped from Debian packages (debootstrap), since no image registry is reachable."
    log "  apt's output goes to $LOG; podman services the package enables are disabled again afterwards."
    if [ "$(id -u)" != 0 ]; then
      log "installing packages needs root; run scripts/test.sh as root, or install podman runc debootstrap yourself"
      exit 1
    fi
    enabled_before=$(enabled_units)
    logged apt-get update -q
    logged env DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap
    for unit in $(enabled_units); do
      case " $enabled_before " in *" $unit "*) continue ;; esac
      if [ -d /run/systemd/system ]; then
        logged systemctl disable --now "$unit"
      else
        logged systemctl disable "$unit"
      fi
      log "disabled $unit (enabled by the podman package; the tests do not need it)"
    done
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
    log "bootstrapping $BASE_IMAGE from Debian packages (about a minute; output in $LOG)"
    logged debootstrap --variant=minbase --include=python3,python3-venv,python3-pip bookworm "$rootfs" "$mirror"
    logged sh -c 'tar -C "$1" -c . | podman import - "$2"' import "$rootfs" "$BASE_IMAGE"
    rm -rf "$rootfs"
  fi
fi

# Everything the build reads (the COPY lines, within .dockerignore), and the base image's id.
inputs_hash() {
  {
    cd "$ROOT"
    sha256sum Dockerfile .dockerignore requirements.lock requirements-build.lock pyproject.toml README.md argocd/generate.sh
    find functions -type f ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
    echo "base $BASE_IMAGE $("$ENGINE" image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)"
  } | sha256sum | cut -c1-16
}
KEYED=localhost/kfkrm:in-$(inputs_hash)
IMAGE=${KFKRM_IMAGE:-$KEYED}
build_args=(--build-arg "BASE=$BASE_IMAGE" -f "$ROOT/Dockerfile")
if [ "$ENGINE" = podman ]; then
  # pip inside the build reaches the package index only through the host network, with
  # the host's CA bundle.
  ca=/etc/ssl/certs/ca-certificates.crt
  build_args+=(--network host)
  [ -f "$ca" ] && build_args+=(-v "$ca:/etc/ssl/host-ca.crt:ro" --build-arg PIP_CERT=/etc/ssl/host-ca.crt)
fi
if "$ENGINE" image inspect "$KEYED" >/dev/null 2>&1; then
  log "$KEYED is up to date with its inputs: not rebuilt"
  [ "$IMAGE" = "$KEYED" ] || logged "$ENGINE" tag "$KEYED" "$IMAGE"
else
  log "building $KEYED (output in $LOG)"
  logged "$ENGINE" build -q "${build_args[@]}" --target function -t "$KEYED" -t "$IMAGE" "$ROOT"
fi
if [ "$ENGINE" = podman ]; then
  echo "export CONTAINERS_CONF=$CONTAINERS_CONF"
  echo "export PATH=$SHIM:\$PATH"
fi
echo "export KFKRM_IMAGE=$IMAGE"
