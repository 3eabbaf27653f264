"""Where Kubeflow's own code falls back to the namespace `kubeflow` at run time.

Rewriting manifests cannot reach a default compiled into a controller: when the manifests
do not set the flag or env var that overrides it (or the code has none), the component
keeps looking for `kubeflow` after a relocation. Each entry names the component, how to
recognise it in a render (its image and version), what overrides the default, and the
upstream line that proves it. docs/functions/namespace-relocation.md lists the same
entries with links; keep the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Optional

from .images import parse_reference

KUBEFLOW = "kubeflow"  # the namespace every entry below defaults to

_KF = "https://github.com/kubeflow/kubeflow/blob"
_KFP = "https://github.com/kubeflow/pipelines/blob"
_KATIB = "https://github.com/kubeflow/katib/blob"

KFP_LAUNCHER_MINIO_KEY = "namespace-relocation/kfp-launcher-minio"
_KFP_API = ("*ml-pipeline/api-server", "*/kfp-api-server")


@dataclass(frozen=True)
class RuntimeDefault:
    component: str
    images: tuple  # image repository globs (any registry) of the container that carries it
    default: str  # what the code uses when nothing overrides it
    evidence: str  # the upstream line
    override: Optional[str] = None  # "env:NAME" or "arg:--flag": what the manifests could set; None: nothing
    since: Optional[tuple] = None  # first version (of the image tag) with this code
    until: Optional[tuple] = None  # first version without it
    key: Optional[str] = None  # the warning's result key, when another setting can resolve it

    def fix(self, new: str) -> str:
        if self.override is None:
            return "nothing in the manifests overrides it; see the docs for the work-around"
        how, name = self.override.split(":", 1)
        value = self.default.replace(KUBEFLOW, new, 1)
        return f"set env {name}={value} on that container" if how == "env" else f"pass {name}={value}"


DEFAULTS = (
    RuntimeDefault(
        "central dashboard (reads its ConfigMap centraldashboard-config)",
        ("*/centraldashboard", "*/central-dashboard"),
        "namespace 'kubeflow'",
        f"{_KF}/v1.7.0/components/centraldashboard/app/k8s_service.ts#L53",
        None,
        None,
        (1, 8, 0),
    ),
    RuntimeDefault(
        "central dashboard (reads its ConfigMap centraldashboard-config)",
        ("*/centraldashboard", "*/central-dashboard"),
        "kubeflow",
        f"{_KF}/v1.10.0/components/centraldashboard/app/k8s_service.ts#L53",
        "env:POD_NAMESPACE",
        (1, 8, 0),
    ),
    RuntimeDefault(
        "profile controller (AuthorizationPolicy admitting the notebook controller in each profile)",
        ("*/profile-controller",),
        "cluster.local/ns/kubeflow/sa/notebook-controller-service-account",
        f"{_KF}/v1.7.0/components/profile-controller/controllers/profile_controller.go#L469",
        None,
        (1, 5, 0),
        (1, 8, 0),
    ),
    RuntimeDefault(
        "profile controller (AuthorizationPolicy admitting the notebook controller in each profile)",
        ("*/profile-controller",),
        "cluster.local/ns/kubeflow/sa/notebook-controller-service-account",
        f"{_KF}/v1.10.0/components/profile-controller/controllers/profile_controller.go#L422",
        "env:NOTEBOOK_CONTROLLER_PRINCIPAL",
        (1, 8, 0),
    ),
    RuntimeDefault(
        "profile controller (AuthorizationPolicy admitting the KFP UI in each profile)",
        ("*/profile-controller",),
        "cluster.local/ns/kubeflow/sa/ml-pipeline-ui",
        f"{_KF}/v1.10.0/components/profile-controller/controllers/profile_controller.go#L430",
        "env:KFP_UI_PRINCIPAL",
        (1, 8, 0),
    ),
    RuntimeDefault(
        "KFAM (AuthorizationPolicy admitting the KFP UI for each contributor)",
        ("*/kfam",),
        "cluster.local/ns/kubeflow/sa/ml-pipeline-ui",
        f"{_KF}/v1.10.0/components/access-management/kfam/bindings.go#L86",
        "env:KFP_UI_PRINCIPAL",
        (1, 8, 0),
    ),
    RuntimeDefault(
        "tensorboard controller (VirtualService of every Tensorboard)",
        ("*/tensorboard-controller",),
        "gateway kubeflow/kubeflow-gateway",
        f"{_KF}/v1.3.0/components/tensorboard-controller/controllers/tensorboard_controller.go#L307",
        None,
        None,
        (1, 6, 0),
    ),
    RuntimeDefault(
        "notebook controller (VirtualService of every notebook)",
        ("*/notebook-controller",),
        "kubeflow/kubeflow-gateway",
        f"{_KF}/v1.10.0/components/notebook-controller/controllers/notebook_controller.go#L511",
        "env:ISTIO_GATEWAY",
    ),
    RuntimeDefault(
        "PVC viewer controller (VirtualService of every PVCViewer)",
        ("*/pvcviewer-controller",),
        "kubeflow/kubeflow-gateway",
        f"{_KF}/v1.10.0/components/pvcviewer-controller/controllers/pvcviewer_controller.go#L57",
        "env:ISTIO_GATEWAY",
    ),
    RuntimeDefault(
        "Katib controller (its katib-config ConfigMap, webhook certificate, DB manager address)",
        ("*/katib-controller",),
        "kubeflow",
        f"{_KATIB}/v0.18.0/pkg/controller.v1beta1/consts/const.go#L160",
        "env:KATIB_CORE_NAMESPACE",
    ),
    RuntimeDefault(
        "Katib UI (its katib-config ConfigMap and namespace list)",
        ("*/katib-ui",),
        "kubeflow",
        f"{_KATIB}/v0.18.0/pkg/controller.v1beta1/consts/const.go#L160",
        "env:KATIB_CORE_NAMESPACE",
    ),
    RuntimeDefault(
        "KFP UI (MinIO address)",
        ("*ml-pipeline/frontend", "*/kfp-frontend"),
        "kubeflow",
        f"{_KFP}/2.5.0/frontend/server/configs.ts#L58",
        "env:MINIO_NAMESPACE",
    ),
    RuntimeDefault(
        "KFP UI (its own namespace)",
        ("*ml-pipeline/frontend", "*/kfp-frontend"),
        "kubeflow",
        f"{_KFP}/2.5.0/frontend/server/configs.ts#L133",
        "env:FRONTEND_SERVER_NAMESPACE",
        (2, 1, 0),
    ),
    RuntimeDefault(
        "KFP viewer controller (the namespace it watches)",
        ("*ml-pipeline/viewer-crd-controller", "*/kfp-viewer-crd-controller"),
        "kubeflow",
        f"{_KFP}/2.5.0/backend/Dockerfile.viewercontroller#L41",
        "env:NAMESPACE",
    ),
    RuntimeDefault(
        "KFP cache server (the namespace it watches)",
        ("*ml-pipeline/cache-server", "*/kfp-cache-server"),
        "kubeflow",
        f"{_KFP}/2.5.0/backend/src/cache/main.go#L76",
        "arg:--namespace_to_watch",
    ),
    RuntimeDefault(
        "KFP v2 driver (MLMD address, in every user namespace)",
        _KFP_API,
        "metadata-grpc-service.kubeflow:8080",
        f"{_KFP}/2.5.0/backend/src/v2/metadata/env.go#L23",
        None,
        (2, 0, 0),
    ),
    RuntimeDefault(
        "KFP v2 driver (cache: KFP API address, in every user namespace)",
        _KFP_API,
        "ml-pipeline.kubeflow:8887",
        f"{_KFP}/2.5.0/backend/src/v2/cacheutils/cache.go#L27",
        None,
        (2, 0, 0),
    ),
    RuntimeDefault(
        "KFP v2 launcher (MinIO address, in every user namespace)",
        _KFP_API,
        "minio-service.kubeflow:9000",
        f"{_KFP}/2.5.0/backend/src/v2/objectstore/config.go#L32",
        None,
        (2, 0, 0),
        key=KFP_LAUNCHER_MINIO_KEY,  # only for a minio:// pipeline root: none left once the bundled minio goes
    ),
    RuntimeDefault(
        "KFP SDK kfp.Client() in notebooks (API address)",
        _KFP_API,
        "ml-pipeline.kubeflow.svc.cluster.local:8888",
        f"{_KFP}/sdk-2.9.0/sdk/python/kfp/client/client.py#L146",
        None,
    ),
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def image_version(tag: Optional[str]) -> Optional[tuple]:
    """(1, 7, 0) from `v1.7.0`, `1.7.0-rc.1`, `2.0.0-alpha.7`; None when the tag is no version."""
    m = _VERSION.match(tag or "")
    return (int(m[1]), int(m[2]), int(m[3] or 0)) if m else None


def applies(entry: RuntimeDefault, image: str) -> bool:
    """Whether the container image `image` is the entry's component, at a version with that code.

    An image whose tag is no version (a digest, `latest`) is taken to have it: a warning
    too many is better than a broken platform unannounced."""
    reference = parse_reference(image)
    if reference is None or not any(fnmatchcase(reference.name, glob) for glob in entry.images):
        return False
    tag = reference.suffix.split("@", 1)[0][1:] if reference.suffix.startswith(":") else None
    version = image_version(tag)
    if version is None:
        return True
    return (entry.since is None or version >= entry.since) and (entry.until is None or version < entry.until)


def overridden(entry: RuntimeDefault, env_names: set, args: list) -> bool:
    """Whether the container sets what overrides the default (env names include envFrom keys)."""
    if entry.override is None:
        return False
    how, name = entry.override.split(":", 1)
    if how == "env":
        return name in env_names
    return any(str(a) == name or str(a).startswith(name + "=") for a in args)
