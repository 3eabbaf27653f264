"""Routes every Kubeflow VirtualService through the organisation's gateway, with an explicit host.

Upstream Kubeflow binds its VirtualServices to its own Gateway (kubeflow/kubeflow-gateway,
written `kubeflow-gateway` or `kubeflow/kubeflow-gateway`) with the host `*`. On an
organisation's mesh they must go through the central gateway with a real host name. The
field report did this with a JSON patch listed once per VirtualService by name; this
function finds them itself: every VirtualService (networking.istio.io v1alpha3, v1beta1,
v1) with a gateway reference that Istio resolves to one of `replaceGateways` (a bare name
means the VirtualService's own namespace; `mesh` is kept), in spec.gateways and in the
gateways of its http/tls/tcp matches. On those it replaces a `*` host by `hosts` and sets
`exportTo`.

Kubeflow also names its gateway outside VirtualServices, and those are rewritten too:
the notebook and tensorboard controllers' ISTIO_GATEWAY (and their ISTIO_HOST `*`),
Knative's config-istio `gateway.<namespace>.<name>` key, and KFServing/KServe's
inferenceservice-config `ingressGateway` (KFServing 0.5's legacy `name.namespace` form is
kept as such). Any other mention of a replaced gateway is reported as a warning.

`removeUnusedGateways: true` drops the replaced Gateway objects that nothing references
afterwards. With `gatewayWorkload` set that is the default: Kubeflow's Gateway (hosts `*`,
selector `istio: ingressgateway`) would otherwise catch every host on whatever pods carry
Istio's default ingress label; `removeUnusedGateways: false` then is an error.

Kubeflow's security layer names the gateway's *workload*, not the Gateway object: its
principal, namespace, pod labels and Service (domain/gateway_identity.py lists where).
`gatewayWorkload` gives the organisation's; every such reference is rewritten, each with an
info result. Without it, each one left is an error naming what to set, unless
`gatewayWorkload: kubeflow-default` states that the organisation's gateway pods are
Kubeflow's default ones: an absent field must not mean "assume the default", because the
wrong assumption leaves Kubeflow either unreachable or reachable without login.
`localGateway` does the same for the cluster-local gateway (KServe and Knative).

On the organisation's gateway, Kubeflow's login applies to Kubeflow's `hosts` only
(domain/gateway_login.py): CUSTOM and DENY AuthorizationPolicies get the hosts in every rule;
the ext_authz EnvoyFilter of v1.3 to v1.8 becomes a host-scoped CUSTOM AuthorizationPolicy
when `istioVersion` is 1.9 or later, and is an error otherwise, unless
`gatewayWorkload.dedicated: true` says the gateway serves Kubeflow alone."""

from __future__ import annotations

import json
import re
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ..domain import gateway_identity as identity
from ..domain import gateway_login as login
from ..domain import istio_apis, mesh_providers
from ..domain.istio_refs import (
    WILDCARD_HOST,
    GatewayRef,
    gateway_lists,
    host_problem,
    is_dns_subdomain,
    is_gateway,
    is_relative,
    is_virtualservice,
    parse_config_ref,
    resolve,
    spelled_like,
)
from ..runtime.config import FunctionConfig, non_empty_when_set
from ..runtime.k8svalidation import is_dns_label
from ..runtime.kinds import is_core
from ..runtime.paths import field_path, walk_strings
from ..runtime.results import error, info, warn


class Config(FunctionConfig):
    KIND = "VirtualServiceGateway"
    FROM_CONFIGMAP = "fields"

    gateway: str = Field(..., description="the organisation's Gateway, namespace/name (e.g. istio-system/corp-gateway)")
    replaceGateways: list[str] = Field(
        ["kubeflow/kubeflow-gateway"],
        description="the Gateways (namespace/name) whose references are replaced by `gateway`",
    )
    hosts: list[str] = Field(
        [], description="host names that replace the wildcard host `*` of each changed VirtualService"
    )
    exportTo: Optional[list[str]] = Field(
        None,
        description='exportTo of each changed VirtualService ("." , "*" or namespaces); default: left as it is',
    )
    removeUnusedGateways: Optional[bool] = Field(
        None,
        description="remove replaced Gateway objects that nothing references afterwards (default: true when "
        "gatewayWorkload is set, where keeping one is an error)",
    )
    gatewayWorkload: Optional[identity.GatewayWorkloadSetting] = Field(None, description=identity.GATEWAY_WORKLOAD_HELP)
    localGateway: Optional[identity.LocalGatewaySetting] = Field(None, description=identity.LOCAL_GATEWAY_HELP)
    gatewayService: Optional[str] = Field(
        None, description="deprecated: gatewayWorkload.service (the Service of the organisation's gateway workload)"
    )
    istioVersion: Optional[str] = Field(
        None,
        description='the mesh\'s Istio minor version, quoted ("1.9"): from 1.9 on, Kubeflow\'s ext_authz EnvoyFilter '
        "becomes a CUSTOM AuthorizationPolicy limited to `hosts`",
    )

    @field_validator("istioVersion", mode="before")
    @classmethod
    def _valid_version(cls, value):
        return istio_apis.check_version_field(value)

    @field_validator("gateway")
    @classmethod
    def _valid_gateway(cls, value):
        parse_config_ref(value)
        return value

    @field_validator("replaceGateways")
    @classmethod
    def _valid_replaced(cls, values):
        if not values:
            raise ValueError("must name at least one gateway to replace (namespace/name)")
        for value in values:
            parse_config_ref(value)
        return values

    @field_validator("hosts")
    @classmethod
    def _valid_hosts(cls, hosts):
        for host in hosts:
            problem = host_problem(host)
            if problem:
                raise ValueError(problem)
        return hosts

    @field_validator("exportTo")
    @classmethod
    def _valid_export(cls, values):
        if values is not None:
            non_empty_when_set(
                values, 'must not be empty: use "." (own namespace), "*" (everywhere) or namespace names'
            )
            for value in values:
                if value not in (".", "*") and not is_dns_label(value):
                    raise ValueError(f'{value!r} is not ".", "*" or a namespace name')
        return values

    @field_validator("gatewayService")
    @classmethod
    def _valid_service(cls, value):
        if value is not None and not is_dns_subdomain(value):
            raise ValueError(
                f"{value!r} is not a Service host name (e.g. istio-ingressgateway.istio-system.svc.cluster.local)"
            )
        return value

    @model_validator(mode="after")
    def _service_once(self):
        workload = self.gatewayWorkload
        if workload == identity.KUBEFLOW_DEFAULT and self.gatewayService not in (
            None,
            identity.KUBEFLOW_GATEWAY.service,
        ):
            raise ValueError(
                f"gatewayService (deprecated) names another Service than gatewayWorkload: "
                f"{identity.KUBEFLOW_DEFAULT}; write the gateway workload out with its service"
            )
        if isinstance(workload, identity.GatewayWorkload):
            if self.gatewayService and workload.service and self.gatewayService != workload.service:
                raise ValueError(
                    "gatewayService (deprecated) and gatewayWorkload.service differ: set only gatewayWorkload.service"
                )
            if not (workload.service or self.gatewayService):
                raise ValueError(
                    "gatewayWorkload.service is required: the gateway's Service address, "
                    "e.g. acme-gw.istio-ingress.svc.cluster.local"
                )
        return self

    @model_validator(mode="after")
    def _shared_gateway_has_hosts(self):
        workload = self.gatewayWorkload
        if isinstance(workload, identity.GatewayWorkload) and not workload.dedicated and not self.hosts:
            raise ValueError(
                "hosts is required with gatewayWorkload: on a gateway shared with other applications Kubeflow's "
                "routes and login must be limited to Kubeflow's hosts (or set gatewayWorkload.dedicated: true "
                "if the gateway serves Kubeflow alone)"
            )
        return self

    @property
    def shared(self) -> bool:
        """The organisation's gateway may serve other applications (not stated dedicated)."""
        workload = self.gatewayWorkload
        return workload is not None and not (isinstance(workload, identity.GatewayWorkload) and workload.dedicated)

    @property
    def workload(self) -> Optional[identity.Workload]:
        """The organisation's gateway pods; None when not stated."""
        if self.gatewayWorkload == identity.KUBEFLOW_DEFAULT:
            return identity.KUBEFLOW_GATEWAY
        if isinstance(self.gatewayWorkload, identity.GatewayWorkload):
            return self.gatewayWorkload.workload(self.gatewayService)
        return None

    @model_validator(mode="after")
    def _gateway_not_replaced(self):
        if parse_config_ref(self.gateway) in {parse_config_ref(r) for r in self.replaceGateways}:
            raise ValueError(f"gateway {self.gateway!r} is also listed in replaceGateways")
        return self

    @property
    def target(self) -> GatewayRef:
        return parse_config_ref(self.gateway)

    @property
    def replaced(self) -> set[GatewayRef]:
        return {parse_config_ref(r) for r in self.replaceGateways}


def transform(rl, config: Config) -> str:
    target, replaced = config.target, config.replaced
    names = {ref.name for ref in replaced}
    # Every spelling of a replaced gateway contains its name: a cheap filter on the raw text.
    mentions = [i for i in rl.mutable_items() if any(n in _text(i) for n in names)]

    routed, on_target = _route_virtualservices(
        rl, config, [i for i in rl.mutable_items() if is_virtualservice(i)], mentions
    )
    if not routed:
        if on_target:
            names = ", ".join(map(str, sorted(replaced, key=str)))
            return f"nothing to do: no VirtualService references {names}; {on_target} already use {target}"
        error(
            rl,
            f"no VirtualService references any of replaceGateways ({', '.join(config.replaceGateways)}): "
            "check replaceGateways (namespace/name of the Gateway the VirtualServices name today)",
            field="replaceGateways",
        )
        return ""
    rewritten = _rewrite_kubeflow_config(rl, config, [i for i in mentions if is_core(i, "ConfigMap")])
    identities = _repoint_gateway_identity(rl, config)
    if rl.has_errors:
        return ""
    scoped = _scope_login(rl, config)
    if rl.has_errors:
        return ""
    still_named = _report_leftovers(rl, replaced, mentions)
    removed = _remove_unused_gateways(rl, config, still_named)
    if rl.has_errors:
        return ""

    if not any(is_gateway(i) and (i.namespace, i.name) == (target.namespace, target.name) for i in rl.items):
        warn(
            rl,
            f"Gateway {target} is not in the input; it is expected to exist in the organisation's mesh",
            field="gateway",
        )
    _warn_if_hidden_from_gateway(rl, config, routed)

    summary = f"routed {len(routed)} VirtualServices through {target}"
    if rewritten:
        summary += f", rewrote {rewritten} gateway references in Kubeflow config"
    if identities:
        summary += f", {identities}"
    if scoped:
        summary += f", {scoped}"
    if removed:
        summary += f", removed Gateway {', '.join(removed)}"
    return summary


# -- VirtualServices ---------------------------------------------------------------------
def _route_virtualservices(rl, config: Config, virtualservices, mentions) -> tuple[list, int]:
    """Rewrite every VirtualService that references a replaced gateway; returns (changed, already on target)."""
    target, replaced = config.target, config.replaced
    mentioned = {id(i) for i in mentions}
    routed, on_target = [], 0
    for item in virtualservices:
        if id(item) not in mentioned:
            if target.name in _text(item):
                on_target += _references(item, {target})
            continue
        vs = item.obj
        if not _references(item, replaced):
            _warn_unresolved(rl, item, replaced)
            on_target += _references(item, {target})
            continue
        changes = []
        for path, refs in gateway_lists(vs):
            new_refs = _replace_refs(refs, item.namespace, replaced, target)
            if new_refs != refs:
                changes.append(f"{field_path(path)} {refs} -> {new_refs}")
                refs[:] = new_refs
        spec = vs["spec"]
        hosts = spec.get("hosts")
        if isinstance(hosts, list) and WILDCARD_HOST in hosts:
            if config.hosts:
                spec["hosts"] = _unique(
                    h for host in hosts for h in (config.hosts if host == WILDCARD_HOST else [host])
                )
                changes.append(f"hosts {hosts} -> {spec['hosts']}")
            else:
                warn(rl, f"keeps the wildcard host * on {target} (no hosts configured)", item, "spec.hosts")
        if config.exportTo is not None and spec.get("exportTo") != config.exportTo:
            changes.append(f"exportTo {spec.get('exportTo')} -> {config.exportTo}")
            spec["exportTo"] = list(config.exportTo)
        info(rl, "; ".join(changes), item, "spec")
        routed.append(item)
    return routed, on_target


def _text(item) -> str:
    """The item as text, for cheap substring filters: its input text until it is changed."""
    return item.raw if item.raw is not None and not item.changed else repr(item.obj)


def _references(item, gateways: set) -> bool:
    return any(
        resolve(ref, item.namespace) in gateways
        for _, refs in gateway_lists(item.obj)
        for ref in refs
        if isinstance(ref, str)
    )


def _replace_refs(refs: list, namespace: str, replaced: set, target: GatewayRef) -> list:
    """The list with each replaced gateway swapped for `target` (written namespace/name), duplicates dropped."""
    return _unique(str(target) if isinstance(ref, str) and resolve(ref, namespace) in replaced else ref for ref in refs)


def _unique(values) -> list:
    out = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _warn_unresolved(rl, item, replaced: set) -> None:
    """A VirtualService without a namespace whose relative reference may mean a replaced gateway."""
    if item.namespace:
        return
    for path, refs in gateway_lists(item.obj):
        for k, ref in enumerate(refs):
            if isinstance(ref, str) and is_relative(ref) and ref.rpartition("/")[2] in {r.name for r in replaced}:
                warn(
                    rl,
                    f"gateway {ref!r} is relative to the VirtualService's namespace, which is not set: left unchanged "
                    "(set metadata.namespace before this function runs)",
                    item,
                    field_path(path + (k,)),
                )


def _warn_if_hidden_from_gateway(rl, config: Config, routed: list) -> None:
    """Istio gives a gateway proxy only the VirtualServices exported to the proxy's own namespace."""
    export = config.exportTo
    if export is None or WILDCARD_HOST in export or config.target.namespace in export:
        return
    hidden = sorted({i.namespace for i in routed if not ("." in export and i.namespace == config.target.namespace)})
    if hidden:
        warn(
            rl,
            f"exportTo {export} does not export the VirtualServices of namespaces {', '.join(hidden)} to "
            f"{config.target.namespace}: Istio applies a VirtualService at a gateway only when it is exported to the "
            f"namespace the gateway's pods run in; add \"*\" (or \"{config.target.namespace}\" where the mesh accepts "
            "namespace names in exportTo) unless the gateway's pods run in those namespaces",
            field="exportTo",
        )


# -- Kubeflow's own configuration ------------------------------------------------------------
_JSON_GATEWAY_FIELD = re.compile(r'("(ingressGateway|localGateway)"\s*:\s*")([^"\\]*)(")')
_REFERENCE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]*")
KNATIVE_CONFIG = "config-istio"
KSERVE_CONFIG = "inferenceservice-config"
KNATIVE_GATEWAY_KEYS = ("gateway", "local-gateway")


def _rewrite_kubeflow_config(rl, config: Config, configmaps: list) -> int:
    """Rewrite the gateway references in the ConfigMaps Kubeflow's components read; returns how many."""
    total = 0
    for item in configmaps:
        data = item.obj.get("data")
        if not isinstance(data, dict):
            continue
        if item.name == KNATIVE_CONFIG:
            total += _rewrite_knative_keys(rl, config, item, data)
        for key, value in list(data.items()):
            if not isinstance(value, str):
                continue
            if key in ("ISTIO_GATEWAY", "ingressGateway"):  # the controllers' env; KFServing 0.5's kustomize variable
                new = _REFERENCE_TOKEN.sub(lambda m: _swap(m.group(0), config), value)
                if new != value:
                    data[key] = new
                    total += 1
                    info(rl, f"{key}: {value} -> {new}", item, field_path(("data", key)))
                    if key == "ISTIO_GATEWAY":
                        _rewrite_controller_host(rl, config, item, data)
            elif key == "ingress" and item.name == KSERVE_CONFIG:
                total += _rewrite_kserve_ingress(rl, config, item, data, key)
    return total


def _swap(reference: str, config: Config) -> str:
    """A replaced gateway reference (namespace/name or name.namespace) written as the target in the same form."""
    if "/" not in reference and "." not in reference:
        return reference  # a bare word: no namespace to resolve it against
    return spelled_like(reference, config.target) if resolve(reference, "") in config.replaced else reference


def _rewrite_controller_host(rl, config: Config, item, data: dict) -> None:
    """The notebook/tensorboard controllers give the VirtualServices they create the host ISTIO_HOST."""
    if data.get("ISTIO_HOST") != WILDCARD_HOST:
        return
    field = field_path(("data", "ISTIO_HOST"))
    if not config.hosts:
        warn(
            rl,
            f"the VirtualServices this controller creates keep the wildcard host * on {config.target} "
            "(no hosts configured)",
            item,
            field,
        )
        return
    data["ISTIO_HOST"] = config.hosts[0]
    info(rl, f"ISTIO_HOST: * -> {config.hosts[0]}", item, field)
    if len(config.hosts) > 1:
        warn(rl, f"ISTIO_HOST takes one host: the controller's VirtualServices get {config.hosts[0]} only", item, field)


def _rewrite_knative_keys(rl, config: Config, item, data: dict) -> int:
    """Knative's config-istio names gateways in its keys: gateway.<namespace>.<name>: <gateway Service>."""
    target = config.target
    renamed = {}
    for key, value in data.items():
        prefix, _, rest = key.partition(".")
        namespace, _, name = rest.partition(".")
        if prefix in KNATIVE_GATEWAY_KEYS and GatewayRef(namespace, name) in config.replaced:
            renamed[key] = (f"{prefix}.{target.namespace}.{target.name}", value)
    if not renamed:
        return 0
    rebuilt = {}
    for key, value in data.items():
        new_key, new_value = renamed.get(key, (key, value))
        rebuilt.setdefault(new_key, new_value)
    data.clear()
    data.update(rebuilt)
    for key, (new_key, new_value) in renamed.items():
        info(rl, f"{key} -> {new_key}", item, field_path(("data", new_key)))
    return len(renamed)


def _rewrite_kserve_ingress(rl, config: Config, item, data: dict, key: str) -> int:
    """KFServing/KServe's ingress JSON: its ingressGateway, edited in the text so its layout stays."""
    value = data[key]
    swapped = []

    def swap(match):
        prefix, field, old, quote = match.groups()
        new = _swap(old, config)
        if new != old:
            swapped.append(f"{field}: {old} -> {new}")
        return prefix + new + quote

    new_value = _JSON_GATEWAY_FIELD.sub(swap, value)
    if new_value == value:
        return 0
    try:
        json.loads(new_value)
    except ValueError:
        warn(rl, f"{key} is not valid JSON after the gateway rewrite; left unchanged", item, field_path(("data", key)))
        return 0
    data[key] = new_value
    info(rl, "; ".join(swapped), item, field_path(("data", key)))
    return len(swapped)


# -- the gateway's workload identity ---------------------------------------------------------
def _repoint_gateway_identity(rl, config: Config) -> str:
    """Rewrite every reference to Kubeflow's gateway workload (and local gateway); errors when unstated."""
    if config.gatewayService:
        rl.result("gatewayService is deprecated: set gatewayWorkload.service", "warning", field="gatewayService")
    refs = identity.ingress_references(list(rl.mutable_items()))
    workload = config.workload
    done = []
    if workload is None and config.gatewayService:  # the old field alone still repoints the Service addresses
        services = [r for r in refs if r.setting == "gatewayWorkload.service"]
        identity.apply_all(rl, services, identity.Workload("", "", {}, config.gatewayService))
        refs = [r for r in refs if r not in services]
    if workload is None:
        for ref in refs:
            rl.result(
                f"names Kubeflow's own gateway workload: {ref.what}; set {ref.setting}", "error", ref.item, ref.field
            )
        if refs:
            rl.result(
                f"gatewayWorkload is not set and {len(refs)} references name Kubeflow's own gateway workload "
                f"(listed in the results) while the VirtualServices move to {config.target}: Kubeflow would be "
                "unreachable, or reachable without login; set gatewayWorkload {namespace, serviceAccount, labels, "
                f"service}}, or gatewayWorkload: {identity.KUBEFLOW_DEFAULT} if the organisation's gateway pods are "
                "Kubeflow's (istio-system, istio-ingressgateway-service-account, app: istio-ingressgateway)",
                "error",
                field="gatewayWorkload",
            )
            return ""
    elif config.gatewayWorkload != identity.KUBEFLOW_DEFAULT and refs:
        if not _moves_are_free(rl, refs, workload):
            return ""
        done.append(
            f"repointed {identity.apply_all(rl, refs, workload)} references to the gateway workload "
            f"{workload.namespace}/{workload.serviceAccount}"
        )
    local = config.localGateway
    if isinstance(local, identity.LocalGateway):
        count = identity.apply_all(rl, identity.local_references(list(rl.mutable_items())), local.workload())
        done.append(f"{count} to the local gateway {local.service}")
    return ", ".join(done)


def _moves_are_free(rl, refs, workload) -> bool:
    """A login policy moving to the gateway's namespace must not collide with one already there."""
    taken = {(i.group, i.kind, i.name) for i in rl.items if i.namespace == workload.namespace}
    ok = True
    for ref in refs:
        item = ref.item
        if ref.moves and item.namespace != workload.namespace and (item.group, item.kind, item.name) in taken:
            rl.result(
                f"cannot move it to {workload.namespace}: the input already has {item.kind} "
                f"{workload.namespace}/{item.name}",
                "error",
                item,
                "metadata.namespace",
            )
            ok = False
    return ok


# -- what is left ------------------------------------------------------------------------
def _report_leftovers(rl, replaced: set, mentions: list) -> set:
    """Warn about every remaining namespace-qualified mention of a replaced gateway; returns those still named."""
    spellings = {}
    for ref in replaced:
        for text in (
            f"{ref.namespace}/{ref.name}",
            f"{ref.name}.{ref.namespace}",
            f"gateway.{ref.namespace}.{ref.name}",
        ):
            spellings[text] = ref
    still_named = set()
    for item in mentions:
        if not any(s in _text(item) for s in spellings):
            continue
        for path, _, _, text in walk_strings(item.obj, keys=True):
            for spelling, ref in spellings.items():
                if _mentions(text, spelling):
                    still_named.add(ref)
                    warn(
                        rl,
                        f"names the replaced gateway {ref} ({spelling!r}); left unchanged: rewrite it yourself",
                        item,
                        field_path(path),
                    )
                    break
    return still_named


def _mentions(text: str, spelling: str) -> bool:
    """`spelling` occurs in `text` as a whole reference, not inside a longer name."""
    return re.search(r"(?<![A-Za-z0-9-])" + re.escape(spelling) + r"(?![A-Za-z0-9-])", text) is not None


def _remove_unused_gateways(rl, config: Config, still_named: set) -> list[str]:
    """Remove each replaced Gateway object that no VirtualService or config names any more: when
    asked, and by default with gatewayWorkload set (an unused catch-all Gateway must not stay
    silently; keeping it then is an error naming removeUnusedGateways)."""
    remove = config.removeUnusedGateways
    if remove is None:
        remove = config.gatewayWorkload is not None
    removable = []
    for item in rl.mutable_items():
        if not is_gateway(item):
            continue
        ref = GatewayRef(item.namespace, item.name)
        if ref not in config.replaced:
            continue
        users = [vs.ref() for vs in rl.items if is_virtualservice(vs) and vs.loaded and _references(vs, {ref})]
        selector = (item.obj.get("spec") or {}).get("selector")
        if users or ref in still_named:
            if remove or config.gatewayWorkload is not None:
                warn(rl, f"still referenced ({', '.join(users) or 'see the warnings above'}); kept", item)
            continue
        if remove:
            removable.append(item)
        elif config.gatewayWorkload is not None:
            error(
                rl,
                f"no VirtualService uses it any more, yet it would stay: a Gateway for hosts "
                f"{_gateway_hosts(item)} on the pods labelled "
                f"{selector}, which are no longer Kubeflow's gateway (gatewayWorkload); set removeUnusedGateways: "
                "true (the default), or remove it yourself",
                item,
                "spec.selector",
            )
    rl.remove(removable, why=f"replaced by {config.target} and no longer referenced")
    return [f"{i.namespace}/{i.name}" for i in removable]


def _gateway_hosts(item) -> list:
    return [h for s in (item.obj.get("spec") or {}).get("servers") or [] for h in (s or {}).get("hosts") or []]


# -- Kubeflow's login on the organisation's gateway -----------------------------------------
def _scope_login(rl, config: Config) -> str:
    """Limit every login-enforcing object on the organisation's gateway to `hosts`; convert or refuse
    what cannot be limited (docs/functions/virtualservice-gateway.md#login-on-a-shared-gateway)."""
    workload = config.workload
    if workload is None:
        return ""
    objects = login.login_objects(list(rl.mutable_items()), workload)
    hosts = config.hosts
    scoped = converted = 0
    dedicated = not config.shared
    for item in objects:
        if item.kind == "AuthorizationPolicy":
            if hosts:
                fields = login.scope_policy(item, hosts)
                if fields:
                    scoped += 1
                    info(
                        rl,
                        f"limited to Kubeflow's hosts {login.host_values(hosts)} (it is on the organisation's "
                        f"gateway {workload.namespace} {workload.labels})",
                        item,
                        ", ".join(fields),
                    )
            elif not dedicated:
                warn(rl, _any_host(item, workload, "its rules name no host and no hosts are configured"), item, "spec")
        elif item.kind == "RequestAuthentication":
            if not dedicated:
                warn(
                    rl,
                    "cannot be limited to Kubeflow's hosts (RequestAuthentication has no host field) and stays on the "
                    f"organisation's gateway {workload.namespace} {workload.labels}: a request to any host of that "
                    "gateway carrying a bearer token of another issuer is rejected with 401 \"Jwt issuer is not "
                    "configured\" (istio/istio#24371, #48244); requests without a token pass. Set "
                    "gatewayWorkload.dedicated: true if the gateway serves Kubeflow alone",
                    item,
                    "spec.jwtRules",
                )
        elif not dedicated:
            converted += _convert_envoy_filter(rl, config, item, workload)
    summary = []
    if scoped:
        summary.append(f"limited {scoped} login policies to {', '.join(hosts)}")
    if converted:
        summary.append(f"converted {converted} ext_authz EnvoyFilter into a CUSTOM AuthorizationPolicy")
    return ", ".join(summary)


def _any_host(item, workload, why: str) -> str:
    return (
        f"applies to every host of the organisation's gateway {workload.namespace} {workload.labels}: {why}; "
        "set hosts, or gatewayWorkload.dedicated: true if the gateway serves Kubeflow alone"
    )


def _convert_envoy_filter(rl, config: Config, item, workload) -> int:
    """An EnvoyFilter on a shared gateway acts on every host: the ext_authz one becomes a host-scoped
    CUSTOM AuthorizationPolicy where the mesh's Istio has CUSTOM (1.9+); anything else is an error."""
    authz = login.ext_authz(item)
    default = config.gatewayWorkload == identity.KUBEFLOW_DEFAULT
    if authz is not None and config.hosts and login.supports_custom(config.istioVersion):
        taken = any(
            i.kind == "AuthorizationPolicy" and i.namespace == workload.namespace and i.name == item.name
            for i in rl.items
        )
        if taken:
            error(rl, f"cannot convert it: AuthorizationPolicy {workload.namespace}/{item.name} already exists", item)
            return 0
        policy = rl.add(login.custom_policy(item, authz, workload, config.hosts))
        rl.remove([item])
        entry = login.provider_entry(authz)
        info(
            rl,
            f"replaced by AuthorizationPolicy {workload.namespace}/{item.name} (action CUSTOM, provider "
            f"{login.PROVIDER}), limited to Kubeflow's hosts: the EnvoyFilter put ext_authz into every HTTP filter "
            f"chain of the gateway, for every host; Istio {config.istioVersion} has CUSTOM. Set in the organisation's "
            f"mesh config: {mesh_providers.one_line(entry)}",
            policy,
            "spec.provider",
        )
        return 1
    what = "sends every request of every host of the gateway to Kubeflow's auth service (ext_authz)"
    if authz is None:
        what = "patches the Envoy configuration of the gateway for every host"
    if authz is None:
        how = "remove it (RemoveIstio remove:)"
    elif config.istioVersion is not None and config.hosts:
        how = (
            f"istioVersion {config.istioVersion} has no CUSTOM action (Istio 1.9+), into which it would become a "
            "CUSTOM AuthorizationPolicy limited to hosts"
        )
    else:
        how = "set hosts and istioVersion (1.9 or later: it becomes a CUSTOM AuthorizationPolicy limited to hosts)"
    message = (
        f"is on the organisation's gateway {workload.namespace} {workload.labels} and cannot be limited to "
        f"Kubeflow's hosts: it {what}; {how}, or set gatewayWorkload.dedicated: true if the gateway serves "
        "Kubeflow alone"
    )
    if default:  # kubeflow-default cannot say dedicated: the old arrangement, loudly
        warn(
            rl,
            message.replace("set gatewayWorkload.dedicated: true", "write gatewayWorkload out with dedicated: true"),
            item,
            "spec.configPatches",
        )
    else:
        error(rl, message, item, "spec.configPatches")
    return 0
