"""Moves Kubeflow's auth service into the mesh namespace, rewrites every reference to its
old address, and enrols it in the mesh with the outbound ports it must reach directly.

The field report moved oidc-authservice out of istio-system into kubeflow, gave it a
sidecar, and excluded outbound port 443 from the sidecar so it could reach the corporate
OIDC provider over HTTPS. Done by hand, the move silently breaks whatever still points at
the old address. This function finds the auth service of either Kubeflow generation by
its image (v1.3: the oidc-authservice StatefulSet in istio-system; v1.9 and later: the
oauth2-proxy Deployment in its own namespace; `workload` names another one) and moves it
with the objects it uses: the ConfigMaps, Secrets, PVCs and ServiceAccount its pods
reference, the Services that select its pods, the VirtualServices routing to them, and the
objects named after it; its own Namespace (named after it too) is removed once empty. Every reference
elsewhere is rewritten: addresses (`S.N`, `S.N.svc`,
`S.N.svc.cluster.local`, also inside `outbound|8080||...` cluster names and the
`N/host` form), SPIFFE principals of a moved ServiceAccount, and `namespace`/`name` pairs
naming a moved object. YAML held in ConfigMap values (Istio's mesh config with its
`extensionProviders`) is read and written as YAML 1.2 so its values keep their meaning.

The pod template gets `sidecar.istio.io/inject` and
`traffic.sidecar.istio.io/excludeOutboundPorts`; an existing opt-out is replaced and
reported. What the move breaks is not left silent: when NetworkPolicies in the target
namespace isolate the auth pods, or ALLOW AuthorizationPolicies (Kubeflow's mesh-wide
`global-deny-all`) apply to them once they have a sidecar, it adds a NetworkPolicy and an
AuthorizationPolicy that admit exactly the gateway on the auth service's port."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ..domain import mesh_providers
from ..domain.authservice import (
    find_auth_workloads,
    named_after,
    objects_to_move,
    pod_labels,
    services_selecting,
)
from ..domain.labelselector import selector_matches
from ..runtime import yamlio
from ..runtime.config import FunctionConfig, Model
from ..runtime.k8svalidation import NamespaceName, Port
from ..runtime.kinds import is_core
from ..runtime.paths import field_path
from ..runtime.podtemplates import SIDECAR_INJECT, pod_template, set_template_metadata
from ..runtime.results import error, info, warn
from ..runtime.selectors import SelectorTerm

EXCLUDE_OUTBOUND = "traffic.sidecar.istio.io/excludeOutboundPorts"
TRUST_DOMAIN = "cluster.local"
DEFAULT_ROOT_NAMESPACE = "istio-system"


class Gateway(Model):
    """The gateway workload that calls the auth service (Envoy ext_authz) and routes to it."""

    namespace: NamespaceName = Field("istio-system", description="the gateway's namespace")
    serviceAccount: str = Field(
        "istio-ingressgateway-service-account", description="the gateway pods' ServiceAccount (its mesh identity)"
    )
    labels: dict[str, str] = Field(
        default_factory=lambda: {"app": "istio-ingressgateway"}, description="labels selecting the gateway pods"
    )

    @field_validator("labels")
    @classmethod
    def _some_labels(cls, labels):
        if not labels:
            raise ValueError("must name at least one label of the gateway pods")
        return labels


class Config(FunctionConfig):
    KIND = "AuthServiceRelocation"
    FROM_CONFIGMAP = "fields"

    namespace: NamespaceName = Field(..., description="the namespace the auth service should run in")
    sidecar: bool = Field(
        True, description="true: enrol it in the mesh; false: keep it out (sidecar.istio.io/inject: \"false\")"
    )
    excludeOutboundPorts: list[Port] = Field(
        default_factory=list,
        description="outbound ports the sidecar must not capture (traffic.sidecar.istio.io/excludeOutboundPorts), "
        "e.g. 443 for the SSO provider",
    )
    workload: Optional[SelectorTerm] = Field(
        None, description="the auth service's workload, when it is neither oidc-authservice nor oauth2-proxy"
    )
    gateway: Gateway = Field(
        default_factory=Gateway, description="the gateway that must keep reaching the auth service"
    )

    @model_validator(mode="after")
    def _ports_need_sidecar(self):
        if self.excludeOutboundPorts and not self.sidecar:
            raise ValueError(
                "excludeOutboundPorts only applies with sidecar: true (without a sidecar nothing captures traffic)"
            )
        return self


# -- rewriting references ------------------------------------------------------------------


class ReferenceRewriter:
    """Rewrites references to objects that moved from `old` to `new` namespace."""

    def __init__(self, old: str, new: str, moved: list):
        self.old, self.new = old, new
        self.names = {i.name for i in moved}
        services = sorted({i.name for i in moved if i.kind == "Service"}, key=len, reverse=True)
        accounts = sorted({i.name for i in moved if i.kind == "ServiceAccount"}, key=len, reverse=True)
        ns = re.escape(old)
        self.address = (
            re.compile(
                rf"(?<![\w.-])(?P<prefix>{ns}/)?(?P<service>{'|'.join(map(re.escape, services))})"
                rf"\.{ns}(?=\.svc\b|(?![\w.-]))"
            )
            if services
            else None
        )
        self.principal = (
            re.compile(rf"(?<![\w.-])ns/{ns}/sa/(?P<account>{'|'.join(map(re.escape, accounts))})(?![\w.-])")
            if accounts
            else None
        )

    def might_refer(self, item) -> bool:
        """Cheap text prefilter before parsing an item."""
        raw = item.raw
        return raw is None or (self.old in raw and any(n in raw for n in self.names))

    def unresolved(self, item) -> list[str]:
        """`name.old` addresses still in the item: the auth service's names without a moved Service."""
        pattern = rf"(?<![\w.-])(?:{'|'.join(map(re.escape, sorted(self.names)))})\.{re.escape(self.old)}(?![\w-])"
        return sorted(set(re.findall(pattern, yamlio.dump(item.obj))))

    def rewrite_text(self, text: str) -> str:
        """`text` with every old address and principal rewritten; a quoted or block style is kept."""
        new = self._rewrite_plain(str(text))
        style = getattr(text, "style", None)
        return yamlio.Str(new, style) if style and new != text else new

    def _rewrite_plain(self, text: str) -> str:
        if self.address is not None:
            text = self.address.sub(
                lambda m: (f"{self.new}/" if m["prefix"] else "") + f"{m['service']}.{self.new}", text
            )
        if self.principal is not None:
            text = self.principal.sub(lambda m: f"ns/{self.new}/sa/{m['account']}", text)
        return text

    def rewrite_tree(self, node, path: tuple, changed: list, skip_metadata: bool = False):
        """Rewrite in place; append the path of every changed field to `changed`."""
        if isinstance(node, dict):
            if node.get("namespace") == self.old and node.get("name") in self.names and not skip_metadata:
                node["namespace"] = self.new
                changed.append(path + ("namespace",))
            for key, value in node.items():
                if skip_metadata and key == "metadata":
                    continue
                if isinstance(value, str):
                    new = self.rewrite_text(value)
                    if new != value:
                        node[key] = new
                        changed.append(path + (key,))
                else:
                    self.rewrite_tree(value, path + (key,), changed)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    new = self.rewrite_text(value)
                    if new != value:
                        node[i] = new
                        changed.append(path + (i,))
                else:
                    self.rewrite_tree(value, path + (i,), changed)

    def rewrite_configmap_value(self, text: str) -> tuple[str, list]:
        """A ConfigMap value: YAML (Istio's mesh config) is edited as YAML, anything else as text.

        Returns the new text and the paths changed inside the YAML ([] for plain text)."""
        if self.rewrite_text(text) == text:
            return text, []
        try:
            doc = yamlio.load(str(text))  # str(): the C parser refuses str subclasses
        except yamlio.YAMLError:
            doc = None
        if isinstance(doc, (dict, list)):
            changed: list = []
            self.rewrite_tree(doc, (), changed)
            if changed:
                dumped = yamlio.dump(doc)
                return (dumped if text.endswith("\n") else dumped.rstrip("\n")), changed
        return self.rewrite_text(text), []

    def rewrite_item(self, item) -> list[tuple[str, str]]:
        """Rewrite one item; returns (field path, what changed) for every changed field."""
        obj = item.obj
        changed: list = []
        if is_core(item, "ConfigMap") and isinstance(obj.get("data"), dict):
            data = obj["data"]
            for key, value in list(data.items()):
                if isinstance(value, str):
                    new, inner = self.rewrite_configmap_value(value)
                    if new != value:
                        data[key] = new
                        where = f" (YAML inside it: {', '.join(field_path(p) for p in inner)})" if inner else ""
                        changed.append((field_path(("data", key)), where))
            return changed
        paths: list = []
        self.rewrite_tree(obj, (), paths, skip_metadata=True)
        return [(field_path(p), "") for p in paths]


# -- mesh enrolment and the policies the move needs ----------------------------------------


def enrol(rl, tpl, config: Config) -> list[str]:
    """Set sidecar injection and the port exclusion on the auth pods; returns the keys that changed."""
    wanted = {SIDECAR_INJECT: "true" if config.sidecar else "false"}
    annotations = tpl.annotations
    if config.excludeOutboundPorts:
        current = [p.strip() for p in str(annotations.get(EXCLUDE_OUTBOUND, "")).split(",") if p.strip()]
        wanted[EXCLUDE_OUTBOUND] = ",".join(current + [p for p in config.excludeOutboundPorts if p not in current])
    old = annotations.get(SIDECAR_INJECT)
    if old is not None and str(old) != wanted[SIDECAR_INJECT]:
        warn(
            rl,
            f"pod-template annotation {SIDECAR_INJECT} was {old!r}; replaced by {wanted[SIDECAR_INJECT]!r} as "
            "configured",
            tpl.item,
            tpl.field("metadata", "annotations", SIDECAR_INJECT),
        )
    return set_template_metadata(rl, tpl, "annotations", wanted)


def pod_ports(services: list, tpl) -> list:
    """The container ports the Services send to (named targetPorts resolved)."""
    named = {
        c_port.get("name"): c_port.get("containerPort")
        for _, c in tpl.containers()
        for c_port in c.get("ports") or []
        if isinstance(c_port, dict)
    }
    ports = []
    for service in services:
        for port in (service.obj.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            target = named.get(target, target) if isinstance(target, str) else target
            if target is not None and target not in ports:
                ports.append(target)
    return ports


def network_policy_isolates(rl, namespace: str, labels: dict, ports: list) -> Optional[str]:
    """Name of a NetworkPolicy that isolates the auth pods, unless one already admits every source."""
    isolating = None
    for item in rl.items:
        if item.kind != "NetworkPolicy" or item.group != "networking.k8s.io" or item.namespace != namespace:
            continue
        spec = item.obj.get("spec") or {}
        if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]) or not selector_matches(
            spec.get("podSelector"), labels
        ):
            continue
        for rule in spec.get("ingress") or []:
            rule_ports = [p.get("port") for p in rule.get("ports") or []]
            if not rule.get("from") and (not rule_ports or all(p in rule_ports for p in ports)):
                return None
        isolating = isolating or item.name
    return isolating


def root_namespace(rl) -> str:
    """Istio's root namespace from the mesh config in the input, else Istio's default."""
    for item in rl.items:
        if is_core(item, "ConfigMap") and "rootNamespace" in (item.raw or ""):
            mesh = (item.obj.get("data") or {}).get("mesh")
            if isinstance(mesh, str):
                try:
                    value = yamlio.load(str(mesh))
                except yamlio.YAMLError:
                    continue
                if isinstance(value, dict) and value.get("rootNamespace"):
                    return str(value["rootNamespace"])
    return DEFAULT_ROOT_NAMESPACE


def authorization_denies(rl, namespace: str, labels: dict) -> Optional[str]:
    """Name of an ALLOW AuthorizationPolicy that makes the auth pods deny by default, unless one allows all."""
    scopes = {namespace, root_namespace(rl)}
    denying = None
    for item in rl.items:
        if item.kind != "AuthorizationPolicy" or item.group != "security.istio.io" or item.namespace not in scopes:
            continue
        spec = item.obj.get("spec") or {}
        if spec.get("action", "ALLOW") != "ALLOW":
            continue
        if not selector_matches({"matchLabels": (spec.get("selector") or {}).get("matchLabels")}, labels):
            continue
        if any(rule == {} for rule in spec.get("rules") or []):
            return None
        denying = denying or f"{item.namespace}/{item.name}"
    return denying


def gateway_network_policy(name, namespace, labels, ports, gateway: Gateway) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(labels)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": gateway.namespace}},
                            "podSelector": {"matchLabels": dict(gateway.labels)},
                        }
                    ],
                    "ports": [{"port": p, "protocol": "TCP"} for p in ports],
                }
            ],
        },
    }


def gateway_authorization_policy(name, namespace, labels, ports, gateway: Gateway) -> dict:
    rule = {
        "from": [{"source": {"principals": [f"{TRUST_DOMAIN}/ns/{gateway.namespace}/sa/{gateway.serviceAccount}"]}}]
    }
    if ports and all(isinstance(p, int) for p in ports):
        rule["to"] = [{"operation": {"ports": [str(p) for p in ports]}}]
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"action": "ALLOW", "selector": {"matchLabels": dict(labels)}, "rules": [rule]},
    }


def admit_gateway(rl, workload, tpl, config: Config) -> list[str]:
    """Add the policies the gateway needs to reach the auth pods in their namespace; returns what was added."""
    namespace = workload.namespace
    labels = pod_labels(workload, tpl)
    ports = pod_ports(services_selecting(rl.items, namespace, labels), tpl)
    name = f"{workload.name}-from-gateway"
    existing = {(i.kind, i.name) for i in rl.items if i.namespace == namespace}
    needed = []
    gw = config.gateway
    on_ports = f"on port {', '.join(map(str, ports))}" if ports else "on every port"
    isolating = network_policy_isolates(rl, namespace, labels, ports)
    if isolating:
        needed.append(
            (
                f"NetworkPolicy {isolating} isolates the auth pods; this admits pods labelled "
                f"{gw.labels} in namespace {gw.namespace} {on_ports}",
                gateway_network_policy(name, namespace, labels, ports, gw),
            )
        )
    denying = authorization_denies(rl, namespace, labels) if config.sidecar else None
    if denying:
        needed.append(
            (
                f"AuthorizationPolicy {denying} denies what no policy allows once the pods have a sidecar; "
                f"this allows the gateway's identity {gw.namespace}/{gw.serviceAccount} {on_ports}",
                gateway_authorization_policy(name, namespace, labels, ports, gw),
            )
        )
    added = []
    for why, obj in needed:
        if (obj["kind"], name) in existing:
            continue
        item = rl.add(obj)
        added.append(f"{obj['kind']} {namespace}/{name}")
        info(rl, f"added: {why}", item)
    return added


def warn_mesh_providers(rl, workload, tpl) -> None:
    """A CUSTOM policy's provider is defined in the mesh config: when that is not in the input (the bundled
    Istio removed), only the operator can repoint it, so say exactly what to set."""
    defined = mesh_providers.providers(mesh_providers.mesh_configs_in(rl.items))
    services = services_selecting(rl.items, workload.namespace, pod_labels(workload, tpl))
    if not services:
        return
    for name, policies in mesh_providers.custom_providers(rl.items).items():
        if name in defined:
            continue  # the input's own mesh config, rewritten with the other references
        entry = mesh_providers.one_line(mesh_providers.entry_for(name, services[0]))
        warn(
            rl,
            f"names the mesh's extension provider {name!r}, which the organisation's mesh config defines (it is "
            f"not in this input): point it at the auth service in {workload.namespace}: {entry} "
            "(kfkrm validate --mesh-config FILE checks it)",
            policies[0],
            "spec.provider.name",
            key="authservice-relocation/extension-provider",
            action=True,
        )


# -- the function --------------------------------------------------------------------------

_UNRESOLVED_VAR_ADDRESS = re.compile(r"\$\(([A-Za-z0-9_]+)\)\.\$\([A-Za-z0-9_]+\)\.svc")


def _squash(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def unresolved_var_addresses(rl, service_name: str) -> list:
    """Items that still address a Service through kustomize vars (`$(NAME).$(NAMESPACE).svc`).

    kustomize resolves vars only at the end of a build, after every transformer, and cannot
    follow a namespace that a function changed: the build then fails with "var ... cannot be
    mapped", and before that the reference could not be rewritten. Kubeflow v1.3's
    authn-filter is written this way.
    """
    wanted = _squash(service_name)
    found = []
    for item in rl.mutable_items():
        text = item.raw if item.raw is not None else repr(item.obj)
        if "$(" in text and any(wanted in _squash(m.group(1)) for m in _UNRESOLVED_VAR_ADDRESS.finditer(text)):
            found.append(item)
    return found


def move(rl, workload, tpl, new: str) -> Optional[tuple[list, int]]:
    """Move the auth service's objects to `new` and rewrite references; None on a clash."""
    old = workload.namespace
    for item in unresolved_var_addresses(rl, workload.name):
        error(
            rl,
            "addresses a Service through kustomize vars that are not resolved yet ($(...).$(...).svc): kustomize "
            "resolves "
            "vars after all transformers and cannot follow the auth service's move; run this on manifests whose vars "
            "are "
            "resolved (kpt on the rendered output, or a kustomization over a rendered file), or replace the vars first",
            item,
        )
    if rl.has_errors:
        return None
    moving, missing = objects_to_move(rl, workload, tpl)
    taken = {(i.group, i.kind, i.name): i for i in rl.items if i.namespace == new}
    clashes = [(i, taken[(i.group, i.kind, i.name)]) for i in moving if (i.group, i.kind, i.name) in taken]
    for item, other in clashes:
        error(rl, f"cannot move it to {new}: the input already has {other.ref()}", item, "metadata.namespace")
    if clashes:
        return None
    for kind, name in missing:
        warn(
            rl,
            f"its pods use {kind} {name!r}, which is not in the input; create it in {new}",
            workload,
            key="authservice-relocation/missing-object",
            action=True,
        )
    for item in moving:
        item.obj["metadata"]["namespace"] = new
        info(rl, f"moved from namespace {old} to {new}", item, "metadata.namespace")
    rewriter = ReferenceRewriter(old, new, moving)
    rewritten = 0
    for item in rl.mutable_items():
        if rewriter.might_refer(item):
            for field, detail in rewriter.rewrite_item(item):
                info(rl, f"rewrote a reference to the auth service's old location in {old}{detail}", item, field)
                rewritten += 1
            left = rewriter.unresolved(item)
            if left:
                warn(
                    rl,
                    f"still names {', '.join(left)}: no Service of that name moved, so it was left as it is; check it",
                    item,
                )
    if named_after(workload, old) and not any(i.namespace == old for i in rl.items):  # its own namespace, now empty
        emptied = [i for i in rl.mutable_items() if is_core(i, "Namespace") and i.name == old]
        rl.remove(emptied, why=f"the namespace held only the auth service, which moved to {new}")
    return moving, rewritten


def transform(rl, config: Config) -> str:
    workloads = find_auth_workloads(rl, config.workload)
    if not workloads:
        how = (
            "workload selects no workload"
            if config.workload
            else "no oidc-authservice or oauth2-proxy workload in the input"
        )
        error(rl, f"no auth service found: {how}", field="workload" if config.workload else None)
        return ""
    if len(workloads) > 1:
        error(
            rl,
            f"found several auth services ({', '.join(w.ref() for w in workloads)}); name one with workload",
            field="workload",
        )
        return ""
    workload = workloads[0]
    tpl = pod_template(workload)
    old, new = workload.namespace, config.namespace
    moved, rewritten = [], 0
    if old != new:
        outcome = move(rl, workload, tpl, new)
        if outcome is None:
            return ""
        moved, rewritten = outcome
    if not any(is_core(i, "Namespace") and i.name == new for i in rl.items):
        info(
            rl,
            f"Namespace {new} is not in the input; it must exist (with sidecar injection enabled) where this is "
            "deployed",
        )
    enrolled = enrol(rl, tpl, config)
    added = admit_gateway(rl, workload, tpl, config)
    if moved:
        warn_mesh_providers(rl, workload, tpl)
    parts = [f"auth service {workload.kind} {workload.name} in {new}"]
    parts.append(
        f"moved {len(moved)} objects from {old}, rewrote {rewritten} references" if moved else "nothing to move"
    )
    parts.append(f"set {', '.join(enrolled)}" if enrolled else "pod template already set")
    if added:
        parts.append(f"added {', '.join(added)}")
    return "; ".join(parts)
