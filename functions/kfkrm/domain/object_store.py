"""The object store Kubeflow Pipelines bundles (minio up to KFP 2.14, SeaweedFS from KFP 2.15,
whatever S3 server a later release ships), found by evidence, and the names KFP reaches it by.

KFP does not discover its store: it addresses it by fixed names. The UI's `MINIO_HOST`
defaults to the Service `minio-service`; the API server and KFP v2's launcher fall back on
the service-link variables Kubernetes derives from that Service (`MINIO_SERVICE_SERVICE_HOST`,
`_PORT`); the v2 launcher's default credentials, and the Secret the profile controller copies
(or, from KFP 2.15, creates per namespace) into every profile namespace, are
`mlpipeline-minio-artifact`. KFP 2.15 keeps that Service for its SeaweedFS ("backwards
compatibility": `minio-service` selects `app: seaweedfs`, port 9000 to SeaweedFS's S3 port
8333). So the bundled store is whatever workload a Service named `minio-service` selects,
whatever its image: a minio server, a SeaweedFS server, or the next one. From it come, like
RemoveArgo does for Argo: the Services selecting its pods, the PersistentVolumeClaims and
Secrets its pods use (env, envFrom, volumes), its own ServiceAccount, the DestinationRules
whose host is one of its Services, and the policies (Istio's AuthorizationPolicy/
PeerAuthentication/RequestAuthentication/Sidecar/EnvoyFilter/Telemetry, NetworkPolicy,
PodDisruptionBudget) whose workload selector picks its pods and no other workload's. A claim,
Secret or ServiceAccount another workload uses is kept with a warning (except the credentials
Secret, whose KFP users the caller rewrites).
A minio server no `minio-service` selects is not KFP's: kept, with a warning. A `minio-service`
that selects no workload in the input leaves the store unidentified (`unidentified`): the
caller must not claim there is nothing to remove while KFP still addresses it."""

from __future__ import annotations

from ..runtime.podtemplates import has_pod_template, pod_template
from .bundled import Bundled, find_behind, image_repository_name

KFP_MINIO_SERVICE = "minio-service"
KFP_MINIO_SECRET = "mlpipeline-minio-artifact"
MINIO_SCHEME = "minio://"
# EnterprisePolicy forbid terms for the bundled store: its names in every Kubeflow release
# (minio up to KFP 2.14; SeaweedFS in KFP 2.15, kubeflow/pipelines manifests/kustomize/third-party/seaweedfs).
FORBID_TERMS = (
    {"group": "apps", "kind": "Deployment", "name": "minio"},
    {"group": "core", "kind": "Service", "name": KFP_MINIO_SERVICE},
    {"group": "core", "kind": "Secret", "name": KFP_MINIO_SECRET},
    {"group": "core", "kind": "PersistentVolumeClaim", "name": "minio-pvc"},
    {"group": "apps", "kind": "Deployment", "name": "seaweedfs"},
    {"group": "core", "kind": "Service", "name": "seaweedfs"},
    {"group": "core", "kind": "PersistentVolumeClaim", "name": "seaweedfs-pvc"},
)

BundledStore = Bundled


def is_minio_server(item) -> bool:
    """A workload running a minio server: a container whose image is `.../minio` and whose
    command or arguments say `server`."""
    if not has_pod_template(item) or (item.raw is not None and "minio" not in item.raw):
        return False
    template = pod_template(item)
    if template is None:
        return False
    for _, container in template.containers():
        words = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        if image_repository_name(container.get("image") or "") == "minio" and "server" in words:
            return True
    return False


def find_bundled_store(items: list) -> BundledStore:
    addressed = [
        (i.namespace, i.name) for i in items if i.kind == "Service" and i.group == "" and i.name == KFP_MINIO_SERVICE
    ]
    found = find_behind(items, addressed, "object store", "Kubeflow Pipelines")
    for server in (i for i in items if has_pod_template(i)):
        if server not in found.servers and is_minio_server(server):
            found.warnings.append(
                (
                    server,
                    f"runs a minio server, but no Service {KFP_MINIO_SERVICE} selects it: "
                    "not the store Kubeflow Pipelines bundles; kept",
                )
            )
    return found


def addresses_in(text: str, found: BundledStore) -> list[str]:
    """The removed store's Service addresses and Secret names that `text` mentions."""
    hits = sorted({a for a in found.addresses if a in text})
    hits += sorted({name for _, name in found.secrets if name in text})
    if MINIO_SCHEME in text:
        hits.append(MINIO_SCHEME)
    return hits
