"""What a render does beyond Kubeflow's own namespaces: its footprint on the cluster and the mesh.

A platform team approves this before installing Kubeflow on a shared cluster, and again for
whatever an upgrade adds. Each finding is one object (or one webhook of a configuration) in
one class, with the field that makes it act beyond Kubeflow and the reason. The classes:

- `crd`: a CustomResourceDefinition (a cluster-wide API);
- `aggregated-clusterrole`: a ClusterRole labelled `rbac.authorization.k8s.io/aggregate-to-ROLE:
  "true"`: the controller manager copies its rules into the cluster's role ROLE (admin, edit,
  view, or any other ClusterRole selecting that label), so every subject bound to it anywhere
  gains them;
- `clusterrole`: any other ClusterRole;
- `broad-binding`: a ClusterRoleBinding or RoleBinding with a subject every workload or user
  has: the groups `system:authenticated`, `system:unauthenticated`, `system:serviceaccounts`
  (or `system:serviceaccounts:NS` of a namespace the render does not create), the user
  `system:anonymous`;
- `clusterrolebinding`: any other ClusterRoleBinding;
- `default-priorityclass`: a PriorityClass with `globalDefault: true` (every pod without a
  priorityClassName gets it);
- `default-storageclass`: a StorageClass annotated `storageclass.kubernetes.io/is-default-class:
  "true"` (every PVC without a storageClassName gets it);
- `apiservice`: an APIService (an aggregated API served by the render's pods, for the whole
  cluster);
- `webhook`: one webhook of a Mutating/ValidatingWebhookConfiguration that can intercept objects
  in namespaces beyond Kubeflow's: no namespaceSelector, or one that an ordinary namespace (no
  labels) or a mesh-enrolled one (`istio-injection: enabled`) matches. Its failurePolicy
  (default Fail in admissionregistration.k8s.io/v1, Ignore in v1beta1) and objectSelector are
  part of the finding;
- `mesh-wide-istio`: Istio configuration in the mesh root namespace (Istio's default
  `istio-system`) without a selector: Sidecar, PeerAuthentication, AuthorizationPolicy,
  RequestAuthentication, EnvoyFilter, Telemetry, WasmPlugin, ProxyConfig. Istio applies it to
  every workload of every namespace in the mesh;
- `gateway-login`: an object enforcing login at an ingress gateway: a CUSTOM or DENY
  AuthorizationPolicy, a RequestAuthentication, or an EnvoyFilter with ext_authz, whose selector
  selects gateway pods (Kubeflow's gateway labels, the organisation's declared ones, pods in the
  render running Istio's proxy as a router, or Istio's `istio: *gateway` convention). It acts on
  every host the gateway serves;
- `cluster-scoped`: any other cluster-scoped object but a Namespace (ClusterIssuer, a non-default
  PriorityClass, Kubeflow's cluster-scoped custom resources, ...);
- `foreign-namespace`: a namespaced object in a namespace the render does not create
  (kube-system), or without a namespace (kubectl puts it in the current context's).

A pure classifier: it reads the objects and changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..runtime.paths import walk_strings
from ..runtime.podtemplates import pod_template
from ..runtime.resourcelist import Item
from .gateway_identity import ISTIO_NAMESPACE, KUBEFLOW_GATEWAY, KUBEFLOW_LOCAL_GATEWAY_LABELS, is_login_policy, selects
from .labelselector import selector_matches
from .mesh_wide import MESH_WIDE_KINDS, effect, is_mesh_wide

CRD = "crd"
AGGREGATED_ROLE = "aggregated-clusterrole"
CLUSTER_ROLE = "clusterrole"
BROAD_BINDING = "broad-binding"
CLUSTER_ROLE_BINDING = "clusterrolebinding"
DEFAULT_PRIORITY_CLASS = "default-priorityclass"
DEFAULT_STORAGE_CLASS = "default-storageclass"
API_SERVICE = "apiservice"
WEBHOOK = "webhook"
MESH_WIDE = "mesh-wide-istio"
GATEWAY_LOGIN = "gateway-login"
CLUSTER_SCOPED = "cluster-scoped"
FOREIGN_NAMESPACE = "foreign-namespace"
CLASSES = (
    CRD,
    AGGREGATED_ROLE,
    CLUSTER_ROLE,
    BROAD_BINDING,
    CLUSTER_ROLE_BINDING,
    DEFAULT_PRIORITY_CLASS,
    DEFAULT_STORAGE_CLASS,
    API_SERVICE,
    WEBHOOK,
    MESH_WIDE,
    GATEWAY_LOGIN,
    CLUSTER_SCOPED,
    FOREIGN_NAMESPACE,
)

RBAC = "rbac.authorization.k8s.io"
AGGREGATE_PREFIX = "rbac.authorization.k8s.io/aggregate-to-"
DEFAULT_STORAGE_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
BROAD_GROUPS = ("system:authenticated", "system:unauthenticated", "system:serviceaccounts")
BROAD_USERS = ("system:anonymous",)
SERVICEACCOUNTS_OF = "system:serviceaccounts:"
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
# Namespaces another application on the cluster typically has: one with no labels, one in the mesh.
PROBE_NAMESPACES = (
    ("an ordinary namespace (no labels)", {"kubernetes.io/metadata.name": "other-app"}),
    (
        "a mesh-enrolled namespace (istio-injection: enabled)",
        {"kubernetes.io/metadata.name": "other-app", "istio-injection": "enabled"},
    ),
)
EXT_AUTHZ_MARKERS = ("envoy.ext_authz", "envoy.filters.http.ext_authz", "ext_authz")
GATEWAY_PROXY_ARG = "router"  # istio's proxy runs as a gateway with `proxy router`
# Kubernetes' own cluster-scoped kinds (group, kind); custom kinds are cluster-scoped when the
# render's CRD says `scope: Cluster`.
BUILTIN_CLUSTER_SCOPED = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    (RBAC, "ClusterRole"),
    (RBAC, "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("networking.k8s.io", "IngressClass"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
}


@dataclass(frozen=True)
class Finding:
    """One object (or one webhook of a configuration) acting beyond Kubeflow's namespaces."""

    cls: str
    item: Item = field(compare=False, hash=False)
    field: Optional[str]
    reason: str = field(compare=False, hash=False)
    details: dict = field(default_factory=dict, compare=False, hash=False)
    part: str = ""  # what identifies the finding within the object (a webhook's name)
    widening: str = ""  # what, when it changes, makes the finding new (failurePolicy, roles aggregated into)

    def key(self) -> tuple:
        """Its identity across two renders: the same key is the same footprint."""
        i = self.item
        return (self.cls, i.group, i.kind, i.namespace, i.name, self.part, self.widening)

    def to_dict(self) -> dict:
        i = self.item
        return {
            "class": self.cls,
            "apiVersion": i.api_version,
            "kind": i.kind,
            "namespace": i.namespace,
            "name": i.name,
            "field": self.field,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass
class Context:
    """What the classification needs to know beyond one object."""

    namespaces: set  # the namespaces the render creates
    cluster_kinds: set  # (group, kind) of custom kinds the render's CRDs define as cluster-scoped
    namespaced_kinds: set  # (group, kind) of custom kinds the render's CRDs define as namespaced
    gateway_labels: list  # label maps of gateway pods
    root_namespace: str = ISTIO_NAMESPACE


def context(items: list, root_namespace: str = ISTIO_NAMESPACE, gateway_labels: Iterable[dict] = ()) -> Context:
    namespaces, cluster_kinds, namespaced_kinds = set(), set(), set()
    labels = [dict(KUBEFLOW_GATEWAY.labels), dict(KUBEFLOW_LOCAL_GATEWAY_LABELS)] + [dict(g) for g in gateway_labels]
    for item in items:
        if item.group == "" and item.kind == "Namespace":
            namespaces.add(item.name)
        elif item.kind == "CustomResourceDefinition" and item.group == "apiextensions.k8s.io":
            group, kind, scope = crd_identity(item)
            (cluster_kinds if scope == "Cluster" else namespaced_kinds).add((group, kind))
        else:
            maybe_gateway = item.kind in ("Deployment", "DaemonSet", "StatefulSet") and (
                item.raw is None or GATEWAY_PROXY_ARG in item.raw
            )
            tpl = pod_template(item) if maybe_gateway else None
            if (
                tpl is not None
                and any(GATEWAY_PROXY_ARG in (c.get("args") or []) for _, c in tpl.containers())
                and tpl.labels
            ):
                labels.append(dict(tpl.labels))
    return Context(namespaces, cluster_kinds, namespaced_kinds, labels, root_namespace)


_SPEC_LINE = re.compile(r"^( *)(?:- )?spec:[ \t]*\r?$", re.M)
_KEY_LINE = re.compile(r"^( *)([A-Za-z]+):[ \t]*(.*?)[ \t]*\r?$")


def crd_identity(item: Item) -> tuple[str, str, str]:
    """(spec.group, spec.names.kind, spec.scope) of a CRD, read from its block-style text without
    parsing its schemas (most of a render's bytes); parsed in full when the text is not plain."""
    found = _crd_identity_text(item.raw) if item.raw is not None and not item.loaded else None
    if found is None:
        spec = item.obj.get("spec") or {}
        names = spec.get("names") or {}
        found = (str(spec.get("group") or ""), str(names.get("kind") or ""), str(spec.get("scope") or "Namespaced"))
    return found


def _crd_identity_text(raw: str) -> Optional[tuple[str, str, str]]:
    specs = list(_SPEC_LINE.finditer(raw))
    if not specs:
        return None
    spec = min(specs, key=lambda m: len(m.group(1)))
    top = len(spec.group(1)) + (2 if "- spec" in spec.group(0) else 0)
    values: dict = {}
    child = names_child = None
    in_names = False
    for line in raw[spec.end() :].splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _KEY_LINE.match(line)
        indent = len(line) - len(line.lstrip(" "))
        if indent <= top:
            break
        if child is None:
            child = indent
        if indent == child:
            in_names = m is not None and m.group(2) == "names"
            if m and m.group(2) in ("group", "scope"):
                values[m.group(2)] = m.group(3)
        elif in_names:
            names_child = names_child or indent
            if indent == names_child and m and m.group(2) == "kind":
                values["kind"] = m.group(3)
    if "group" not in values or "kind" not in values:
        return None
    plain = {k: v.strip("'\"") for k, v in values.items()}
    if any(not v or v != values[k] and values[k][:1] not in "'\"" for k, v in plain.items()):
        return None
    return plain["group"], plain["kind"], plain.get("scope", "Namespaced")


def is_cluster_scoped(item: Item, ctx: Context) -> bool:
    key = (item.group, item.kind)
    return key in BUILTIN_CLUSTER_SCOPED or key in ctx.cluster_kinds


def footprint(items: list, ctx: Optional[Context] = None) -> list[Finding]:
    """Every finding of `items`, in the order of the input."""
    items = [i for i in items if not i.is_local_config]
    ctx = ctx or context(items)
    out: list[Finding] = []
    for item in items:
        out.extend(classify(item, ctx))
    return out


def classify(item: Item, ctx: Context) -> list[Finding]:
    group, kind = item.group, item.kind
    if group == "apiextensions.k8s.io" and kind == "CustomResourceDefinition":
        crd_group, crd_kind, scope = crd_identity(item)
        return [
            Finding(
                CRD,
                item,
                "spec.names",
                f"a cluster-wide API: {scope} kind {crd_kind} of {crd_group}",
            )
        ]
    if group == RBAC and kind == "ClusterRole":
        return [_cluster_role(item)]
    if group == RBAC and kind in ("ClusterRoleBinding", "RoleBinding"):
        broad = _broad_subjects(item, ctx)
        if broad:
            return [
                Finding(
                    BROAD_BINDING,
                    item,
                    "subjects",
                    f"binds {_role_ref(item)} to {', '.join(broad)}",
                    {"broadSubjects": broad, "roleRef": _role_ref(item)},
                    widening=",".join(broad),
                )
            ]
        if kind == "ClusterRoleBinding":
            return [
                Finding(
                    CLUSTER_ROLE_BINDING,
                    item,
                    "roleRef",
                    f"binds {_role_ref(item)} cluster-wide to {_subjects_text(item)}",
                    {"roleRef": _role_ref(item)},
                )
            ]
    if group == "scheduling.k8s.io" and kind == "PriorityClass" and item.obj.get("globalDefault") is True:
        return [
            Finding(
                DEFAULT_PRIORITY_CLASS,
                item,
                "globalDefault",
                f"every pod without a priorityClassName gets priority {item.obj.get('value')}",
            )
        ]
    if (
        group == "storage.k8s.io"
        and kind == "StorageClass"
        and any(str(item.annotations.get(a)).lower() == "true" for a in DEFAULT_STORAGE_CLASS_ANNOTATIONS)
    ):
        return [
            Finding(
                DEFAULT_STORAGE_CLASS,
                item,
                "metadata.annotations",
                "the cluster's default StorageClass: every PVC without a storageClassName uses it",
            )
        ]
    if group == "apiregistration.k8s.io" and kind == "APIService":
        spec = item.obj.get("spec") or {}
        svc = spec.get("service") or {}
        where = f"Service {svc.get('namespace')}/{svc.get('name')}" if svc else "the API server itself"
        return [
            Finding(
                API_SERVICE,
                item,
                "spec.service",
                f"serves {spec.get('group')}/{spec.get('version')} for the whole cluster from {where}",
            )
        ]
    if group == "admissionregistration.k8s.io" and kind in WEBHOOK_KINDS:
        return list(_webhooks(item))
    found = _istio(item, ctx)
    if found:
        return found
    if group == "" and kind == "Namespace":
        return []
    if is_cluster_scoped(item, ctx):
        return [Finding(CLUSTER_SCOPED, item, None, f"cluster-scoped {kind}")]
    if not item.namespace:
        if (group, kind) not in ctx.namespaced_kinds and not _builtin_group(group):
            return [
                Finding(
                    CLUSTER_SCOPED,
                    item,
                    "metadata.namespace",
                    f"{kind} without a namespace and no CRD in the render: cluster-scoped, or applied to "
                    "the current context's namespace",
                )
            ]
        return [
            Finding(
                FOREIGN_NAMESPACE,
                item,
                "metadata.namespace",
                "no namespace: kubectl creates it in the current context's namespace",
            )
        ]
    if item.namespace not in ctx.namespaces:
        return [
            Finding(
                FOREIGN_NAMESPACE,
                item,
                "metadata.namespace",
                f"in namespace {item.namespace}, which the render does not create",
            )
        ]
    return []


def _builtin_group(group: str) -> bool:
    """Kubernetes' own API groups: the core group, the unqualified ones (apps, batch, policy) and *.k8s.io."""
    return "." not in group or group.endswith(".k8s.io")


def _cluster_role(item: Item) -> Finding:
    roles = sorted(
        k[len(AGGREGATE_PREFIX) :]
        for k, v in item.labels.items()
        if k.startswith(AGGREGATE_PREFIX) and str(v).lower() == "true"
    )
    rules = item.obj.get("rules") or []
    if roles:
        return Finding(
            AGGREGATED_ROLE,
            item,
            "metadata.labels",
            f"its {len(rules)} rules are aggregated into the cluster's role(s) {', '.join(roles)}",
            {"aggregatesInto": roles},
            widening=",".join(roles),
        )
    how = "an aggregationRule" if item.obj.get("aggregationRule") else f"{len(rules)} rules"
    return Finding(CLUSTER_ROLE, item, "rules", f"cluster-wide permissions: {how}")


def _role_ref(item: Item) -> str:
    ref = item.obj.get("roleRef") or {}
    return f"{ref.get('kind')} {ref.get('name')}"


def _subjects_text(item: Item) -> str:
    subjects = [s for s in item.obj.get("subjects") or [] if isinstance(s, dict)]
    shown = []
    for s in subjects[:3]:
        ns = f"{s.get('namespace')}/" if s.get("namespace") else ""
        shown.append(f"{s.get('kind')} {ns}{s.get('name')}")
    more = f" and {len(subjects) - 3} more" if len(subjects) > 3 else ""
    return (", ".join(shown) + more) if shown else "no subject"


def _broad_subjects(item: Item, ctx: Context) -> list[str]:
    out = []
    for s in item.obj.get("subjects") or []:
        if not isinstance(s, dict):
            continue
        name, kind = str(s.get("name")), s.get("kind")
        if kind == "Group" and (
            name in BROAD_GROUPS
            or (name.startswith(SERVICEACCOUNTS_OF) and name[len(SERVICEACCOUNTS_OF) :] not in ctx.namespaces)
        ):
            out.append(f"Group {name}")
        elif kind == "User" and name in BROAD_USERS:
            out.append(f"User {name}")
    return out


def _webhooks(item: Item):
    default = "Ignore" if item.version == "v1beta1" else "Fail"
    for i, hook in enumerate(item.obj.get("webhooks") or []):
        if not isinstance(hook, dict):
            continue
        selector = hook.get("namespaceSelector")
        if selector:
            matched = [what for what, labels in PROBE_NAMESPACES if selector_matches(selector, labels)]
            if not matched:
                continue
            scope = f"namespaceSelector matches {matched[0]}"
        else:
            scope = "no namespaceSelector: every namespace"
        policy = str(hook.get("failurePolicy") or default)
        object_selector = hook.get("objectSelector") or None
        ops, resources = _rules(hook)
        note = f"; objectSelector {_selector_text(object_selector)}" if object_selector else ""
        verb = "mutates" if item.kind.startswith("Mutating") else "validates"
        yield Finding(
            WEBHOOK,
            item,
            f"webhooks[{i}]",
            f"{hook.get('name')} {verb} {ops} {resources} ({scope}{note}); failurePolicy {policy}",
            {
                "webhook": hook.get("name"),
                "failurePolicy": policy,
                "namespaceSelector": selector or None,
                "objectSelector": object_selector,
                "operations": ops,
                "resources": resources,
            },
            part=str(hook.get("name")),
            widening=policy + ("" if selector else " every-namespace"),
        )


def _rules(hook: dict) -> tuple[str, str]:
    ops, resources = [], []
    for rule in hook.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        ops += [str(o) for o in rule.get("operations") or [] if str(o) not in ops]
        resources += [str(r) for r in rule.get("resources") or [] if str(r) not in resources]
    if not ops and not resources:
        return "(rules set at run time by its controller)", "objects"
    return "/".join(ops) or "-", ",".join(resources) or "-"


def _selector_text(selector) -> str:
    if not isinstance(selector, dict):
        return str(selector)
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        if isinstance(e, dict):
            values = ",".join(str(v) for v in e.get("values") or [])
            parts.append(f"{e.get('key')} {e.get('operator')}" + (f" ({values})" if values else ""))
    return ", ".join(parts) or "{}"


def _istio(item: Item, ctx: Context) -> list[Finding]:
    entry = MESH_WIDE_KINDS.get(item.kind)  # domain/mesh_wide.py: the one definition of mesh-wide
    if entry is None or item.group != entry[0]:
        return []
    selector_field = entry[1]
    if is_mesh_wide(item, ctx.root_namespace):
        return [Finding(MESH_WIDE, item, f"spec.{selector_field}", effect(item, ctx.root_namespace))]
    spec = item.obj.get("spec") or {}
    selector = spec.get(selector_field)
    labels_key = "labels" if selector_field == "workloadSelector" else "matchLabels"
    labels = selector.get(labels_key) if isinstance(selector, dict) else None
    if not labels or not is_login_policy(item):
        return []
    if item.kind == "EnvoyFilter" and not _has_ext_authz(spec):
        return []
    gateways = [g for g in ctx.gateway_labels if selects(labels, g)]
    istio_gateway = str(labels.get("istio", "")).endswith("gateway")
    if not gateways and not istio_gateway:
        return []
    what = {
        "AuthorizationPolicy": f"{spec.get('action')} AuthorizationPolicy",
        "RequestAuthentication": "RequestAuthentication (rejects tokens of any other issuer)",
        "EnvoyFilter": "ext_authz EnvoyFilter",
    }[item.kind]
    sel = ", ".join(f"{k}={v}" for k, v in labels.items())
    return [
        Finding(
            GATEWAY_LOGIN,
            item,
            f"spec.{selector_field}",
            f"{what} on the gateway pods {sel}: acts on every host the gateway serves",
        )
    ]


def _has_ext_authz(spec: dict) -> bool:
    return any(any(m in text for m in EXT_AUTHZ_MARKERS) for _, _, _, text in walk_strings(spec, keys=True))


def new_findings(findings: list[Finding], baseline: list[Finding]) -> list[Finding]:
    """The findings whose key the baseline does not have: what is new (or wider) since it."""
    old = {f.key() for f in baseline}
    return [f for f in findings if f.key() not in old]


def counts(findings: list[Finding]) -> dict[str, int]:
    """Findings per class, in the order of CLASSES."""
    n: dict[str, int] = {}
    for f in findings:
        n[f.cls] = n.get(f.cls, 0) + 1
    return {c: n[c] for c in CLASSES if c in n}
