"""The reference graph of a whole render: every place one object names another, and whether
the named thing is there.

Adapting a platform moves and removes objects. Each function fixes the references it knows
about; this module finds the ones nobody fixed. One small extractor per kind of reference
yields `Reference`s (source object, field, target); `Inventory` says what the render holds
(plus what the organisation declares to exist outside it: its Gateways and its gateway
workload); `dangling` lists the references whose target is absent.

Upstream Kubeflow has dangling references of its own: objects made at run time or by the
platform (`default` ServiceAccounts, controller-created Secrets, built-in ClusterRoles,
pods that operators create). They are not listed here as exceptions: a baseline (the
references that already dangle in the unadapted render) is subtracted instead, see
`new_dangling`. A reference's identity (`Reference.identity`) leaves out the source's
namespace and writes a target in the source's own namespace as ".", so a reference that
dangles the same way after its object moved namespace still matches its baseline twin.

Targets are resolved as the consumer resolves them: a VirtualService's short host in the
VirtualService's namespace (Istio's ResolveShortnameToFQDN), `name.ns.svc.cluster.local`
to Service ns/name, any other host (outside the cluster) is no reference; a RoleBinding
subject without namespace in the binding's namespace; an Istio policy's workload selector
in its namespace, or in every namespace from the root namespace (istio-system).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

from ..runtime import yamlio
from ..runtime.paths import field_path, walk_strings
from ..runtime.podtemplates import POD_TEMPLATE_PATHS, pod_template
from ..runtime.resourcelist import Item
from .istio_refs import MESH, virtualservice_gateway_refs

CLUSTER_SUFFIX = ".svc.cluster.local"
ROOT_NAMESPACE = "istio-system"  # Istio's default meshConfig.rootNamespace: policies there select in every namespace
ANY_NAMESPACE = "*"
PODS = "Pods"  # the target kind of a label selector: pods, by labels, in a namespace

RBAC = "rbac.authorization.k8s.io"
# Target kinds and their API group (a Knative Service is not a Service).
TARGET_GROUPS = {
    "Service": "",
    "ServiceAccount": "",
    "Namespace": "",
    "ConfigMap": "",
    "Secret": "",
    "Gateway": "networking.istio.io",
    "Role": RBAC,
    "ClusterRole": RBAC,
}
CLUSTER_SCOPED = ("Namespace", "ClusterRole")
_OUTBOUND_CLUSTER = re.compile(r"outbound\|(\d*)\|[^|]*\|([A-Za-z0-9*][A-Za-z0-9.*-]*)")
_PRINCIPAL = re.compile(r"^[^/*]+/ns/([^/*]+)/sa/([^/*]+)$")


@dataclass(frozen=True)
class Target:
    """What a reference names: an object (kind, namespace, name), or pods by labels."""

    kind: str
    namespace: str  # "" for a cluster-scoped object; ANY_NAMESPACE for pods in any namespace
    name: str = ""
    labels: tuple = ()  # sorted (key, value) pairs of a PODS target

    def labels_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.labels)

    def where(self) -> str:
        return "any namespace" if self.namespace == ANY_NAMESPACE else f"namespace {self.namespace}"

    def __str__(self) -> str:
        if self.kind == PODS:
            return f"pods labelled {self.labels_text()} in {self.where()}"
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True, eq=False)
class Reference:
    source: Item
    field: str  # field path in the source
    relation: str  # what kind of reference, e.g. "route destination"
    target: Target
    written: str = ""  # the reference as written, when it differs from the target's name

    def identity(self) -> tuple:
        """What makes two references "the same" across two renders: the source's kind and
        name (not its namespace, which a relocation changes), the relation and the target,
        its namespace written "." when it is the source's own. No list indexes: a function
        that inserts a route or a subject must not make every later one look new."""
        t, own = self.target, self.source.namespace
        ns = "." if own and t.namespace == own else t.namespace
        return (self.source.kind, self.source.name, self.relation, t.kind, ns, t.name, t.labels)

    def describe(self) -> str:
        written = f" ({self.written})" if self.written and self.written != self.target.name else ""
        return f"{self.relation}{written} -> {self.target}"


@dataclass(frozen=True)
class Workload:
    """Pods the organisation runs outside the render (its ingress or cluster-local gateway)."""

    namespace: str
    service_account: Optional[str] = None
    labels: tuple = ()  # sorted (key, value) pairs
    service: Optional[str] = None  # host of its Service, e.g. acme-gw.istio-ingress.svc.cluster.local


@dataclass
class Declared:
    """What the organisation's platform holds outside the render."""

    gateways: set = field(default_factory=set)  # {(namespace, name)} of its Gateways
    workloads: list = field(default_factory=list)  # [Workload]
    # {(kind, namespace, name)} of other objects it provides (a credentials Secret); namespace "*": every one
    objects: set = field(default_factory=set)


def problem(ref: Reference) -> str:
    """What is wrong with a dangling reference, naming the target (the source is the result's object)."""
    written = f" {ref.written!r}" if ref.written and ref.written != ref.target.name else ""
    if ref.target.kind == PODS:
        return f"{ref.relation}{written} {ref.target.labels_text()} matches no pod template in {ref.target.where()}"
    declared = {
        "Gateway": " nor a declared Gateway (allowedGateways)",
        "ServiceAccount": " nor the declared gatewayWorkload's",
    }.get(ref.target.kind, " nor a declared platformObject")
    return f"{ref.relation}{written} names {ref.target}, which is not in the render{declared}"


# -- extractors --------------------------------------------------------------------------------
# Each takes (item, object) and yields references. EXTRACTORS maps (group, kind) to them; an
# item of another kind is never parsed.


def _labels(selector) -> tuple:
    if not isinstance(selector, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in selector.items()))


def service_of_host(host, own_namespace: str) -> Optional[tuple[str, str]]:
    """(namespace, name) of the Service a mesh host names, or None for a host outside the
    cluster, a wildcard, or a short name without a namespace to resolve it in."""
    if not isinstance(host, str) or not host or "*" in host:
        return None
    if "." not in host:
        return (own_namespace, host) if own_namespace else None
    if host.endswith(CLUSTER_SUFFIX):
        parts = host[: -len(CLUSTER_SUFFIX)].split(".")
        if len(parts) == 2 and all(parts):
            return parts[1], parts[0]
    return None


def _host_ref(item: Item, path: tuple, host, relation: str) -> Iterator[Reference]:
    found = service_of_host(host, item.namespace)
    if found:
        yield Reference(item, field_path(path), relation, Target("Service", found[0], found[1]), str(host))


def service_selector(item: Item, obj: dict) -> Iterator[Reference]:
    spec = obj.get("spec") or {}
    labels = _labels(spec.get("selector"))
    if labels and spec.get("type") != "ExternalName":
        yield Reference(item, "spec.selector", "selector", Target(PODS, item.namespace, labels=labels))


def pod_spec_refs(item: Item, obj: dict) -> Iterator[Reference]:
    """A workload's ServiceAccount and the ConfigMaps and Secrets its pods need (optional ones are not needed)."""
    tpl = pod_template(item)
    if tpl is None:
        return
    ns, spec = item.namespace, tpl.spec
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if isinstance(account, str) and account:
        key = "serviceAccountName" if spec.get("serviceAccountName") else "serviceAccount"
        yield Reference(tpl.item, tpl.field("spec", key), "service account", Target("ServiceAccount", ns, account))
    for i, secret in enumerate(spec.get("imagePullSecrets") or []):
        if isinstance(secret, dict) and secret.get("name"):
            yield Reference(
                item,
                tpl.field("spec", "imagePullSecrets", i),
                "image pull secret",
                Target("Secret", ns, str(secret["name"])),
            )
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict):
            continue
        for key, kind, name_key in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
            source = volume.get(key)
            if isinstance(source, dict) and source.get(name_key) and not source.get("optional"):
                yield Reference(
                    item,
                    tpl.field("spec", "volumes", i, key, name_key),
                    "volume",
                    Target(kind, ns, str(source[name_key])),
                )
        projected = volume.get("projected")
        for j, source in enumerate((projected or {}).get("sources") or [] if isinstance(projected, dict) else []):
            for key, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                entry = source.get(key) if isinstance(source, dict) else None
                if isinstance(entry, dict) and entry.get("name") and not entry.get("optional"):
                    yield Reference(
                        item,
                        tpl.field("spec", "volumes", i, "projected", "sources", j, key, "name"),
                        "volume",
                        Target(kind, ns, str(entry["name"])),
                    )
    for where, container in tpl.containers():
        yield from _container_refs(item, where, container, ns)


def _container_refs(item: Item, where: str, container: dict, ns: str) -> Iterator[Reference]:
    for i, source in enumerate(container.get("envFrom") or []):
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            entry = source.get(key) if isinstance(source, dict) else None
            if isinstance(entry, dict) and entry.get("name") and not entry.get("optional"):
                yield Reference(
                    item, f"{where}.envFrom[{i}].{key}.name", "environment", Target(kind, ns, str(entry["name"]))
                )
    for i, env in enumerate(container.get("env") or []):
        value_from = env.get("valueFrom") if isinstance(env, dict) else None
        if not isinstance(value_from, dict):
            continue
        for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            entry = value_from.get(key)
            if isinstance(entry, dict) and entry.get("name") and not entry.get("optional"):
                yield Reference(
                    item, f"{where}.env[{i}].valueFrom.{key}.name", "environment", Target(kind, ns, str(entry["name"]))
                )


def virtualservice_refs(item: Item, obj: dict) -> Iterator[Reference]:
    for where, written, gateway in virtualservice_gateway_refs(obj, item.namespace):
        if written != MESH and gateway is not None:
            yield Reference(item, where, "gateway", Target("Gateway", gateway.namespace, gateway.name), written)
    spec = obj.get("spec") or {}
    for route_kind in ("http", "tls", "tcp"):
        for i, route in enumerate(spec.get(route_kind) or []):
            if not isinstance(route, dict):
                continue
            for j, destination in enumerate(route.get("route") or []):
                target = destination.get("destination") if isinstance(destination, dict) else None
                host = target.get("host") if isinstance(target, dict) else None
                yield from _host_ref(
                    item, ("spec", route_kind, i, "route", j, "destination", "host"), host, "route destination"
                )
            mirror = route.get("mirror")
            if isinstance(mirror, dict):
                yield from _host_ref(item, ("spec", route_kind, i, "mirror", "host"), mirror.get("host"), "mirror")
            for j, mirror in enumerate(route.get("mirrors") or []):
                host = ((mirror or {}).get("destination") or {}).get("host") if isinstance(mirror, dict) else None
                yield from _host_ref(item, ("spec", route_kind, i, "mirrors", j, "destination", "host"), host, "mirror")


def destinationrule_refs(item: Item, obj: dict) -> Iterator[Reference]:
    yield from _host_ref(item, ("spec", "host"), (obj.get("spec") or {}).get("host"), "destination rule host")


def gateway_selector(item: Item, obj: dict) -> Iterator[Reference]:
    """An Istio Gateway selects its gateway pods in any namespace (Istio's default)."""
    labels = _labels((obj.get("spec") or {}).get("selector"))
    if labels:
        yield Reference(item, "spec.selector", "gateway workload", Target(PODS, ANY_NAMESPACE, labels=labels))


def _workload_selector(item: Item, labels: tuple, where: str) -> Iterator[Reference]:
    if labels:
        ns = ANY_NAMESPACE if item.namespace == ROOT_NAMESPACE else item.namespace
        yield Reference(item, where, "workload selector", Target(PODS, ns, labels=labels))


def policy_refs(item: Item, obj: dict) -> Iterator[Reference]:
    """AuthorizationPolicy, RequestAuthentication, PeerAuthentication: the workloads they
    select, and (AuthorizationPolicy) the ServiceAccounts and namespaces they admit."""
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    yield from _workload_selector(
        item, _labels(selector.get("matchLabels") if isinstance(selector, dict) else None), "spec.selector.matchLabels"
    )
    for i, rule in enumerate(spec.get("rules") or []):
        for j, source in enumerate((rule or {}).get("from") or [] if isinstance(rule, dict) else []):
            source = (source or {}).get("source") if isinstance(source, dict) else None
            if not isinstance(source, dict):
                continue
            for k, principal in enumerate(source.get("principals") or []):
                m = _PRINCIPAL.match(principal) if isinstance(principal, str) else None
                if m:
                    yield Reference(
                        item,
                        f"spec.rules[{i}].from[{j}].source.principals[{k}]",
                        "principal",
                        Target("ServiceAccount", m[1], m[2]),
                        principal,
                    )
            for k, namespace in enumerate(source.get("namespaces") or []):
                if isinstance(namespace, str) and namespace and "*" not in namespace:
                    yield Reference(
                        item,
                        f"spec.rules[{i}].from[{j}].source.namespaces[{k}]",
                        "source namespace",
                        Target("Namespace", "", namespace),
                    )


def envoyfilter_refs(item: Item, obj: dict) -> Iterator[Reference]:
    spec = obj.get("spec") or {}
    selector = spec.get("workloadSelector")
    yield from _workload_selector(
        item, _labels(selector.get("labels") if isinstance(selector, dict) else None), "spec.workloadSelector.labels"
    )
    for parts, _, _, text in walk_strings(spec.get("configPatches"), ("spec", "configPatches")):
        for m in _OUTBOUND_CLUSTER.finditer(text):
            yield from _host_ref(item, parts, m[2], "envoy cluster")


def sidecar_refs(item: Item, obj: dict) -> Iterator[Reference]:
    selector = (obj.get("spec") or {}).get("workloadSelector")
    yield from _workload_selector(
        item, _labels(selector.get("labels") if isinstance(selector, dict) else None), "spec.workloadSelector.labels"
    )


def _service_ref(item: Item, where: str, service) -> Iterator[Reference]:
    if isinstance(service, dict) and service.get("name"):
        ns = str(service.get("namespace") or "")
        yield Reference(item, where, "webhook service", Target("Service", ns, str(service["name"])))


def webhook_refs(item: Item, obj: dict) -> Iterator[Reference]:
    for i, hook in enumerate(obj.get("webhooks") or []):
        service = ((hook or {}).get("clientConfig") or {}).get("service") if isinstance(hook, dict) else None
        yield from _service_ref(item, f"webhooks[{i}].clientConfig.service", service)


def apiservice_refs(item: Item, obj: dict) -> Iterator[Reference]:
    yield from _service_ref(item, "spec.service", (obj.get("spec") or {}).get("service"))


def crd_refs(item: Item, obj: dict) -> Iterator[Reference]:
    conversion = (obj.get("spec") or {}).get("conversion") or {}
    if not isinstance(conversion, dict):
        return
    webhook = conversion.get("webhook") or {}
    if isinstance(webhook, dict):
        yield from _service_ref(
            item, "spec.conversion.webhook.clientConfig.service", (webhook.get("clientConfig") or {}).get("service")
        )
    legacy = conversion.get("webhookClientConfig") or {}  # apiextensions.k8s.io/v1beta1
    if isinstance(legacy, dict):
        yield from _service_ref(item, "spec.conversion.webhookClientConfig.service", legacy.get("service"))


def binding_refs(item: Item, obj: dict) -> Iterator[Reference]:
    for i, subject in enumerate(obj.get("subjects") or []):
        if isinstance(subject, dict) and subject.get("kind") == "ServiceAccount" and subject.get("name"):
            ns = str(subject.get("namespace") or item.namespace)
            yield Reference(item, f"subjects[{i}]", "subject", Target("ServiceAccount", ns, str(subject["name"])))
    role = obj.get("roleRef")
    if isinstance(role, dict) and role.get("kind") in ("Role", "ClusterRole") and role.get("name"):
        ns = item.namespace if role["kind"] == "Role" else ""
        yield Reference(item, "roleRef", "role", Target(role["kind"], ns, str(role["name"])))


Extractor = Callable[[Item, dict], Iterator[Reference]]
EXTRACTORS: dict[tuple[str, str], tuple[Extractor, ...]] = {
    ("", "Service"): (service_selector,),
    **{key: (pod_spec_refs,) for key in POD_TEMPLATE_PATHS},
    ("networking.istio.io", "VirtualService"): (virtualservice_refs,),
    ("networking.istio.io", "DestinationRule"): (destinationrule_refs,),
    ("networking.istio.io", "Gateway"): (gateway_selector,),
    ("networking.istio.io", "EnvoyFilter"): (envoyfilter_refs,),
    ("networking.istio.io", "Sidecar"): (sidecar_refs,),
    ("security.istio.io", "AuthorizationPolicy"): (policy_refs,),
    ("security.istio.io", "RequestAuthentication"): (policy_refs,),
    ("security.istio.io", "PeerAuthentication"): (policy_refs,),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): (webhook_refs,),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): (webhook_refs,),
    ("apiregistration.k8s.io", "APIService"): (apiservice_refs,),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): (crd_refs,),
    (RBAC, "RoleBinding"): (binding_refs,),
    (RBAC, "ClusterRoleBinding"): (binding_refs,),
}


def _crd_conversion(item: Item) -> Optional[dict]:
    """A CRD's spec.conversion read off its text: CRDs are most of a render's bytes (one
    KServe CRD is 0.7 MB) and only this block holds a reference. None: parse the whole CRD."""
    if "lientConfig" not in item.raw:  # webhook.clientConfig (v1), webhookClientConfig (v1beta1)
        return {}
    body = item.body
    spec = _SPEC_INDENT.search(body)
    if spec is None:
        return None
    indent = spec.group(1)
    block = re.search(r"(?m)^%sconversion:[ \t]*\n((?:%s .*\n|[ \t]*\n)*)" % (indent, indent), body)
    if block is None:
        return None
    try:
        conversion = yamlio.load("conversion:\n" + block.group(1))["conversion"]
    except (yamlio.YAMLError, TypeError, KeyError):
        return None
    return {"spec": {"conversion": conversion}}


_SPEC_INDENT = re.compile(r"(?m)^spec:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*( +)\S")
# Kinds whose references can be read off part of their text: a function of the item that
# returns the part as an object ({} when there is none), or None to parse the whole item.
PARTIAL_READERS = {("apiextensions.k8s.io", "CustomResourceDefinition"): _crd_conversion}


def references(items: Iterable[Item]) -> Iterator[Reference]:
    """Every reference the extractors know, from every item that is not local config."""
    for item in items:
        key = (item.group, item.kind)
        extractors = EXTRACTORS.get(key)
        if not extractors or item.is_local_config:
            continue
        reader = PARTIAL_READERS.get(key)
        obj = reader(item) if reader and item.raw is not None and not item.loaded else None
        if obj is None:
            obj = item.obj
        for extract in extractors:
            yield from extract(item, obj)


# -- what is present ----------------------------------------------------------------------------


class Inventory:
    """The objects a render holds, by (group, kind, namespace, name), and its pods' labels."""

    def __init__(self, items: Iterable[Item], declared: Optional[Declared] = None):
        self.declared = declared or Declared()
        self.objects: set[tuple[str, str, str, str]] = set()
        self.pods: dict[str, list[dict]] = {}  # namespace -> label maps of its pod templates
        self.mesh_hosts: set[str] = set()  # hosts ServiceEntries add to the mesh
        wanted = set(TARGET_GROUPS.items())
        for item in items:
            group, kind = item.group, item.kind
            if (
                (kind, group) not in wanted and (group, kind) not in POD_TEMPLATE_PATHS and kind != "ServiceEntry"
            ) or item.is_local_config:
                continue  # the kind first: is_local_config parses the metadata
            if (kind, group) in wanted:  # a cluster-scoped object's stray metadata.namespace means nothing
                self.objects.add((group, kind, "" if kind in CLUSTER_SCOPED else item.namespace, item.name))
            if (group, kind) in POD_TEMPLATE_PATHS:
                tpl = pod_template(item)
                if tpl is not None:
                    self.pods.setdefault(item.namespace, []).append({str(k): str(v) for k, v in tpl.labels.items()})
            elif kind == "ServiceEntry" and group == "networking.istio.io":
                hosts = (item.obj.get("spec") or {}).get("hosts")
                self.mesh_hosts.update(h for h in hosts or [] if isinstance(h, str))
        for w in self.declared.workloads:
            if w.labels:
                self.pods.setdefault(w.namespace, []).append(dict(w.labels))

    def has(self, target: Target) -> bool:
        if target.kind == PODS:
            return self._has_pods(target)
        group = TARGET_GROUPS.get(target.kind, "")
        if (group, target.kind, target.namespace, target.name) in self.objects:
            return True
        d = self.declared
        if {(target.kind, target.namespace, target.name), (target.kind, "*", target.name)} & d.objects:
            return True
        if target.kind == "Gateway":
            return (target.namespace, target.name) in d.gateways
        if target.kind == "ServiceAccount":
            return any((target.namespace, target.name) == (w.namespace, w.service_account) for w in d.workloads)
        if target.kind == "Namespace":  # a declared Gateway's or workload's namespace exists on the platform
            return any(w.namespace == target.name for w in d.workloads) or any(
                ns == target.name for ns, _ in d.gateways
            )
        if target.kind == "Service":
            host = f"{target.name}.{target.namespace}{CLUSTER_SUFFIX}"
            return host in self.mesh_hosts or any(host == w.service for w in d.workloads)
        return False

    def _has_pods(self, target: Target) -> bool:
        pools = self.pods.values() if target.namespace == ANY_NAMESPACE else [self.pods.get(target.namespace, [])]
        return any(all(labels.get(k) == v for k, v in target.labels) for pool in pools for labels in pool)


def dangling(items: list[Item], declared: Optional[Declared] = None) -> tuple[list[Reference], int]:
    """(the references whose target is absent, how many references there are)."""
    inventory = Inventory(items, declared)
    found, total = [], 0
    for ref in references(items):
        total += 1
        if not inventory.has(ref.target):
            found.append(ref)
    return found, total


def baseline(items: list[Item], declared: Optional[Declared] = None) -> Counter:
    """How many times each reference identity dangles in `items` (the unadapted render)."""
    return Counter(ref.identity() for ref in dangling(items, declared)[0])


def relocated(base: Counter, namespaces: dict[str, str]) -> Counter:
    """A baseline taken before the render moved namespaces (`old: new`), as the moved render
    spells it: a reference that dangled into `kubeflow` dangles into `ml-platform` afterwards
    (a cluster-scoped binding's subject `kubeflow/default` becomes `ml-platform/default`), and
    is the same reference."""
    if not namespaces:
        return base
    out: Counter = Counter()
    for (kind, name, relation, t_kind, ns, t_name, labels), count in base.items():
        ns = namespaces.get(ns, ns)
        if t_kind == "Namespace":
            t_name = namespaces.get(t_name, t_name)
        out[(kind, name, relation, t_kind, ns, t_name, labels)] += count
    return out


def new_dangling(refs: list[Reference], base: Counter) -> tuple[list[Reference], int]:
    """(the dangling references not dangling the same way in the baseline, how many were).

    Counted, not set-compared: when the baseline has one dangling reference of an identity
    and the output two, one is new."""
    left = Counter(base)
    new, known = [], 0
    for ref in refs:
        key = ref.identity()
        if left[key] > 0:
            left[key] -= 1
            known += 1
        else:
            new.append(ref)
    return new, known
