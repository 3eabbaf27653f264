# One image, every kfkrm function; entrypoint `kfkrm` dispatches on the functionConfig.
# Runs as nobody, with no network and a read-only root filesystem (what kustomize and kpt
# pass); nothing writes outside /tmp.
#
#   docker build -t kfkrm .                                   # python:3.11 slim bookworm base
#   docker build --build-arg BASE=localhost/my-python:3.11 .  # any Debian-like Python 3.9+ image
#
# Supply chain: every base image is pinned by digest (the tag is only for readers), pip
# installs only hash-pinned wheels (--require-hashes; the hashes come from
# `python3 scripts/lock-hashes.py`), and .dockerignore keeps the build context to what the
# build copies. To move a base image to a newer build, resolve its tag to the digest of its
# multi-platform index and paste both here:
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm --format '{{json .Manifest.Digest}}'
#   (or: skopeo inspect --raw docker://docker.io/library/python:3.11.11-slim-bookworm | sha256sum)
# tests/test_supply_chain.py checks that every image stays pinned this way.
ARG BASE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
# Only for the argocd-cmp target below (FROM may only use ARGs declared before the first FROM).
# v2.13.1: the 2.13 release whose index digest could be verified (Argo CD's operator pins it);
# the sidecar takes only its kustomize binary.
ARG ARGOCD_IMAGE=quay.io/argoproj/argocd:v2.13.1@sha256:19608c266cc41e4986d9b1c2b79ea4c42bb9430269eefc5005e9d65be4d22868

FROM ${BASE} AS build
ARG PIP_CERT=
WORKDIR /src
COPY requirements.lock requirements-build.lock pyproject.toml README.md ./
COPY functions ./functions
# Pinned wheels only, each checked against its hash in the lock (PyYAML with its libyaml C
# extension, pydantic-core): no compiler, nothing the locks do not name.
RUN set -eu; [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    python3 -m venv /opt/kfkrm; \
    /opt/kfkrm/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps -r requirements.lock; \
    python3 -m venv /opt/build; \
    /opt/build/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps -r requirements-build.lock; \
    /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation -w /tmp/wheels .; \
    /opt/kfkrm/bin/pip install --no-cache-dir --no-deps /tmp/wheels/kfkrm-*.whl; \
    /opt/kfkrm/bin/python -c "import yaml; assert yaml.__with_libyaml__, 'PyYAML without libyaml'"; \
    /opt/kfkrm/bin/python -m compileall -q /opt/kfkrm

FROM ${BASE} AS function
COPY --from=build /opt/kfkrm /opt/kfkrm
ENV PATH=/opt/kfkrm/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
USER 65534:65534
WORKDIR /tmp
ENTRYPOINT ["/opt/kfkrm/bin/kfkrm"]

# Argo CD config-management plugin sidecar (argocd/README.md): kfkrm's venv, the generate
# script, kfkrm-docker as `docker`, and a kustomize binary. No registry reachable from CI
# ships a standalone kustomize, so it is copied from the official Argo CD image; name the
# one your repo-server runs:
#   docker build --target argocd-cmp --build-arg ARGOCD_IMAGE=quay.io/argoproj/argocd:v2.13.3@sha256:<digest> \
#     -t kfkrm-argocd-cmp .
# Runs as 999 (Argo CD's user, which its sidecars must use); argocd-cmp-server, the
# entrypoint, comes from the repo-server's shared volume (argocd/repo-server-patch.yaml).
FROM ${ARGOCD_IMAGE} AS argocd

FROM ${BASE} AS argocd-cmp
COPY --from=build /opt/kfkrm /opt/kfkrm
COPY --from=argocd /usr/local/bin/kustomize /usr/local/bin/kustomize
COPY argocd/generate.sh /opt/kfkrm/argocd/generate.sh
RUN mkdir /opt/kfkrm/docker-stand-in && ln -s /opt/kfkrm/bin/kfkrm-docker /opt/kfkrm/docker-stand-in/docker \
    && /usr/local/bin/kustomize version >/dev/null
ENV PATH=/opt/kfkrm/docker-stand-in:/opt/kfkrm/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
USER 999:999
WORKDIR /tmp

# `docker build .` without --target builds the last stage: keep that the function image
# (BuildKit and podman skip the Argo CD stages it does not need).
FROM function AS default
