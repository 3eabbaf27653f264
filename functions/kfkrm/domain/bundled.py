"""A server Kubeflow bundles (an object store, a database), found by evidence: the workloads the
Services its clients address select, whatever their image, and what hangs off them.

From each server come: the Services selecting its pods, the PersistentVolumeClaims and Secrets
its pods use (env, envFrom, volumes; a claim another workload mounts is kept with a warning; the
Secrets are the server's credentials, whose clients the caller rewrites), its own ServiceAccount
(kept with a warning when another workload uses it), the DestinationRules whose host is one of
its Services, and the policies (Istio's AuthorizationPolicy/PeerAuthentication/
RequestAuthentication/Sidecar/EnvoyFilter/Telemetry, NetworkPolicy, PodDisruptionBudget) whose
workload selector picks its pods and no other workload's. A Service the clients address that
selects no workload in the input leaves the server unidentified (`unidentified`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..runtime.podtemplates import has_pod_template, pod_template
from .labelselector import selector_matches

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
    nothing here, since a policy for every pod is never one server's own."""
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return selector_matches(selector, labels)


def match_labels_selects(match, labels: dict) -> bool:
    return isinstance(match, dict) and bool(match) and all(str(labels.get(k)) == str(v) for k, v in match.items())


def image_repository_name(image: str) -> str:
    """The last path component of an image reference, without tag or digest."""
    name = str(image).split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def service_addresses(name: str, namespace: str) -> tuple[str, ...]:
    """Every DNS name a client in the cluster may use for a Service, longest first."""
    return (f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", f"{name}.{namespace}", name)


def service_account(workload) -> str:
    tpl = pod_template(workload)
    spec = tpl.spec if tpl is not None else {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def pod_references(spec: dict) -> tuple[set, set]:
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
class Bundled:
    """What find_behind found: the objects to remove (with why), warnings on kept objects, the
    names clients address the removed ones by, the servers, and the addressed Services that select
    no workload in the input (the server cannot be identified behind them)."""

    what: str = "server"  # for messages: "object store", "database"
    remove: dict = field(default_factory=dict)  # id(item) -> (item, why)
    warnings: list = field(default_factory=list)  # (item, message)
    addresses: set = field(default_factory=set)  # Service DNS names, every form
    secrets: set = field(default_factory=set)  # (namespace, name) of removed Secrets
    servers: list = field(default_factory=list)  # the server workloads
    unidentified: list = field(default_factory=list)  # addressed Services selecting no workload

    def mark(self, item, why: str) -> None:
        self.remove.setdefault(id(item), (item, why))


def server_name(workload) -> str:
    """What a server runs, for messages: its first image's last path component."""
    template = pod_template(workload)
    images = [image_repository_name(c.get("image") or "") for _, c in template.containers()] if template else []
    return images[0] if images else workload.name


def find_behind(items: list, addressed: list, what: str, owner: str) -> Bundled:
    """The servers behind the Services `addressed` ((namespace, name) pairs) and what hangs off
    them. `what` and `owner` word the reasons: "the {what} {owner} bundles"."""
    found = Bundled(what=what)
    workloads = [i for i in items if has_pod_template(i)]
    by_key = {(i.kind, i.namespace, i.name): i for i in items}
    services = [i for i in items if i.kind == "Service" and i.group == ""]
    reasons = {}
    for svc in (s for s in services if (s.namespace, s.name) in addressed):
        selector = (svc.obj.get("spec") or {}).get("selector")
        picked = [
            w
            for w in workloads
            if w.namespace == svc.namespace
            and pod_template(w) is not None
            and match_labels_selects(selector, pod_template(w).labels)
        ]
        if not picked:
            found.unidentified.append(svc)
        for w in picked:
            if w not in found.servers:
                found.servers.append(w)
                reasons[id(w)] = svc.name
    for server in found.servers:
        template = pod_template(server)
        labels, ns = template.labels, server.namespace
        selecting = [
            s
            for s in services
            if s.namespace == ns and match_labels_selects((s.obj.get("spec") or {}).get("selector"), labels)
        ]
        found.mark(
            server,
            f"the {what} {owner} bundles ({server_name(server)}; the Service {reasons[id(server)]} selects it)",
        )
        for svc in selecting:
            found.mark(svc, f"a Service of the bundled {what} (selects its pods)")
            found.addresses.update(service_addresses(svc.name, ns))
        others = [w for w in workloads if w not in found.servers and w.namespace == ns]
        secrets, claims = pod_references(template.spec)
        other_claims = set()
        for other in others:
            tpl = pod_template(other)
            if tpl is not None:
                other_claims |= pod_references(tpl.spec)[1]
        for claim in sorted(claims):
            pvc = by_key.get(("PersistentVolumeClaim", ns, claim))
            if pvc is None:
                continue
            if claim in other_claims:
                found.warnings.append(
                    (pvc, f"the bundled {what}'s volume claim is also mounted by other workloads; kept")
                )
            else:
                found.mark(pvc, f"the bundled {what}'s data volume claim")
        for name in sorted(secrets):
            secret = by_key.get(("Secret", ns, name))
            if secret is not None:
                found.mark(secret, f"the bundled {what}'s credentials")
                found.secrets.add((ns, name))
        sa_name = service_account(server)
        sa = by_key.get(("ServiceAccount", ns, sa_name)) if sa_name != "default" else None
        if sa is not None:
            users = [o.ref() for o in others if service_account(o) == sa_name]
            if users:
                found.warnings.append(
                    (sa, f"the bundled {what}'s ServiceAccount is also used by {', '.join(users)}; kept")
                )
            else:
                found.mark(sa, f"the bundled {what}'s ServiceAccount")
        _mark_policies(found, items, server, labels, others)
    _mark_destination_rules(found, items)
    return found


def _mark_policies(found: Bundled, items: list, server, labels: dict, others: list) -> None:
    """Policies whose workload selector picks the server's pods and no other workload's."""
    other_labels = [pod_template(o).labels for o in others if pod_template(o) is not None]
    for item in items:
        if item.namespace != server.namespace:
            continue
        key = (item.group, item.kind)
        if key in _ISTIO_SELECTOR_PATHS:
            selector = _dig(item.obj, _ISTIO_SELECTOR_PATHS[key])
            selects = lambda lab: match_labels_selects(selector, lab)  # noqa: E731
        elif key in _LABEL_SELECTOR_PATHS:
            selector = _dig(item.obj, _LABEL_SELECTOR_PATHS[key])
            selects = lambda lab: label_selector_matches(selector, lab)  # noqa: E731
        else:
            continue
        if selects(labels) and not any(selects(lab) for lab in other_labels):
            found.mark(
                item, f"{item.kind} whose selector picks the bundled {found.what}'s pods and no other workload's"
            )


def _mark_destination_rules(found: Bundled, items: list) -> None:
    for item in items:
        if item.kind != "DestinationRule" or item.group != "networking.istio.io":
            continue
        if item.raw is not None and not any(a in item.raw for a in found.addresses if "." not in a):
            continue
        host = str((item.obj.get("spec") or {}).get("host") or "")
        # a short name resolves in the rule's own namespace
        full = f"{host}.{item.namespace}" if "." not in host else host
        if full in found.addresses:
            found.mark(item, f"a DestinationRule for the bundled {found.what}'s Service ({host})")
