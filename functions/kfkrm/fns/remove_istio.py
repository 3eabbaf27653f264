"""Removes the Istio installation that upstream Kubeflow bundles and keeps Kubeflow's own
Istio configuration, so that Kubeflow runs on the organisation's existing mesh.

Istio's objects are recognised by what Istio's installers put on them, as found in the
install manifests of both shared Kubeflow versions (Istio 1.9 and 1.26): the labels
`operator.istio.io/component` and `install.operator.istio.io/owning-resource` (istioctl),
`app.kubernetes.io/part-of: istio` and `release: istio` (Istio's Helm charts), and
`istio.io/rev` on objects in istio-system; and Istio's CRDs by their `*.istio.io` names.
That covers istiod, the ingress and cluster-local gateways (Deployments, Services, HPAs,
PDBs), their RBAC and ServiceAccounts, the injector and validation webhooks, Istio's
ConfigMaps and EnvoyFilters, the CNI DaemonSet and the CRDs.

Kubeflow also writes a few objects of its own into its Istio folders. Each is decided by a
documented rule (docs/functions/remove-istio.md; each result gives the reason); `keep` and `remove`
override any decision. Every other object of an Istio API group (VirtualServices,
AuthorizationPolicies, DestinationRules, the auth EnvoyFilter, ...) is Kubeflow's and is
kept. An unmarked object living in istio-system cannot be classified: it is kept, with a
warning. With `istioVersion`, each Istio object left is checked against the API versions
and fields that Istio version serves (see istio_apis.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

from pydantic import Field, field_validator

from ..domain import gateway_identity as identity
from ..domain import istio_apis, mesh_wide
from ..runtime.config import FunctionConfig
from ..runtime.k8svalidation import NamespaceName
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.resourcelist import Item
from ..runtime.results import error, info, warn
from ..runtime.selectors import SelectorTerm

ISTIO_NAMESPACE = "istio-system"
CRD_GROUP = "apiextensions.k8s.io"


@dataclass(frozen=True)
class KubeflowObject:
    """An object Kubeflow itself writes into its Istio folders, and what to do with it."""

    group: str
    kind: str
    namespace: str
    name: str
    remove: bool
    why: str

    def matches(self, item: Item) -> bool:
        return (
            item.kind == self.kind
            and item.name == self.name
            and item.namespace == self.namespace
            and item.group == self.group
        )

    def ref(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


_GATEWAY_CATCH_ALL = (
    "Kubeflow re-adds it because istioctl stopped generating it (its Istio README); no VirtualService "
    "or config of Kubeflow references it, and its pod selector would open a '*' port-80 server on the "
    "organisation's own gateway pods that carry the same labels"
)
_OPENS_FOR_DENY_ALL = (
    "it only exists to let traffic through global-deny-all; in istio-system (the mesh's root namespace) "
    "it applies to the matching gateway pods of the whole mesh"
)

KUBEFLOW_OBJECTS: tuple[KubeflowObject, ...] = (
    KubeflowObject(
        "",
        "Namespace",
        "",
        ISTIO_NAMESPACE,
        True,
        "the mesh's own namespace, which the organisation's mesh already has; applying Kubeflow's copy "
        "would relabel it (istio-injection: disabled; v1.10 also pod-security enforce: restricted)",
    ),
    KubeflowObject(
        "networking.istio.io",
        "Gateway",
        ISTIO_NAMESPACE,
        "istio-ingressgateway",
        True,
        "the catch-all Gateway of the bundled ingress gateway: " + _GATEWAY_CATCH_ALL,
    ),
    KubeflowObject(
        "networking.istio.io",
        "Gateway",
        ISTIO_NAMESPACE,
        "cluster-local-gateway",
        True,
        "the catch-all Gateway of the bundled cluster-local gateway: " + _GATEWAY_CATCH_ALL,
    ),
    KubeflowObject(
        "security.istio.io",
        "AuthorizationPolicy",
        ISTIO_NAMESPACE,
        "istio-ingressgateway",
        True,
        "allows all traffic to the ingress gateway pods: " + _OPENS_FOR_DENY_ALL,
    ),
    KubeflowObject(
        "security.istio.io",
        "AuthorizationPolicy",
        ISTIO_NAMESPACE,
        "cluster-local-gateway",
        True,
        "allows all traffic to the cluster-local gateway pods: " + _OPENS_FOR_DENY_ALL,
    ),
    KubeflowObject(
        "networking.istio.io",
        "EnvoyFilter",
        ISTIO_NAMESPACE,
        "x-forwarded-host",
        True,
        "a Lua filter its own comment says is needed for the Rok gateway, which Kubeflow does not ship; "
        "it would patch every 'istio: ingressgateway' gateway of the mesh; Kubeflow v1.10 dropped it",
    ),
    KubeflowObject(
        "networking.istio.io",
        "Gateway",
        "kubeflow",
        "kubeflow-gateway",
        False,
        "Kubeflow's own gateway, which every Kubeflow VirtualService names",
    ),
    KubeflowObject(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "",
        "kubeflow-istio-admin",
        False,
        "Kubeflow's RBAC that lets profile users manage Istio objects",
    ),
    KubeflowObject(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "",
        "kubeflow-istio-edit",
        False,
        "Kubeflow's RBAC that lets profile users manage Istio objects",
    ),
    KubeflowObject(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "",
        "kubeflow-istio-view",
        False,
        "Kubeflow's RBAC that lets profile users read Istio objects",
    ),
)

# Labels Istio's installers put on what they install: (label, required value or None = any).
INSTALL_LABELS: tuple[tuple[str, Optional[str], str], ...] = (
    ("operator.istio.io/component", None, "istioctl"),
    ("install.operator.istio.io/owning-resource", None, "istioctl"),
    ("app.kubernetes.io/part-of", "istio", "Istio's Helm charts"),
    ("release", "istio", "Istio's Helm charts"),
)
REVISION_LABEL = "istio.io/rev"


class Config(FunctionConfig):
    KIND = "RemoveIstio"
    FROM_CONFIGMAP = "fields"

    keep: list[SelectorTerm] = Field(
        default_factory=list,
        description="objects never removed, whatever their classification (also silences the warning for "
        "an unclassified object)",
    )
    remove: list[SelectorTerm] = Field(default_factory=list, description="objects removed in addition")
    istioVersion: Optional[str] = Field(
        None,
        description='the organisation\'s Istio minor version, e.g. "1.6": a warning for each Istio API '
        "version or field in the output that it does not serve",
    )

    localGateway: Optional[identity.LocalGatewaySetting] = Field(None, description=identity.LOCAL_GATEWAY_HELP)
    rootNamespace: NamespaceName = Field(
        mesh_wide.ROOT_NAMESPACE,
        description="the mesh's root namespace (MeshConfig rootNamespace): Istio config there with no selector "
        "applies to the whole mesh and is removed (keep one to keep it, with a warning)",
    )

    @field_validator("istioVersion", mode="before")
    @classmethod
    def _valid_version(cls, value):
        return istio_apis.check_version_field(value)


@dataclass
class Decision:
    remove: bool
    why: str
    category: str  # "istio" | "kubeflow-folder" | "config" | "kubeflow-istio-config" | "unclassified"


def classify(item: Item, root_namespace: str = mesh_wide.ROOT_NAMESPACE) -> Optional[Decision]:
    """What to do with an item by the rules alone (no config); None: not Istio's business."""
    for entry in KUBEFLOW_OBJECTS:
        if entry.matches(item):
            verb = "removed" if entry.remove else "kept"
            return Decision(
                entry.remove,
                f"Kubeflow's object in its Istio folder, {verb} by default: {entry.why}",
                "kubeflow-folder",
            )
    mark = install_mark(item)
    if mark:
        return Decision(True, f"part of the bundled Istio installation ({mark})", "istio")
    if mesh_wide.is_mesh_wide(item, root_namespace):
        return Decision(
            True,
            f"mesh-wide Istio configuration, not Kubeflow's to set on a shared mesh: "
            f"{mesh_wide.effect(item, root_namespace)}",
            "mesh-wide",
        )
    if istio_apis.is_istio_group(item.group):
        return Decision(False, "Kubeflow's Istio configuration", "kubeflow-istio-config")
    if item.namespace == ISTIO_NAMESPACE:
        return Decision(
            False,
            f"in {ISTIO_NAMESPACE} without Istio's install labels, so neither clearly Istio's "
            "nor Istio configuration; kept (list it under keep or remove to decide)",
            "unclassified",
        )
    return None


def install_mark(item: Item) -> Optional[str]:
    """The install mark Istio's installers left on the item, described; None when there is none."""
    if item.kind == "CustomResourceDefinition" and item.group == CRD_GROUP and item.name.endswith(".istio.io"):
        return f"CustomResourceDefinition of Istio's API group {item.name.split('.', 1)[1]}"
    labels = item.labels
    for label, value, installer in INSTALL_LABELS:
        if label in labels and (value is None or str(labels[label]) == value):
            shown = f"{label}: {labels[label]}"
            return f"labelled {shown} by {installer}"
    if item.namespace == ISTIO_NAMESPACE and item.kind != "Namespace" and REVISION_LABEL in labels:
        return f"labelled {REVISION_LABEL}: {labels[REVISION_LABEL]}, a control-plane object of that Istio revision"
    return None


def transform(rl, config: Config) -> str:
    keep_hits, remove_hits = Counter(), Counter()
    to_remove: dict[str, list[Item]] = {}
    counts = Counter()
    for item in rl.mutable_items():
        keep = [i for i, term in enumerate(config.keep) if term.matches(item)]
        remove = [i for i, term in enumerate(config.remove) if term.matches(item)]
        keep_hits.update(keep)
        remove_hits.update(remove)
        if keep and remove:
            error(rl, f"matches both keep[{keep[0]}] and remove[{remove[0]}]; decide one", item)
            continue
        decision = local_gateway_decision(item, config.localGateway) or classify(item, config.rootNamespace)
        if keep:
            if decision is not None and decision.category == "mesh-wide":
                warn(rl, f"kept (keep[{keep[0]}]) although it applies to the whole mesh: {decision.why}", item)
            elif decision is not None and decision.remove:
                info(rl, f"kept (keep[{keep[0]}]); by default it would be removed: {decision.why}", item)
            decision = Decision(False, "", "config")
        elif remove:
            decision = Decision(True, f"listed under remove[{remove[0]}]", "config")
        if decision is None:
            continue
        counts[(decision.category, decision.remove)] += 1
        if decision.remove:
            to_remove.setdefault(decision.why, []).append(item)
        elif decision.category == "unclassified":
            warn(rl, decision.why, item)
        elif decision.category in ("kubeflow-folder", "local-gateway"):
            rl.result(decision.why, "info", item)
    # Kubeflow's Istio config without Istio's install: already adapted (a second run).
    adapted = not counts[("istio", True)] and counts[("kubeflow-istio-config", False)]
    for field, terms, hits in (("keep", config.keep, keep_hits), ("remove", config.remove, remove_hits)):
        for i in range(len(terms)):
            if not hits[i]:
                rl.result(
                    f"{field}[{i}] matches nothing in the input"
                    + ("; the Istio installation is already removed" if adapted else ""),
                    "info" if adapted else "warning",
                    field=f"{field}[{i}]",
                )
    if not rl.has_errors:
        check_local_gateway(rl, config, [i for items in to_remove.values() for i in items])
    if rl.has_errors:
        return ""
    removed = sum(rl.remove(items, why=why) for why, items in to_remove.items())
    if adapted:
        rl.result(
            "nothing to remove: no object of an Istio installation in the input, only Kubeflow's Istio "
            "configuration; already removed",
            "info",
        )
    elif not counts[("istio", True)]:
        rl.result("no object of an Istio installation found in the input; nothing of Istio's removed", "warning")
    checked = check_istio_version(rl, config.istioVersion) if config.istioVersion else ""
    return (
        f"removed {removed} objects: {counts[('istio', True)]} of the Istio installation, "
        f"{counts[('kubeflow-folder', True)]} of Kubeflow's from its Istio folder, "
        f"{counts[('mesh-wide', True)]} mesh-wide, {counts[('config', True)]} listed "
        f"under remove; kept {counts[('kubeflow-istio-config', False)]} Istio config objects of Kubeflow, "
        f"{counts[('config', False)]} listed under keep, {counts[('unclassified', False)]} unclassified{checked}"
        + (
            f"; kept {counts[('local-gateway', False)]} objects of the cluster-local gateway"
            if counts[("local-gateway", False)]
            else ""
        )
    )


# -- the cluster-local gateway (KServe's and Knative's in-mesh route) ------------------------------


def local_gateway_decision(item: Item, setting) -> Optional[Decision]:
    """`localGateway: keep` keeps Kubeflow's cluster-local gateway add-on; the organisation's own local
    gateway replaces Kubeflow's Service for it (which selects the cluster-local gateway pods)."""
    if setting is None or not identity.is_local_gateway_object(item):
        return None
    if setting == identity.KEEP:
        return Decision(
            False,
            "Kubeflow's cluster-local gateway, kept as an add-on on the organisation's mesh (localGateway: keep)",
            "local-gateway",
        )
    if item.kind == "Service" and item.group == "" and install_mark(item) is None:
        return Decision(
            True,
            f"Kubeflow's Service for its cluster-local gateway: the organisation's local gateway "
            f"{setting.service} replaces it (localGateway)",
            "local-gateway",
        )
    return None


def check_local_gateway(rl, config: Config, removing: list) -> None:
    """Never leave a Service selecting nothing, nor KServe/Knative routing through a removed local gateway."""
    gone = {id(i) for i in removing}
    removed_pods = [pod_template(i) for i in removing if has_pod_template(i)]
    if not removed_pods:
        return
    kept_pods = [pod_template(i) for i in rl.items if id(i) not in gone and has_pod_template(i)]
    hint = (
        "set localGateway: keep (Kubeflow's cluster-local gateway stays) or the organisation's local gateway "
        "{namespace, labels, service} (profile: mesh.localGateway)"
    )
    local_removed = [t.item for t in removed_pods if t and identity.is_local_gateway_object(t.item)]
    for service in rl.mutable_items():
        if service.kind != "Service" or service.group != "" or id(service) in gone:
            continue
        selector = identity.service_selects_nothing(service, [t for t in kept_pods if t])
        if selector is None:
            continue
        owners = [
            t.item.ref()
            for t in removed_pods
            if t and t.item.namespace == service.namespace and identity.selects(selector, t.labels)
        ]
        if not owners:
            continue
        message = (
            f"is kept but selects only the pods of {', '.join(owners)}, which this removes: it would select nothing"
        )
        if config.localGateway is None and identity.is_local_gateway_object(service):
            rl.result(
                f"{message}; KServe and Knative route through it inside the mesh: {hint}",
                "error",
                service,
                "spec.selector",
            )
        else:
            rl.result(f"{message}; remove it (remove:) or keep those pods (keep:)", "warning", service, "spec.selector")
    if isinstance(config.localGateway, identity.LocalGateway) and local_removed:
        refs = identity.local_references(list(rl.mutable_items()))
        if refs:
            for ref in refs:
                rl.result(
                    f"names Kubeflow's cluster-local gateway ({ref.what}): VirtualServiceGateway's localGateway "
                    "(the profile's mesh.localGateway) repoints it",
                    "info",
                    ref.item,
                    ref.field,
                )
    if config.localGateway is None and local_removed:
        for ref in identity.local_references(list(rl.mutable_items())):
            rl.result(
                f"names Kubeflow's cluster-local gateway ({ref.what}), which this removes "
                f"({', '.join(i.ref() for i in local_removed)}): {hint}",
                "error",
                ref.item,
                ref.field,
            )


def check_istio_version(rl, version: str) -> str:
    """Warn about each Istio API version or field left in the output that `version` does not serve."""
    minor = istio_apis.parse_minor(version)
    newer = istio_apis.newer_than_table(version)
    if newer:
        rl.result(newer, "warning", field="istioVersion")
    problems = 0
    for item in rl.mutable_items():
        if not istio_apis.is_istio_group(item.group):
            continue
        entry = istio_apis.kind_entry(item.group, item.version, item.kind)
        if entry is None:
            info(
                rl,
                f"{item.api_version} {item.kind} is not in kfkrm's Istio API table; not checked against "
                f"Istio {version}",
                item,
                "apiVersion",
            )
            continue
        if not entry.served_by(minor):
            problems += 1
            span = f"served from {istio_apis.format_minor(entry.since)}"
            if entry.removed:
                span += f" until {istio_apis.format_minor(entry.removed)}"
            warn(
                rl,
                f"Istio {version} does not serve {item.api_version} {item.kind} ({span}; {entry.source})",
                item,
                "apiVersion",
            )
        for where, field in istio_apis.newer_fields(minor, item.group, item.kind, item.obj):
            problems += 1
            what = f"{where}: {field.value}" if field.value else where
            warn(
                rl,
                f"Istio {version} does not know {what} (since {istio_apis.format_minor(field.since)}; {field.source})",
                item,
                where,
            )
    return f"; {problems} Istio {version} compatibility warnings"
