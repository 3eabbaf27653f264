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

from dataclasses import dataclass, field

from ..runtime.podtemplates import has_pod_template, pod_template
from .labelselector import selector_matches

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

_ISTIO_SELECTOR_PATHS = {
    ("security.istio.io", "AuthorizationPolicy"): ("spec", "selector", "matchLabels"),
    ("security.istio.io", "PeerAuthentication"): ("spec", "selector", "matchLabels"),
    ("security.istio.io", "RequestAuthentication"): ("spec", "selector", "matchLabels"),
    ("telemetry.istio.io", "Telemetry"): ("spec", "selector", "matchLabels"),
    ("networking.istio.io", "Sidecar"): ("spec", "workloadSelector", "labels"),
    ("networking.istio.io", "EnvoyFilter"): ("spec", "workloadSelector", "labels"),
}
_LABEL_SELECTOR_PATHS = {
    ("networking.k8s.io", "NetworkPolicy"): ("spec", "podSelector"),
    ("policy", "PodDisruptionBudget"): ("spec", "selector"),
}


def _dig(obj, path):
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def label_selector_matches(selector, labels: dict) -> bool:
    """Kubernetes LabelSelector semantics, except that an empty or absent selector selects
    nothing here, since a policy for every pod is never minio's own."""
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return selector_matches(selector, labels)


def _match_labels_selects(match, labels: dict) -> bool:
    return isinstance(match, dict) and bool(match) and all(str(labels.get(k)) == str(v) for k, v in match.items())


def image_repository_name(image: str) -> str:
    """The last path component of an image reference, without tag or digest."""
    name = str(image).split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


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


def service_addresses(name: str, namespace: str) -> tuple[str, ...]:
    """Every DNS name a client in the cluster may use for a Service, longest first."""
    return (f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", f"{name}.{namespace}", name)


def _service_account(workload) -> str:
    tpl = pod_template(workload)
    spec = tpl.spec if tpl is not None else {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def _pod_references(spec: dict) -> tuple[set, set]:
    """(Secret names, PersistentVolumeClaim names) a pod spec uses."""
    secrets, claims = set(), set()
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            for env in container.get("env") or []:
                ref = _dig(env, ("valueFrom", "secretKeyRef", "name"))
                if ref:
                    secrets.add(str(ref))
            for source in container.get("envFrom") or []:
                ref = _dig(source, ("secretRef", "name"))
                if ref:
                    secrets.add(str(ref))
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if _dig(volume, ("secret", "secretName")):
            secrets.add(str(volume["secret"]["secretName"]))
        if _dig(volume, ("persistentVolumeClaim", "claimName")):
            claims.add(str(volume["persistentVolumeClaim"]["claimName"]))
    return secrets, claims


@dataclass
class BundledStore:
    """What find_bundled_store found: the objects to remove (with why), warnings on kept
    objects, the names clients address the removed ones by, and the `minio-service` Services
    that select no workload in the input (the store cannot be identified behind them)."""

    remove: dict = field(default_factory=dict)  # id(item) -> (item, why)
    warnings: list = field(default_factory=list)  # (item, message)
    addresses: set = field(default_factory=set)  # Service DNS names, every form
    secrets: set = field(default_factory=set)  # (namespace, name) of removed Secrets
    servers: list = field(default_factory=list)  # the store's workloads
    unidentified: list = field(default_factory=list)  # minio-service Services selecting no workload

    def mark(self, item, why: str) -> None:
        self.remove.setdefault(id(item), (item, why))


def _server_name(workload) -> str:
    """What the store's server runs, for messages: the image's last path component."""
    template = pod_template(workload)
    images = [image_repository_name(c.get("image") or "") for _, c in template.containers()] if template else []
    return images[0] if images else workload.name


def find_bundled_store(items: list) -> BundledStore:
    found = BundledStore()
    workloads = [i for i in items if has_pod_template(i)]
    by_key = {(i.kind, i.namespace, i.name): i for i in items}
    services = [i for i in items if i.kind == "Service" and i.group == ""]
    for svc in (s for s in services if s.name == KFP_MINIO_SERVICE):
        selector = (svc.obj.get("spec") or {}).get("selector")
        picked = [
            w
            for w in workloads
            if w.namespace == svc.namespace
            and pod_template(w) is not None
            and _match_labels_selects(selector, pod_template(w).labels)
        ]
        if not picked:
            found.unidentified.append(svc)
        found.servers += [w for w in picked if w not in found.servers]
    for server in workloads:
        if server not in found.servers and is_minio_server(server):
            found.warnings.append(
                (
                    server,
                    f"runs a minio server, but no Service {KFP_MINIO_SERVICE} selects it: "
                    "not the store Kubeflow Pipelines bundles; kept",
                )
            )
    for server in found.servers:
        template = pod_template(server)
        labels, ns = template.labels, server.namespace
        selecting = [
            s
            for s in services
            if s.namespace == ns and _match_labels_selects((s.obj.get("spec") or {}).get("selector"), labels)
        ]
        found.mark(
            server,
            f"the object store Kubeflow Pipelines bundles ({_server_name(server)}; "
            f"the Service {KFP_MINIO_SERVICE} selects it)",
        )
        for svc in selecting:
            found.mark(svc, "a Service of the bundled object store (selects its pods)")
            found.addresses.update(service_addresses(svc.name, ns))
        others = [w for w in workloads if w not in found.servers and w.namespace == ns]
        secrets, claims = _pod_references(template.spec)
        other_claims = set()
        for other in others:
            tpl = pod_template(other)
            if tpl is not None:
                other_claims |= _pod_references(tpl.spec)[1]
        for claim in sorted(claims):
            pvc = by_key.get(("PersistentVolumeClaim", ns, claim))
            if pvc is None:
                continue
            if claim in other_claims:
                found.warnings.append(
                    (pvc, "the bundled object store's volume claim is also mounted by other workloads; kept")
                )
            else:
                found.mark(pvc, "the bundled object store's data volume claim")
        for name in sorted(secrets):
            secret = by_key.get(("Secret", ns, name))
            if secret is not None:
                found.mark(secret, "the bundled object store's credentials")
                found.secrets.add((ns, name))
        sa_name = _service_account(server)
        sa = by_key.get(("ServiceAccount", ns, sa_name)) if sa_name != "default" else None
        if sa is not None:
            users = [o.ref() for o in others if _service_account(o) == sa_name]
            if users:
                found.warnings.append(
                    (sa, f"the bundled object store's ServiceAccount is also used by {', '.join(users)}; kept")
                )
            else:
                found.mark(sa, "the bundled object store's ServiceAccount")
        _mark_policies(found, items, server, labels, others)
    _mark_destination_rules(found, items)
    return found


def _mark_policies(found: BundledStore, items: list, server, labels: dict, others: list) -> None:
    """Policies whose workload selector picks the minio pods and no other workload's."""
    other_labels = [pod_template(o).labels for o in others if pod_template(o) is not None]
    for item in items:
        if item.namespace != server.namespace:
            continue
        key = (item.group, item.kind)
        if key in _ISTIO_SELECTOR_PATHS:
            selector = _dig(item.obj, _ISTIO_SELECTOR_PATHS[key])
            selects = lambda lab: _match_labels_selects(selector, lab)  # noqa: E731
        elif key in _LABEL_SELECTOR_PATHS:
            selector = _dig(item.obj, _LABEL_SELECTOR_PATHS[key])
            selects = lambda lab: label_selector_matches(selector, lab)  # noqa: E731
        else:
            continue
        if selects(labels) and not any(selects(lab) for lab in other_labels):
            found.mark(
                item, f"{item.kind} whose selector picks the bundled object store's pods and no other workload's"
            )


def _mark_destination_rules(found: BundledStore, items: list) -> None:
    for item in items:
        if item.kind != "DestinationRule" or item.group != "networking.istio.io":
            continue
        if item.raw is not None and not any(a in item.raw for a in found.addresses if "." not in a):
            continue
        host = str((item.obj.get("spec") or {}).get("host") or "")
        # a short name resolves in the rule's own namespace
        full = f"{host}.{item.namespace}" if "." not in host else host
        if full in found.addresses:
            found.mark(item, f"a DestinationRule for the bundled object store's Service ({host})")


def addresses_in(text: str, found: BundledStore) -> list[str]:
    """The removed store's Service addresses and Secret names that `text` mentions."""
    hits = sorted({a for a in found.addresses if a in text})
    hits += sorted({name for _, name in found.secrets if name in text})
    if MINIO_SCHEME in text:
        hits.append(MINIO_SCHEME)
    return hits
