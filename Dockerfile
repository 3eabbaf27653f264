# One image, every kfkrm function; entrypoint `kfkrm` dispatches on the functionConfig.
# Runs as nobody, with no network and a read-only root filesystem (what kustomize and kpt
# pass); nothing writes outside /tmp.
#
#   docker build -t kfkrm .                                   # python:3.11-slim base
#   docker build --build-arg BASE=localhost/my-python:3.11 .  # any Debian-like Python 3.9+ image
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG PIP_CERT=
WORKDIR /src
COPY requirements.lock requirements-build.lock pyproject.toml README.md ./
COPY functions ./functions
# Pinned wheels only (PyYAML with its libyaml C extension, pydantic-core): no compiler.
RUN set -eu; [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    python3 -m venv /opt/kfkrm; \
    /opt/kfkrm/bin/pip install --no-cache-dir --only-binary=:all: --no-deps -r requirements.lock; \
    python3 -m venv /opt/build; \
    /opt/build/bin/pip install --no-cache-dir --no-deps -r requirements-build.lock; \
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
