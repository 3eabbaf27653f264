"""Where Kubeflow names the identity of its own ingress and cluster-local gateways.

Moving Kubeflow's VirtualServices onto the organisation's Gateway is not enough: Kubeflow's
security layer names the *workload* behind its gateway, not the Gateway object. Found in
the rendered v1.3.0, v1.7.0 and v1.10 manifests:

- the gateway pods' mesh identity, the SPIFFE principal
  `cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account`: ALLOW
  AuthorizationPolicies in kubeflow (v1.7+), and the profile controller's
  ISTIO_INGRESS_GATEWAY_PRINCIPAL (v1.10), which it writes into every user namespace;
- the gateway's namespace: AuthorizationPolicy `source.namespaces: [istio-system]`
  (ml-pipeline-ui, v1.3 and v1.7) and NetworkPolicy peers whose namespaceSelector names
  istio-system (v1.10, eleven of them in kubeflow);
- the gateway pods' labels (`app: istio-ingressgateway`, `istio: ingressgateway`): the
  objects that enforce login at the gateway, which live in istio-system and select the
  gateway pods (v1.10: the CUSTOM `istio-ingressgateway-oauth2-proxy` and DENY
  `istio-ingressgateway-require-jwt` AuthorizationPolicies and the `dex-jwt`
  RequestAuthentication; v1.3/v1.7: the `authn-filter` EnvoyFilter). A policy only applies
  to pods its selector matches in its own namespace (in the root namespace: in every
  namespace), so on another gateway they select nothing and Kubeflow is reachable without
  login while the ALLOW policies still match;
- the gateway's Service address `istio-ingressgateway.istio-system.svc.cluster.local`:
  Knative's config-istio `gateway.*` values and KServe's inferenceservice-config
  `ingressService`.

The cluster-local gateway (KServe's and Knative's in-mesh route) is named the same way:
the Services `cluster-local-gateway.istio-system` (v1.3) and `knative-local-gateway.istio-system`
(v1.6 on; it selects the cluster-local-gateway pods), Knative's `local-gateway.*` keys
(absent on v1.7+, where net-istio's default, documented in its `_example`, points at
knative-local-gateway), KServe's `localGatewayService`, and the Gateway objects outside
istio-system that select the cluster-local gateway pods.

One walker finds these references and, given the organisation's workload, rewrites them,
so that the error listing (no workload configured) and the rewrite never disagree. The
bundled Istio installation itself (its Deployments, Services, ServiceAccounts, RBAC,
mesh config in istio-system) is the gateway, not a reference to it, and is left to
RemoveIstio. `_example` ConfigMap keys are Knative's documentation, not configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal, Optional, Union

from pydantic import Field, field_validator

from ..runtime.config import Model
from ..runtime.k8svalidation import NamespaceName, check_labels
from ..runtime.paths import field_path

ISTIO_NAMESPACE = "istio-system"
TRUST_DOMAIN = "cluster.local"
EXAMPLE_KEY = "_example"  # Knative's documentation block in its ConfigMaps


@dataclass(frozen=True)
class Workload:
    """A gateway's pods: where they run, their ServiceAccount, labels and Service address."""

    namespace: str
    serviceAccount: str
    labels: dict
    service: str

    @property
    def principal(self) -> str:
        return f"{TRUST_DOMAIN}/ns/{self.namespace}/sa/{self.serviceAccount}"


KUBEFLOW_GATEWAY = Workload(
    ISTIO_NAMESPACE,
    "istio-ingressgateway-service-account",
    {"app": "istio-ingressgateway", "istio": "ingressgateway"},
    "istio-ingressgateway.istio-system.svc.cluster.local",
)
KUBEFLOW_LOCAL_GATEWAY_LABELS = {"app": "cluster-local-gateway", "istio": "cluster-local-gateway"}
KUBEFLOW_LOCAL_GATEWAY_SERVICES = ("cluster-local-gateway", "knative-local-gateway")
KUBEFLOW_LOCAL_GATEWAY_ACCOUNT = "cluster-local-gateway-service-account"
KNATIVE_CONFIG = ("knative-serving", "config-istio")
KNATIVE_DEFAULT_LOCAL_GATEWAY = ("knative-serving", "knative-local-gateway")
KNATIVE_DEFAULT_LOCAL_SERVICE = "knative-local-gateway.istio-system.svc.cluster.local"

_PRINCIPAL = re.compile(r"(?<![\w.-])(?P<td>[\w.-]+)/ns/istio-system/sa/istio-ingressgateway-service-account(?![\w.-])")
_SERVICE = re.compile(r"(?<![\w.-])istio-ingressgateway\.istio-system(?:\.svc(?:\.cluster\.local)?)?(?![\w-])")
_LOCAL_SERVICE = re.compile(
    r"(?<![\w.-])(?:cluster-local-gateway|knative-local-gateway)\.istio-system(?:\.svc(?:\.cluster\.local)?)?(?![\w-])"
)
_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Istio config kinds that attach to workloads by selector and enforce something at the gateway.
_SELECTING_KINDS = {
    ("security.istio.io", "AuthorizationPolicy"): ("spec", "selector", "matchLabels"),
    ("security.istio.io", "RequestAuthentication"): ("spec", "selector", "matchLabels"),
    ("networking.istio.io", "EnvoyFilter"): ("spec", "workloadSelector", "labels"),
}
_MARKERS = ("istio-system", "ingressgateway")
_LOCAL_MARKERS = ("cluster-local-gateway", "knative-local-gateway")


@dataclass
class Reference:
    """One place that names a gateway's identity, and how to repoint it."""

    item: object
    field: str
    what: str  # what it names today, for the message
    setting: str  # the gatewayWorkload / localGateway field that decides its new value
    apply: Callable[[Workload], str] = field(repr=False)  # rewrites in place; returns the new value, described
    moves: bool = False  # the rewrite moves the object into the gateway's namespace

    def describe(self) -> str:
        return f"{self.item.ref()} {self.field}: {self.what}"


def selects(selector, labels: dict) -> bool:
    """A non-empty label map whose every pair the pods labelled `labels` carry."""
    return (
        isinstance(selector, dict) and bool(selector) and all(str(labels.get(k)) == str(v) for k, v in selector.items())
    )


def is_login_policy(item) -> bool:
    """Istio config that enforces something on the gateway pods it selects (ALLOW policies excepted:
    the bundled gateway's allow-all one belongs to the bundled installation)."""
    path = _SELECTING_KINDS.get((item.group, item.kind))
    if path is None:
        return False
    spec = item.obj.get("spec") or {}
    return not (item.kind == "AuthorizationPolicy" and spec.get("action", "ALLOW") == "ALLOW")


def _get(node, path):
    for key in path:
        if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            node = node.get(key) if isinstance(node, dict) else None
    return node


# -- the settings (shared by VirtualServiceGateway, RemoveIstio and the profile) -------------

KUBEFLOW_DEFAULT = "kubeflow-default"  # gatewayWorkload: the organisation's gateway pods are Kubeflow's default ones
KEEP = "keep"  # localGateway: Kubeflow's cluster-local gateway stays, as an add-on on the organisation's mesh
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _labels(labels: dict) -> dict:
    if not labels:
        raise ValueError("must name at least one label of the gateway pods")
    return check_labels(labels)


def _service(value):
    if value is not None and not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a Service address (e.g. acme-gw.istio-ingress.svc.cluster.local)")
    return value


class GatewayWorkload(Model):
    """The organisation's ingress gateway pods: every reference Kubeflow makes to its own is repointed here."""

    namespace: NamespaceName = Field(..., description="the namespace the gateway pods run in")
    serviceAccount: str = Field(
        ..., description="their ServiceAccount: the principal cluster.local/ns/NAMESPACE/sa/THIS"
    )
    labels: dict[str, str] = Field(..., description="labels the gateway pods carry (the login policies select them)")
    service: Optional[str] = Field(
        None, description="the gateway's Service address, e.g. acme-gw.istio-ingress.svc.cluster.local"
    )
    dedicated: bool = Field(
        False,
        description="true: these gateway pods serve Kubeflow alone, so Kubeflow's login objects that cannot be "
        "limited to its hosts (an ext_authz EnvoyFilter, a RequestAuthentication) may stay on them",
    )

    @field_validator("serviceAccount")
    @classmethod
    def _account(cls, value):
        if not _DNS_SUBDOMAIN.match(value):
            raise ValueError(f"{value!r} is not a ServiceAccount name")
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value):
        return _labels(value)

    @field_validator("service")
    @classmethod
    def _valid_service(cls, value):
        return _service(value)

    def workload(self, service: Optional[str] = None) -> Workload:
        return Workload(self.namespace, self.serviceAccount, dict(self.labels), self.service or service or "")


class LocalGateway(Model):
    """The organisation's cluster-local gateway: KServe's and Knative's in-mesh route."""

    namespace: NamespaceName = Field(..., description="the namespace its pods run in")
    labels: dict[str, str] = Field(..., description="labels its pods carry (Knative's local Gateway selects them)")
    service: str = Field(..., description="its Service address, e.g. local-gw.istio-ingress.svc.cluster.local")

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value):
        return _labels(value)

    @field_validator("service")
    @classmethod
    def _valid_service(cls, value):
        return _service(value)

    def workload(self) -> Workload:
        return Workload(self.namespace, "", dict(self.labels), self.service)


GatewayWorkloadSetting = Union[Literal["kubeflow-default"], GatewayWorkload]
LocalGatewaySetting = Union[Literal["keep"], LocalGateway]
GATEWAY_WORKLOAD_HELP = (
    "the organisation's gateway pods {namespace, serviceAccount, labels, service}: every reference Kubeflow makes to "
    "its own ingress gateway's identity is repointed there; `kubeflow-default` states that they are Kubeflow's "
    "(istio-system, istio-ingressgateway-service-account, app: istio-ingressgateway)"
)
LOCAL_GATEWAY_HELP = (
    "`keep` (Kubeflow's cluster-local gateway stays, as an add-on on the organisation's mesh) or the organisation's "
    "cluster-local gateway {namespace, labels, service}, where KServe's and Knative's local-gateway settings "
    "then point"
)


# -- the ingress gateway -------------------------------------------------------------------


def ingress_references(items, skip: Callable = lambda item: False) -> list[Reference]:
    """Every reference to Kubeflow's ingress gateway identity in `items` (pass rl.mutable_items(): local
    config is never rewritten), except those `skip`ped."""
    refs: list[Reference] = []
    for item in items:
        text = item.raw if item.raw is not None and not item.changed else None
        if text is not None and not any(m in text for m in _MARKERS):
            continue
        if skip(item):
            continue
        if item.namespace == ISTIO_NAMESPACE:
            refs += _login_policy_refs(item)
            continue
        if text is None or "istio-ingressgateway" in text:  # principals and Service addresses spell it out
            refs += _string_refs(item)
        if item.kind == "AuthorizationPolicy" and item.group == "security.istio.io":
            refs += _source_namespace_refs(item)
        elif item.kind == "NetworkPolicy" and item.group == "networking.k8s.io":
            refs += _network_policy_refs(item)
    return refs


def _login_policy_refs(item) -> list[Reference]:
    path = _SELECTING_KINDS.get((item.group, item.kind))
    if path is None or not is_login_policy(item):
        return []
    selector = _get(item.obj, path)
    if not selects(selector, KUBEFLOW_GATEWAY.labels):
        return []

    def apply(w: Workload) -> str:
        parent = _get(item.obj, path[:-1])
        parent[path[-1]] = dict(w.labels)
        item.obj["metadata"]["namespace"] = w.namespace
        return f"moved to namespace {w.namespace}, {field_path(path)} {w.labels}"

    return [
        Reference(
            item,
            field_path(path),
            f"selects the gateway pods {selector} in {ISTIO_NAMESPACE}",
            "gatewayWorkload.namespace and .labels",
            apply,
            moves=True,
        )
    ]


def _walk_strings(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_strings(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_strings(value, path + (i,))
    elif isinstance(node, str):
        yield path, node


def _setter(obj, path):
    def put(value):
        parent = _get(obj, path[:-1])
        parent[path[-1]] = value

    return put


def _string_refs(item) -> list[Reference]:
    """Principals and Service addresses in any string (ConfigMap values, env, policy rules)."""
    refs = []
    for path, text in _walk_strings(item.obj, ()):
        if path[:1] == ("metadata",) or path[:2] == ("data", EXAMPLE_KEY):
            continue
        for pattern, what, setting, new in (
            (
                _PRINCIPAL,
                "the gateway's principal",
                "gatewayWorkload.namespace and .serviceAccount",
                lambda m, w: f"{m['td']}/ns/{w.namespace}/sa/{w.serviceAccount}",
            ),
            (_SERVICE, "the gateway's Service", "gatewayWorkload.service", lambda m, w: w.service),
        ):
            found = pattern.search(text)
            if found:
                refs.append(_text_ref(item, path, pattern, new, f"{what} {found.group(0)}", setting))
    return refs


def _text_ref(item, path, pattern, new, what, setting) -> Reference:
    put = _setter(item.obj, path)

    def apply(w: Workload) -> str:
        text = _get(item.obj, path)
        replacement = new(pattern.search(text), w)
        put(pattern.sub(lambda m: new(m, w), text))
        return replacement

    return Reference(item, field_path(path), what, setting, apply)


def _source_namespace_refs(item) -> list[Reference]:
    refs = []
    for i, rule in enumerate(_get(item.obj, ("spec", "rules")) or []):
        for j, peer in enumerate((rule or {}).get("from") or []):
            source = (peer or {}).get("source") or {}
            for key in ("namespaces", "notNamespaces"):
                values = source.get(key)
                if isinstance(values, list) and ISTIO_NAMESPACE in values:
                    path = ("spec", "rules", i, "from", j, "source", key)

                    def apply(w, values=values):
                        values[:] = list(dict.fromkeys(w.namespace if v == ISTIO_NAMESPACE else v for v in values))
                        return str(values)

                    refs.append(
                        Reference(
                            item,
                            field_path(path),
                            f"the gateway's namespace {ISTIO_NAMESPACE}",
                            "gatewayWorkload.namespace",
                            apply,
                        )
                    )
    return refs


def _network_policy_refs(item) -> list[Reference]:
    refs = []
    for i, rule in enumerate(_get(item.obj, ("spec", "ingress")) or []):
        for j, peer in enumerate((rule or {}).get("from") or []):
            if not isinstance(peer, dict):
                continue
            base = ("spec", "ingress", i, "from", j)
            selector = peer.get("namespaceSelector")
            if isinstance(selector, dict):
                refs += _namespace_selector_refs(item, selector, base + ("namespaceSelector",))
            pods = _get(peer, ("podSelector", "matchLabels"))
            if selects(pods, KUBEFLOW_GATEWAY.labels):

                def apply(w, peer=peer):
                    peer["podSelector"]["matchLabels"] = dict(w.labels)
                    return str(w.labels)

                refs.append(
                    Reference(
                        item,
                        field_path(base + ("podSelector", "matchLabels")),
                        f"the gateway pods' labels {pods}",
                        "gatewayWorkload.labels",
                        apply,
                    )
                )
    return refs


def _namespace_selector_refs(item, selector: dict, path: tuple) -> list[Reference]:
    refs = []
    labels = selector.get("matchLabels")
    if isinstance(labels, dict) and labels.get(_NAMESPACE_NAME_LABEL) == ISTIO_NAMESPACE:

        def apply(w, labels=labels):
            labels[_NAMESPACE_NAME_LABEL] = w.namespace
            return w.namespace

        refs.append(
            Reference(
                item,
                field_path(path + ("matchLabels", _NAMESPACE_NAME_LABEL)),
                f"the gateway's namespace {ISTIO_NAMESPACE}",
                "gatewayWorkload.namespace",
                apply,
            )
        )
    for k, expr in enumerate(selector.get("matchExpressions") or []):
        if (
            isinstance(expr, dict)
            and expr.get("key") == _NAMESPACE_NAME_LABEL
            and expr.get("operator") == "In"
            and ISTIO_NAMESPACE in (expr.get("values") or [])
        ):

            def apply(w, expr=expr):
                expr["values"] = list(dict.fromkeys(w.namespace if v == ISTIO_NAMESPACE else v for v in expr["values"]))
                return str(expr["values"])

            refs.append(
                Reference(
                    item,
                    field_path(path + ("matchExpressions", k, "values")),
                    f"the gateway's namespace {ISTIO_NAMESPACE}",
                    "gatewayWorkload.namespace",
                    apply,
                )
            )
    return refs


# -- the cluster-local gateway ---------------------------------------------------------------


def local_references(items) -> list[Reference]:
    """Every reference to Kubeflow's cluster-local gateway outside istio-system: Service addresses,
    Gateways selecting its pods, and Knative's implicit default local gateway."""
    refs: list[Reference] = []
    items = list(items)  # pass rl.mutable_items()
    gateways = set()
    for item in items:
        if item.raw is not None and not item.changed and not any(m in item.raw for m in _LOCAL_MARKERS):
            continue
        if item.namespace == ISTIO_NAMESPACE:
            continue
        if item.kind == "Gateway" and item.group == "networking.istio.io":
            selector = _get(item.obj, ("spec", "selector"))
            if selects(selector, KUBEFLOW_LOCAL_GATEWAY_LABELS):
                gateways.add((item.namespace, item.name))

                def apply(w, item=item):
                    item.obj["spec"]["selector"] = dict(w.labels)
                    return str(w.labels)

                refs.append(
                    Reference(
                        item,
                        "spec.selector",
                        f"selects the cluster-local gateway pods {selector}",
                        "localGateway.labels",
                        apply,
                    )
                )
            continue
        for path, text in _walk_strings(item.obj, ()):
            if path[:1] == ("metadata",) or path[:2] == ("data", EXAMPLE_KEY):
                continue
            found = _LOCAL_SERVICE.search(text)
            if found:
                refs.append(
                    _text_ref(
                        item,
                        path,
                        _LOCAL_SERVICE,
                        lambda m, w: w.service,
                        f"the cluster-local gateway's Service {found.group(0)}",
                        "localGateway.service",
                    )
                )
    if KNATIVE_DEFAULT_LOCAL_GATEWAY in gateways:
        refs += _knative_default_local(items)
    return refs


def _knative_default_local(items) -> list[Reference]:
    """net-istio (v1.7+) uses knative-serving/knative-local-gateway -> knative-local-gateway.istio-system
    when config-istio sets no local gateway: an implicit reference, made explicit when repointed."""
    for item in items:
        if item.raw is not None and KNATIVE_CONFIG[1] not in item.raw:
            continue
        if (item.namespace, item.name) == KNATIVE_CONFIG and item.kind == "ConfigMap" and item.group == "":
            data = item.obj.get("data")
            if not isinstance(data, dict):
                data = None
            keys = [k for k in (data or {}) if k.startswith("local-gateway.") or k == "local-gateways"]
            if keys:
                return []
            key = "local-gateway.{}.{}".format(*KNATIVE_DEFAULT_LOCAL_GATEWAY)

            def apply(w, item=item, key=key):
                if not isinstance(item.obj.get("data"), dict):
                    item.obj["data"] = {}
                item.obj["data"][key] = w.service
                return w.service

            return [
                Reference(
                    item,
                    field_path(("data", key)),
                    f"unset: Knative's default local gateway Service {KNATIVE_DEFAULT_LOCAL_SERVICE}",
                    "localGateway.service",
                    apply,
                )
            ]
    return []


def is_local_gateway_object(item) -> bool:
    """Part of Kubeflow's cluster-local gateway add-on in istio-system: its workload, ServiceAccount,
    RBAC, autoscaling, Services, Gateway and allow policy (named or labelled cluster-local-gateway,
    or a Service selecting its pods)."""
    if item.namespace != ISTIO_NAMESPACE:
        return False
    own_labels = {k: v for k, v in item.labels.items() if k in KUBEFLOW_LOCAL_GATEWAY_LABELS}
    if item.name.startswith("cluster-local-gateway") or selects(own_labels, KUBEFLOW_LOCAL_GATEWAY_LABELS):
        return True
    if item.kind == "Service" and item.group == "":
        return selects(_get(item.obj, ("spec", "selector")), KUBEFLOW_LOCAL_GATEWAY_LABELS)
    return False


def apply_all(rl, refs: list[Reference], workload: Workload) -> int:
    """Rewrite every reference, each reported as an info result naming the object and the field."""
    for ref in refs:
        new = ref.apply(workload)
        rl.result(f"{ref.what} -> {new}", "info", ref.item, ref.field)
    return len(refs)


def iter_descriptions(refs: list[Reference]) -> Iterator[str]:
    for ref in refs:
        yield ref.describe()


def service_selects_nothing(service, pod_templates) -> Optional[dict]:
    """The selector of a Service no pod template in its namespace matches (None if it selects something)."""
    selector = _get(service.obj, ("spec", "selector"))
    if not isinstance(selector, dict) or not selector:
        return None
    for tpl in pod_templates:
        if tpl.item.namespace == service.namespace and selects(selector, tpl.labels):
            return None
    return selector
