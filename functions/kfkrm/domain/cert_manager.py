"""The cert-manager installation Kubeflow bundles (43 objects on v1.3.0, 49 on v1.10), found by
evidence, Kubeflow's own Certificates and Issuers told apart from it, and the cert-manager API
versions each cert-manager release serves.

The installation is found from its workloads: a workload whose container runs cert-manager's
controller, webhook or cainjector (the image's last path component `cert-manager-controller`,
`cert-manager-webhook`, `cert-manager-cainjector`, whatever registry serves it). From them: the
Services selecting their pods; their ServiceAccounts (no other workload uses them); the
RoleBindings and ClusterRoleBindings whose every subject is one of those ServiceAccounts, and the
Roles and ClusterRoles only such bindings name; the ClusterRoles that grant nothing but
cert-manager's API groups and that no kept binding names (the aggregated cert-manager-view/-edit,
the webhook-requester); the APIServices its webhook Service serves (cert-manager 0.11, v1.3.0);
the webhook configurations whose every webhook calls a removed Service (or, through the API
server, a removed APIService's group: `/apis/webhook.cert-manager.io/...`); the CRDs of
cert-manager's groups; and, when only cert-manager's workloads run in it, its namespace with the
install's ConfigMaps, Secrets, Roles and RoleBindings there.

Kubeflow's Certificates, Issuers and ClusterIssuers (`cert-manager.io` objects) are not part of
the installation: they are requests the organisation's cert-manager serves as well. The
`cert-manager.io/inject-ca-from` annotations on Kubeflow's webhooks and CRDs keep working: the
organisation's cainjector injects the CA of the named Certificate's Secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..runtime.podtemplates import has_pod_template, pod_template
from .bundled import image_repository_name, match_labels_selects, service_account

GROUPS = ("cert-manager.io", "acme.cert-manager.io")
INSTALL_IMAGES = ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector")
RBAC = "rbac.authorization.k8s.io"
_CLUSTER_KINDS = frozenset(
    {
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Namespace",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
    }
)
# Namespaced kinds an install puts in its own namespace (removed with it when only cert-manager runs there).
_INSTALL_KINDS = frozenset(
    {"ConfigMap", "Secret", "Service", "ServiceAccount", "Role", "RoleBinding", "Deployment", "PodDisruptionBudget"}
)
# EnterprisePolicy forbid terms: cert-manager's workloads, webhook and CRDs in every Kubeflow release.
FORBID_TERMS = (
    {"group": "apps", "kind": "Deployment", "name": "cert-manager"},
    {"group": "apps", "kind": "Deployment", "name": "cert-manager-webhook"},
    {"group": "apps", "kind": "Deployment", "name": "cert-manager-cainjector"},
    {"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration", "name": "cert-manager-webhook"},
    {"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration", "name": "cert-manager-webhook"},
    {"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition", "name": "*.cert-manager.io"},
)

# -- API versions ------------------------------------------------------------------------------------
LEGACY_VERSIONS = ("v1alpha2", "v1alpha3", "v1beta1")  # served from 0.11/0.15/0.16, removed in 1.6
_V1_SINCE = (0, 16)
_LEGACY_UNTIL = (1, 6)


def served_versions(version: tuple) -> tuple[str, ...]:
    """The cert-manager.io API versions a cert-manager release serves (removal in 1.6: its
    release notes; v1 from 0.16)."""
    if version >= _LEGACY_UNTIL:
        return ("v1",)
    if version >= _V1_SINCE:
        return LEGACY_VERSIONS + ("v1",)
    return ("v1alpha2", "v1alpha3", "v1beta1") if version >= (0, 15) else ("v1alpha2",)


# v1alpha2/v1alpha3 -> v1 Certificate fields (cert-manager v1.5's conversion functions,
# pkg/internal/apis/certmanager/v1alpha2/conversion.go and zz_generated.conversion.go).
_ALGORITHMS = {"rsa": "RSA", "ecdsa": "ECDSA"}
_ENCODINGS = {"pkcs1": "PKCS1", "pkcs8": "PKCS8"}


def certificate_to_v1(spec: dict) -> list[str]:
    """Rewrite a v1alpha2/v1alpha3/v1beta1 Certificate spec in place as v1; the fields moved."""
    moved = []
    if "organization" in spec:
        subject = spec.setdefault("subject", {})
        subject["organizations"] = spec.pop("organization")
        moved.append("organization -> subject.organizations")
    for old, new, values in (
        ("keyAlgorithm", "algorithm", _ALGORITHMS),
        ("keyEncoding", "encoding", _ENCODINGS),
        ("keySize", "size", None),
    ):
        if old in spec:
            value = spec.pop(old)
            spec.setdefault("privateKey", {})[new] = values.get(str(value), value) if values else value
            moved.append(f"{old} -> privateKey.{new}")
    for old, new in (("uriSANs", "uris"), ("emailSANs", "emailAddresses")):
        if old in spec:
            spec[new] = spec.pop(old)
            moved.append(f"{old} -> {new}")
    return moved


def mechanical(kind: str, spec: dict) -> Optional[str]:
    """Why a legacy object cannot be converted by moving fields, or None."""
    if kind in ("Issuer", "ClusterIssuer"):
        acme = spec.get("acme") if isinstance(spec, dict) else None
        if isinstance(acme, dict) and ("http01" in acme or "dns01" in acme):
            return "its ACME issuer uses the pre-0.8 http01/dns01 fields, which v1 replaced by solvers"
        return None
    if kind == "Certificate":
        return None
    return f"{kind} has no mechanical conversion here"


# -- the installation --------------------------------------------------------------------------------


@dataclass
class Installation:
    remove: dict = field(default_factory=dict)  # id(item) -> (item, why)
    warnings: list = field(default_factory=list)  # (item, message)
    servers: list = field(default_factory=list)

    def mark(self, item, why: str) -> None:
        self.remove.setdefault(id(item), (item, why))

    def removed(self, item) -> bool:
        return id(item) in self.remove


def is_install_workload(item) -> bool:
    if not has_pod_template(item) or (item.raw is not None and "cert-manager" not in item.raw):
        return False
    template = pod_template(item)
    return template is not None and any(
        image_repository_name(c.get("image") or "") in INSTALL_IMAGES for _, c in template.containers()
    )


def _grants_only_cert_manager(role) -> bool:
    rules = role.obj.get("rules") or []
    groups = {str(g) for r in rules if isinstance(r, dict) for g in r.get("apiGroups") or [""]}
    return bool(groups) and all(g == "cert-manager.io" or g.endswith(".cert-manager.io") for g in groups)


def find_installation(items: list) -> Installation:
    found = Installation()
    workloads = [i for i in items if has_pod_template(i)]
    found.servers = [w for w in workloads if is_install_workload(w)]
    if not found.servers:
        return found
    services = [i for i in items if i.kind == "Service" and i.group == ""]
    removed_services = set()
    accounts = set()
    for server in found.servers:
        found.mark(server, f"cert-manager's {image_repository_name(_image(server))} workload")
        labels = pod_template(server).labels
        for svc in services:
            if svc.namespace == server.namespace and match_labels_selects(
                (svc.obj.get("spec") or {}).get("selector"), labels
            ):
                found.mark(svc, "a Service of cert-manager's workloads")
                removed_services.add((svc.namespace, svc.name))
        accounts.add((server.namespace, service_account(server)))
    others = [w for w in workloads if w not in found.servers]
    used_by_others = {(w.namespace, service_account(w)) for w in others}
    for item in items:
        if item.kind == "ServiceAccount" and item.group == "" and (item.namespace, item.name) in accounts:
            if (item.namespace, item.name) in used_by_others:
                found.warnings.append((item, "cert-manager's ServiceAccount is also used by other workloads; kept"))
            else:
                found.mark(item, "cert-manager's ServiceAccount")
    _rbac(found, items, accounts - used_by_others)
    groups = _api_services(found, items, removed_services)
    _webhooks(found, items, removed_services, groups)
    for item in items:  # a CRD's name is <plural>.<group> (Kubernetes enforces it): no parse of every CRD
        group = item.name.split(".", 1)[-1] if item.kind == "CustomResourceDefinition" else None
        if group in GROUPS:
            found.mark(item, f"a CustomResourceDefinition of cert-manager's API ({group})")
    _namespaces(found, items, workloads)
    for item in items:
        if not found.removed(item) and item.kind in ("ConfigMap", "Secret") and "cert-manager" in item.name:
            found.warnings.append((item, "named after cert-manager but not tied to its removed installation; kept"))
    return found


def _image(workload) -> str:
    return next(
        (
            c.get("image") or ""
            for _, c in pod_template(workload).containers()
            if image_repository_name(c.get("image") or "") in INSTALL_IMAGES
        ),
        "",
    )


def _rbac(found: Installation, items: list, accounts: set) -> None:
    bindings = [i for i in items if i.group == RBAC and i.kind in ("RoleBinding", "ClusterRoleBinding")]
    removed, kept = [], []
    for binding in bindings:
        subjects = binding.obj.get("subjects") or []
        ours = subjects and all(
            isinstance(s, dict)
            and s.get("kind") == "ServiceAccount"
            and (s.get("namespace") or binding.namespace, s.get("name")) in accounts
            for s in subjects
        )
        (removed if ours else kept).append(binding)
    for binding in removed:
        found.mark(binding, "binds only cert-manager's ServiceAccounts")

    def ref(binding) -> tuple:
        role = binding.obj.get("roleRef") or {}
        kind = role.get("kind")
        return kind, binding.namespace if kind == "Role" else "", role.get("name")

    kept_refs = {ref(b) for b in kept}
    removed_refs = {ref(b) for b in removed}
    for role in (i for i in items if i.group == RBAC and i.kind in ("Role", "ClusterRole")):
        key = (role.kind, role.namespace if role.kind == "Role" else "", role.name)
        if key in kept_refs:
            continue
        if key in removed_refs:
            found.mark(role, "named only by bindings of cert-manager's ServiceAccounts")
        elif role.kind == "ClusterRole" and _grants_only_cert_manager(role):
            found.mark(role, "grants only cert-manager's API groups and no kept binding names it")


def _api_services(found: Installation, items: list, services: set) -> set:
    groups = set()
    for item in items:
        if item.kind != "APIService":
            continue
        service = (item.obj.get("spec") or {}).get("service") or {}
        if (service.get("namespace"), service.get("name")) in services:
            found.mark(item, "an APIService cert-manager's webhook serves")
            groups.add(str((item.obj.get("spec") or {}).get("group") or ""))
    return groups


def _webhooks(found: Installation, items: list, services: set, groups: set) -> None:
    for item in items:
        if item.kind not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            continue
        hooks = item.obj.get("webhooks") or []

        def ours(hook) -> bool:
            service = ((hook or {}).get("clientConfig") or {}).get("service") or {}
            if (service.get("namespace"), service.get("name")) in services:
                return True
            path = str(service.get("path") or "")
            return any(g and path.startswith(f"/apis/{g}/") for g in groups)

        if hooks and all(ours(h) for h in hooks):
            found.mark(item, "every webhook of it calls cert-manager's removed webhook")


def _namespaces(found: Installation, items: list, workloads: list) -> None:
    for namespace in sorted({s.namespace for s in found.servers}):
        if any(w.namespace == namespace and not found.removed(w) for w in workloads):
            continue  # other workloads run there: the namespace stays
        inside = [i for i in items if i.namespace == namespace and i.kind not in _CLUSTER_KINDS]
        strangers = [i for i in inside if not found.removed(i) and i.kind not in _INSTALL_KINDS]
        for item in inside:
            if not found.removed(item) and item.kind in _INSTALL_KINDS:
                found.mark(item, f"in cert-manager's namespace {namespace}, where only cert-manager runs")
        for item in strangers:
            found.warnings.append((item, f"in cert-manager's namespace {namespace} but not part of its install; kept"))
        if not strangers:
            for item in items:
                if item.kind == "Namespace" and item.group == "" and item.name == namespace:
                    found.mark(item, "cert-manager's namespace (only cert-manager ran in it)")
