"""The Dex that Kubeflow bundles as its example identity provider, found by evidence.

Dex is the workload running the Dex image (`ghcr.io/dexidp/dex`, `quay.io/dexidp/dex`, any
registry). From it come: its ServiceAccount, the ConfigMaps and Secrets its pods use (its
config with the static users, `dex-oidc-client`, v1.10's `dex-passwords`), the Services
selecting its pods and the VirtualServices routing to them (its login page on the gateway),
the NetworkPolicies and AuthorizationPolicies selecting its pods, the bindings whose only
subject is its ServiceAccount and the roles only those bindings use, and the
CustomResourceDefinitions of its storage group `dex.coreos.com` (Dex's `kubernetes`
storage). Its namespace (`auth` upstream) goes too when nothing else is left in it but
namespace-wide defaults (a NetworkPolicy or an Istio policy selecting every pod there).

Where Dex is addressed: its Services' cluster addresses (`dex.auth.svc.cluster.local`) and the
path prefix its VirtualService routes on the gateway (`/dex`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Optional

from ..runtime.kinds import is_core
from ..runtime.podtemplates import has_pod_template, pod_template
from .authservice import pod_labels, referenced_objects, services_selecting
from .images import parse_reference

DEX_IMAGES = ("*/dex",)
DEX_GROUP = "dex.coreos.com"
RBAC_GROUP = "rbac.authorization.k8s.io"
# Upstream's names, used when Dex is already gone (a second run) to still recognise its addresses.
DEFAULT_SERVICE, DEFAULT_NAMESPACE, DEFAULT_PATH = "dex", "auth", "/dex"
# What the derived policy forbids once Dex is removed.
FORBID_TERMS = (
    {"group": "apps", "kind": "Deployment", "name": "dex"},
    {"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition", "name": "*." + DEX_GROUP},
)
_POLICY_SELECTOR = {
    ("networking.k8s.io", "NetworkPolicy"): ("spec", "podSelector"),
    ("security.istio.io", "AuthorizationPolicy"): ("spec", "selector"),
    ("security.istio.io", "PeerAuthentication"): ("spec", "selector"),
    ("security.istio.io", "RequestAuthentication"): ("spec", "selector"),
}


def runs_dex_image(container: dict) -> bool:
    reference = parse_reference(container.get("image"))
    return reference is not None and any(fnmatchcase(reference.name, glob) for glob in DEX_IMAGES)


def is_dex_workload(item) -> bool:
    if not has_pod_template(item) or (item.raw is not None and "dex" not in item.raw):
        return False
    tpl = pod_template(item)
    return tpl is not None and any(runs_dex_image(c) for _, c in tpl.containers())


@dataclass
class BundledDex:
    """Dex's objects (item -> why), what was kept with a reason, and how it is addressed."""

    workloads: list = field(default_factory=list)
    objects: dict = field(default_factory=dict)  # id(item) -> (item, why)
    kept: list = field(default_factory=list)  # (item, why kept)
    services: list = field(default_factory=list)  # (name, namespace)
    paths: list = field(default_factory=list)  # gateway path prefixes, e.g. "/dex"

    def mark(self, item, why: str) -> None:
        self.objects.setdefault(id(item), (item, why))

    def has(self, item) -> bool:
        return id(item) in self.objects

    def address_pattern(self) -> re.Pattern:
        """Matches any in-cluster address of Dex's Services, and its gateway path."""
        services = self.services or [(DEFAULT_SERVICE, DEFAULT_NAMESPACE)]
        hosts = "|".join(rf"{re.escape(s)}\.{re.escape(ns)}(?:\.svc(?:\.[\w-]+)*)?" for s, ns in services)
        paths = "|".join(re.escape(p.rstrip("/")) for p in (self.paths or [DEFAULT_PATH]))
        return re.compile(rf"(?<![\w.-])(?:{hosts})(?![\w-])|(?<![\w.-])(?:{paths})(?=/|\*|$|\")")


def _selector_labels(item) -> Optional[dict]:
    """matchLabels of a policy's pod selector; {} when it selects every pod of its namespace."""
    path = _POLICY_SELECTOR.get((item.group, item.kind))
    if path is None:
        return None
    node = item.obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not node:
        return {}
    labels = node.get("matchLabels") if isinstance(node, dict) else None
    return dict(labels) if isinstance(labels, dict) else {}


def find(items) -> BundledDex:
    """Dex's objects in `items` (mutable items only), by evidence."""
    items = list(items)
    dex = BundledDex()
    dex.workloads = [i for i in items if is_dex_workload(i)]
    crds = [
        i
        for i in items
        if i.kind == "CustomResourceDefinition"
        and i.group == "apiextensions.k8s.io"
        and i.name.endswith("." + DEX_GROUP)
    ]
    for crd in crds:
        dex.mark(crd, f"a CustomResourceDefinition of Dex's storage ({DEX_GROUP})")
    if not dex.workloads:
        return dex
    by_key = {(i.kind, i.namespace, i.name): i for i in items}
    service_accounts = set()
    for workload in dex.workloads:
        ns, tpl = workload.namespace, pod_template(workload)
        dex.mark(workload, "the bundled Dex (runs the Dex image)")
        others = [w for w in items if has_pod_template(w) and w.namespace == ns and not is_dex_workload(w)]
        for kind, name in sorted(referenced_objects(tpl, workload)):
            target = by_key.get((kind, ns, name))
            if target is None:
                continue
            sharers = [w.ref() for w in others if (kind, name) in referenced_objects(pod_template(w), w)]
            if sharers:
                dex.kept.append((target, f"Dex's {kind} is also used by {', '.join(sharers)}"))
                continue
            dex.mark(target, f"Dex's {kind} (its pod spec uses it)")
            if kind == "ServiceAccount":
                service_accounts.add(("ServiceAccount", ns, name))
        labels = pod_labels(workload, tpl)
        for svc in services_selecting(items, ns, labels):
            dex.mark(svc, "a Service of Dex (selects its pods)")
            dex.services.append((svc.name, ns))
        for item in items:
            if item.namespace != ns:
                continue
            selector = _selector_labels(item)
            if selector and all(str(labels.get(k)) == str(v) for k, v in selector.items()):
                dex.mark(item, f"a {item.kind} for Dex's pods (selects them)")
    _routes(items, dex)
    _rbac(items, dex, service_accounts)
    return dex


def _routes(items, dex: BundledDex) -> None:
    """VirtualServices and DestinationRules routing to Dex's Services; the paths they route."""
    pattern = dex.address_pattern()
    for item in items:
        if item.group != "networking.istio.io" or item.kind not in ("VirtualService", "DestinationRule"):
            continue
        if not pattern.search(item.raw or str(item.obj)):
            continue
        own = {s for s, ns in dex.services if ns == item.namespace}
        hosts = []
        spec = item.obj.get("spec") or {}
        if item.kind == "DestinationRule":
            hosts = [spec.get("host")]
        for http in spec.get("http") or []:
            for route in http.get("route") or []:
                hosts.append(((route or {}).get("destination") or {}).get("host"))
        if not hosts or not all(isinstance(h, str) and _addresses(h, dex, own) for h in hosts):
            dex.kept.append((item, "routes to Dex and to other Services"))
            continue
        dex.mark(item, f"routes to Dex's Service ({item.kind})")
        for http in spec.get("http") or []:
            for match in http.get("match") or []:
                prefix = ((match or {}).get("uri") or {}).get("prefix")
                if isinstance(prefix, str) and prefix.strip("/") and prefix.rstrip("/") not in dex.paths:
                    dex.paths.append(prefix.rstrip("/"))


def _addresses(host: str, dex: BundledDex, own: set) -> bool:
    first = host.split(".")[0]
    return any(host == s or host.startswith(f"{s}.{ns}") for s, ns in dex.services) or (
        "." not in host and first in own
    )


def _rbac(items, dex: BundledDex, service_accounts: set) -> None:
    """Bindings whose only subjects are Dex's ServiceAccount, and the roles only they use."""
    bindings = [i for i in items if i.group == RBAC_GROUP and i.kind in ("RoleBinding", "ClusterRoleBinding")]
    removed_roles, kept_roles = {}, set()
    for binding in bindings:
        subjects = set()
        for s in binding.obj.get("subjects") or []:
            if isinstance(s, dict):
                ns = s.get("namespace") or binding.namespace if s.get("kind") == "ServiceAccount" else ""
                subjects.add((s.get("kind"), ns, s.get("name")))
        ref = binding.obj.get("roleRef") or {}
        role = (ref.get("kind"), binding.namespace if ref.get("kind") == "Role" else "", ref.get("name"))
        if subjects and subjects <= service_accounts:
            dex.mark(binding, "binds a role to Dex's ServiceAccount only")
            removed_roles[role] = binding
        else:
            kept_roles.add(role)
    by_key = {(i.kind, i.namespace, i.name): i for i in items}
    for role_key, binding in removed_roles.items():
        role = by_key.get(role_key)
        if role is None or role.group != RBAC_GROUP:
            continue
        if role_key in kept_roles:
            dex.kept.append((role, "bound to Dex's ServiceAccount and to other subjects"))
        else:
            dex.mark(role, f"the role only Dex is bound to ({binding.ref()})")


def namespace_leftovers(items, dex: BundledDex) -> dict[str, tuple[Optional[object], list, list]]:
    """Per namespace Dex ran in: (its Namespace, the namespace-wide defaults left, what else is left)."""
    out = {}
    for ns in sorted({w.namespace for w in dex.workloads}):
        namespace = next((i for i in items if is_core(i, "Namespace") and i.name == ns), None)
        left = [i for i in items if i.namespace == ns and not dex.has(i)]
        defaults = [i for i in left if _selector_labels(i) == {}]
        out[ns] = (namespace, defaults, [i for i in left if i not in defaults])
    return out
