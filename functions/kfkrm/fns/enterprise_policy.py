"""A validator: checks the final manifests against the organisation's platform rules and
changes nothing. Each violation is an error result naming the resource, the field and the
rule, so a render that silently did nothing (an exec function skipped by kustomize, a
selector typo, a new image in a new Kubeflow release) fails loudly.

Rules (each one is checked only when its section is set):

* registry (`allowedRegistries`): every image reference, embedded ones included (the
  finder ImageProxy uses), lies under an allowed registry;
* mesh (`meshNamespaces`): every pod template there gets a sidecar: the pod label
  sidecar.istio.io/inject, else the pod annotation, else its Namespace's istio-injection
  or istio.io/rev label in the stream decides;
* gateway and host (`allowedGateways`): every gateway a VirtualService names resolves (as
  Istio resolves it) to an allowed Gateway or is `mesh`; no VirtualService has the host "*";
* forbid (`forbid`): no object matches these selector terms (the bundled Argo, Istio); an
  object named by `generateName` matches a name glob when any name the API server can
  generate from it does;
* auth (`authService`): the auth service (found as AuthServiceRelocation finds it) runs in
  the namespace, the objects its pods use are there, and every address
  (`svc.ns[.svc...]`) and SPIFFE principal naming it points there;
* istio (`istioVersion`): every Istio API version and field is served by that Istio;
* mesh-wide (`meshRootNamespace`): no Istio configuration in the mesh's root namespace without
  a selector (Sidecar, EnvoyFilter, PeerAuthentication, AuthorizationPolicy, RequestAuthentication,
  Telemetry, WasmPlugin, ProxyConfig): it would apply to the whole mesh (domain/mesh_wide.py);
* kubernetes (`kubernetesVersion`): every object's apiVersion is served by that Kubernetes
  release (domain/kubernetes_apis.py, from Kubernetes' deprecated API migration guide);
* footprint (`footprint`): every object that acts beyond Kubeflow's own namespaces
  (domain/footprint.py: CRDs, cluster roles and bindings, webhooks, mesh-wide Istio config,
  login objects on a gateway, ...) matches one of `footprint.allow`: the platform team
  approves the footprint once, and whatever an upgrade adds fails;
* login (`loginConsistency: true`): the login's consumers agree (domain/login.py): the auth
  service's issuer and the mesh's token check, the user id header and the user id prefix of
  the auth service, the profile controller, KFAM, the dashboard, KFP and the web apps;
* integrity (`integrity: true`): every reference between objects (domain/references.py:
  Service selectors, routes, webhook services, bindings, service accounts, Istio policy
  selectors and principals, ...) points at something in the render or declared by the
  organisation (`allowedGateways`, `gatewayWorkload`, `localGateway`); given a baseline
  (the unadapted render: `kfkrm validate --baseline`, or the profile's own input) only the
  references the adaptation broke.

An exemption (a selector term, a rule and a reason) turns a violation into an info result;
one without a reason is a config error, one that exempts nothing is a warning."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..domain import footprint as footprint_domain
from ..domain import istio_apis, kubernetes_apis, login, mesh_wide, references
from ..domain.authservice import find_auth_workloads, objects_to_move
from ..domain.generated_names import could_match, generate_name
from ..domain.images import find_images, is_registry_path, normalise_prefix, under, unparsable_images
from ..domain.istio_refs import (
    WILDCARD_HOST,
    is_virtualservice,
    parse_config_ref,
    virtualservice_gateway_refs,
)
from ..domain.pod_metadata import injection
from ..runtime.config import FunctionConfig, Model, non_empty_when_set
from ..runtime.k8svalidation import DNS_LABEL_PATTERN, NamespaceName
from ..runtime.kinds import is_core
from ..runtime.paths import field_path, walk_strings
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.resourcelist import Item
from ..runtime.results import error, info
from ..runtime.selectors import SelectorTerm, select

REGISTRY, MESH, GATEWAY, HOST, FORBID, AUTH, ISTIO = "registry", "mesh", "gateway", "host", "forbid", "auth", "istio"
INTEGRITY, FOOTPRINT, KUBERNETES, LOGIN, MESH_WIDE = "integrity", "footprint", "kubernetes", "login", "mesh-wide"
RULES = (REGISTRY, MESH, GATEWAY, HOST, FORBID, AUTH, ISTIO, MESH_WIDE, KUBERNETES, LOGIN, FOOTPRINT, INTEGRITY)
Rule = Literal[
    "registry",
    "mesh",
    "gateway",
    "host",
    "forbid",
    "auth",
    "istio",
    "mesh-wide",
    "kubernetes",
    "login",
    "footprint",
    "integrity",
]


class AuthService(Model):
    namespace: NamespaceName = Field(..., description="the namespace the auth service must run in")
    workload: Optional[SelectorTerm] = Field(
        None, description="the auth service's workload, when it is neither oidc-authservice nor oauth2-proxy"
    )


class DeclaredWorkload(Model):
    """Gateway pods the organisation runs outside the render: the integrity rule counts
    references to them (selectors, principals, their Service and namespace) as present."""

    namespace: NamespaceName = Field(..., description="where the gateway pods run")
    serviceAccount: Optional[str] = Field(
        None, description="their ServiceAccount (principal cluster.local/ns/NAMESPACE/sa/NAME)"
    )
    labels: Optional[dict[str, str]] = Field(None, description="their pod labels")
    service: Optional[str] = Field(
        None, description="their Service's host, e.g. acme-gw.istio-ingress.svc.cluster.local"
    )


class PlatformObject(Model):
    """An object the organisation provides outside the render (a credentials Secret it manages):
    the integrity rule counts references to it as present."""

    kind: str = Field(..., description="its kind, e.g. Secret")
    name: str = Field(..., description="its name")
    namespace: Optional[str] = Field(None, description="its namespace (absent: present in every namespace)")


class Footprint(Model):
    """The approved footprint: what the render may do beyond Kubeflow's own namespaces."""

    allow: list[SelectorTerm] = Field(
        default_factory=list,
        description="objects whose footprint (kfkrm footprint: CRDs, cluster roles, bindings, webhooks, mesh-wide "
        "Istio config, gateway login, ...) is approved; any other finding is a violation",
    )
    rootNamespace: NamespaceName = Field(
        footprint_domain.ISTIO_NAMESPACE,
        description="the mesh's root namespace (meshConfig.rootNamespace), where selector-less Istio config is "
        "mesh-wide",
    )


class Exemption(SelectorTerm):
    """Objects (selector term) that one rule does not apply to, and why."""

    rule: Rule = Field(..., description="the rule the objects are exempt from: " + ", ".join(RULES))
    reason: str = Field(..., description="why: kept in the results as the audit trail")

    @field_validator("reason")
    @classmethod
    def _says_why(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("must say why the objects are exempt (an empty reason is not accepted)")
        return reason


class Config(FunctionConfig):
    KIND = "EnterprisePolicy"

    allowedRegistries: Optional[list[str]] = Field(
        None,
        description="every image reference, embedded ones included, lies under one of these (host, optionally with a "
        "path)",
    )
    meshNamespaces: Optional[list[NamespaceName]] = Field(
        None,
        description="every pod template in these namespaces has sidecar injection on (pod label, pod annotation or "
        "namespace label)",
    )
    allowedGateways: Optional[list[str]] = Field(
        None, description='every VirtualService names only these Gateways (namespace/name) or mesh, and no "*" host'
    )
    forbid: list[SelectorTerm] = Field(
        default_factory=list, description="no object may match any of these selector terms"
    )
    authService: Optional[AuthService] = Field(
        None, description="the auth service runs in this namespace, with its objects, and every reference to it agrees"
    )
    istioVersion: Optional[str] = Field(
        None,
        description='the mesh\'s Istio minor version, e.g. "1.6": an Istio API version or field it does not serve is '
        'a violation',
    )
    meshRootNamespace: Optional[NamespaceName] = Field(
        None,
        description="the mesh's root namespace (istio-system by default in Istio): Istio config there with no "
        "selector applies to the whole mesh and is a violation",
    )
    kubernetesVersion: Optional[str] = Field(
        None,
        description='the cluster\'s Kubernetes minor version, e.g. "1.31": an apiVersion it no longer serves is a '
        "violation",
    )
    footprint: Optional[Footprint] = Field(
        None,
        description="everything the render does beyond Kubeflow's own namespaces is approved in footprint.allow",
    )
    loginConsistency: Optional[bool] = Field(
        None,
        description="the login's consumers agree on the issuer, the user id header and the user id prefix",
    )
    integrity: Optional[bool] = Field(
        None,
        description="every reference between objects points at something (with a baseline: none the adaptation broke)",
    )
    gatewayWorkload: Optional[DeclaredWorkload] = Field(
        None,
        description="the organisation's ingress gateway pods: the integrity rule counts references to them as present",
    )
    localGateway: Optional[DeclaredWorkload] = Field(
        None,
        description="the organisation's cluster-local gateway pods: the same, for KServe's and Knative's local gateway",
    )
    baselineNamespaces: dict[str, str] = Field(
        default_factory=dict,
        description="old: new, when the render moved namespaces since its baseline (namespace-relocation): "
        "a reference that dangled into the old namespace is the same one dangling into the new",
    )
    platformObjects: list[PlatformObject] = Field(
        default_factory=list,
        description="objects the organisation provides outside the render (e.g. a credentials "
        "Secret): the integrity rule counts references to them as present",
    )
    exemptions: list[Exemption] = Field(
        default_factory=list, description="objects exempt from one rule, each with a reason"
    )

    @field_validator("allowedRegistries")
    @classmethod
    def _valid_registries(cls, registries):
        if registries is not None:
            non_empty_when_set(registries, "must name at least one registry when set")
            for entry in registries:
                if not is_registry_path(entry):
                    raise ValueError(
                        f"{entry!r} is not a registry host with an optional path (e.g. registry.corp.example.com/proxy)"
                    )
        return registries

    @field_validator("meshNamespaces")
    @classmethod
    def _some_namespaces(cls, namespaces):
        return non_empty_when_set(namespaces, "must name at least one namespace when set")

    @field_validator("allowedGateways")
    @classmethod
    def _valid_gateways(cls, gateways):
        if gateways is not None:
            non_empty_when_set(gateways, "must name at least one Gateway when set (mesh is always allowed)")
            for entry in gateways:
                parse_config_ref(entry)
        return gateways

    @field_validator("istioVersion", mode="before")
    @classmethod
    def _valid_version(cls, value):
        return istio_apis.check_version_field(value)

    @field_validator("kubernetesVersion", mode="before")
    @classmethod
    def _valid_kubernetes_version(cls, value):
        if value is None:
            return None
        if isinstance(value, float):
            raise ValueError(f"{value!r}: quote the version (\"1.30\"), YAML reads 1.30 as the number 1.3")
        kubernetes_apis.parse_minor(value)
        return str(value)

    @model_validator(mode="after")
    def _some_rule(self):
        if all(getattr(self, name) in (None, [], False) for name in RULE_SECTIONS.values()):
            raise ValueError("sets no rule: set at least one of " + ", ".join(dict.fromkeys(RULE_SECTIONS.values())))
        for name in ("gatewayWorkload", "localGateway"):
            if getattr(self, name) is not None and not self.integrity:
                raise ValueError(f"{name} is only used with integrity: true")
        return self


# The config section that enables each rule.
RULE_SECTIONS = {
    REGISTRY: "allowedRegistries",
    MESH: "meshNamespaces",
    GATEWAY: "allowedGateways",
    HOST: "allowedGateways",
    FORBID: "forbid",
    AUTH: "authService",
    ISTIO: "istioVersion",
    MESH_WIDE: "meshRootNamespace",
    KUBERNETES: "kubernetesVersion",
    FOOTPRINT: "footprint",
    LOGIN: "loginConsistency",
    INTEGRITY: "integrity",
}


@dataclass
class Violation:
    rule: str
    item: Optional[Item]  # None for a violation of the whole input (e.g. no auth service)
    field: Optional[str]
    message: str
    exemption: Optional[int] = None  # index of the exemption that waives it


@dataclass
class Report:
    """What a check found: violations (exempted ones included), and per rule what was checked."""

    violations: list[Violation] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # rule -> number of things checked
    unused_exemptions: list[int] = field(default_factory=list)
    as_in_baseline: Optional[int] = None  # integrity: dangling references the baseline has too (not violations)

    @property
    def failures(self) -> list[Violation]:
        return [v for v in self.violations if v.exemption is None]

    def counts(self) -> dict[str, int]:
        """Violations (not exempted) per rule, in the order of RULES."""
        counts = {}
        for v in self.failures:
            counts[v.rule] = counts.get(v.rule, 0) + 1
        return {rule: counts[rule] for rule in RULES if rule in counts}


# -- the rules -------------------------------------------------------------------------------


def check_registries(items: list[Item], allowed: list[str]) -> Iterator[Violation]:
    prefixes = [normalise_prefix(a) for a in allowed]
    for found in find_images(items, embedded=True):
        if not any(under(found.ref.repository, p) for p in prefixes):
            at = f" ({found.inner})" if found.inner else ""
            yield Violation(
                REGISTRY,
                found.item,
                found.field,
                f"image {found.ref.text}{at} is not from an allowed registry ({', '.join(allowed)})",
            )
    for item, where, value in unparsable_images(items):
        yield Violation(REGISTRY, item, where, f"image {value!r} is not a valid image reference")


def check_mesh(items: list[Item], namespaces: list[str], report: Report) -> Iterator[Violation]:
    wanted = set(namespaces)
    namespace_labels = {i.name: i.labels for i in items if is_core(i, "Namespace") and i.name in wanted}
    checked = 0
    for item in items:
        if item.namespace not in wanted or item.is_local_config or not has_pod_template(item):
            continue
        tpl = pod_template(item)
        if tpl is None:
            continue
        checked += 1
        injected, why, where = injection(tpl, namespace_labels.get(item.namespace))
        if not injected:
            yield Violation(MESH, item, where, f"no sidecar in mesh namespace {item.namespace}: {why}")
    report.checked[MESH] = checked


def check_gateways(items: list[Item], allowed: list[str], report: Report) -> Iterator[Violation]:
    allowed_refs = {parse_config_ref(a) for a in allowed}
    shown = ", ".join(allowed) + ", mesh"
    checked = 0
    for item in items:
        if item.is_local_config or not is_virtualservice(item):
            continue
        checked += 1
        for where, written, gateway in virtualservice_gateway_refs(item.obj, item.namespace):
            if written == "mesh" or gateway in allowed_refs:
                continue
            resolved = f" (Gateway {gateway})" if gateway and str(gateway) != written else ""
            if gateway is None:
                resolved = " (relative to a namespace the object does not have)"
            yield Violation(GATEWAY, item, where, f"gateway {written!r}{resolved} is not allowed; allowed: {shown}")
        hosts = (item.obj.get("spec") or {}).get("hosts")
        for i, host in enumerate(hosts if isinstance(hosts, list) else []):
            if host == WILDCARD_HOST:
                yield Violation(
                    HOST, item, f"spec.hosts[{i}]", 'wildcard host "*": a VirtualService must name its hosts'
                )
    report.checked[GATEWAY] = report.checked[HOST] = checked


def check_forbidden(items: list[Item], terms: list[SelectorTerm]) -> Iterator[Violation]:
    for i, term in enumerate(terms):
        for item in select(items, [term]):
            yield Violation(FORBID, item, None, f"forbidden object (forbid[{i}]: {_term_text(term)})")
        if term.name is None:
            continue  # without a name glob, generateName changes nothing: select() saw the object
        unnamed = term.model_copy(update={"name": None})
        for item in select(items, [unnamed]):
            prefix = generate_name(item.metadata)
            if prefix is not None and could_match(term.name, prefix):
                yield Violation(
                    FORBID,
                    item,
                    "metadata.generateName",
                    f"forbidden object (forbid[{i}]: {_term_text(term)}): the API server names it "
                    f"{prefix!r} + 5 random characters, which the name glob can match",
                )


def _term_text(term: SelectorTerm) -> str:
    return ", ".join(f"{k}={v}" for k, v in term.model_dump(exclude_none=True).items())


def check_auth_service(rl, auth: AuthService, report: Report, provided=()) -> Iterator[Violation]:
    """The auth service is found as AuthServiceRelocation finds it (by image, or `workload`);
    `provided`: the platformObjects, which the organisation provides outside the render."""
    workloads = find_auth_workloads(rl, auth.workload)
    report.checked[AUTH] = len(workloads)
    if not workloads:
        how = (
            "authService.workload selects no workload"
            if auth.workload
            else "no oidc-authservice or oauth2-proxy workload in the input"
        )
        yield Violation(AUTH, None, "authService", f"no auth service found: {how}")
        return
    wanted = auth.namespace
    for workload in workloads:
        tpl = pod_template(workload)
        own, missing = objects_to_move(rl, workload, tpl)
        for item in own:
            if item.namespace != wanted:
                yield Violation(
                    AUTH,
                    item,
                    "metadata.namespace",
                    f"the auth service's {item.kind} is in namespace {item.namespace}, not {wanted}",
                )
        for kind, name in missing:
            if any(o.kind == kind and o.name == name and o.namespace in (None, workload.namespace) for o in provided):
                continue
            elsewhere = [
                i.namespace for i in rl.items if i.kind == kind and i.name == name and i.namespace != workload.namespace
            ]
            where = f"it is in {', '.join(elsewhere)}" if elsewhere else "it is not in the input"
            yield Violation(
                AUTH,
                workload,
                None,
                f"its pods use {kind} {name!r}, which is not in namespace {workload.namespace}: {where}",
            )
        yield from _stale_auth_references(rl, own, wanted)


def _stale_auth_references(rl, own: list, wanted: str) -> Iterator[Violation]:
    """Addresses of the auth service's Services and principals of its ServiceAccount that
    name another namespace than `wanted`."""
    services = sorted({i.name for i in own if is_core(i, "Service")}, key=len, reverse=True)
    accounts = sorted({i.name for i in own if is_core(i, "ServiceAccount")}, key=len, reverse=True)
    patterns = []
    if services:
        patterns.append(
            re.compile(
                rf"(?<![\w.-])(?:{'|'.join(map(re.escape, services))})"
                rf"\.(?P<ns>{DNS_LABEL_PATTERN})(?=\.svc\b|(?![\w.-]))"
            )
        )
    if accounts:
        patterns.append(
            re.compile(
                rf"(?<![\w.-])ns/(?P<ns>{DNS_LABEL_PATTERN})/sa/(?:{'|'.join(map(re.escape, accounts))})(?![\w.-])"
            )
        )
    markers = services + accounts
    for item in rl.items:
        if item.is_local_config or (item.raw is not None and not any(m in item.raw for m in markers)):
            continue
        if item.raw is not None and not any(p.search(item.raw) for p in patterns):
            continue
        for parts, _, _, text in walk_strings(item.obj):
            if parts[:1] == ("metadata",):
                continue
            for pattern in patterns:
                for m in pattern.finditer(text):
                    if m["ns"] != wanted:
                        yield Violation(
                            AUTH,
                            item,
                            field_path(parts),
                            f"names the auth service as {m.group(0)!r}, in namespace {m['ns']}, not {wanted}",
                        )


def check_login(items: list[Item], report: Report) -> Iterator[Violation]:
    report.checked[LOGIN] = sum(1 for _ in login.settings(items))
    for setting, message in login.disagreements(items):
        yield Violation(LOGIN, setting.item, setting.field, message)


def check_istio_version(items: list[Item], version: str, report: Report) -> Iterator[Violation]:
    minor = istio_apis.parse_minor(version)
    checked = 0
    for item in items:
        if item.is_local_config or not istio_apis.is_istio_group(item.group):
            continue
        entry = istio_apis.kind_entry(item.group, item.version, item.kind)
        if entry is None:
            continue  # reported by check() as an info result: the table does not know it
        checked += 1
        if not entry.served_by(minor):
            span = f"served from {istio_apis.format_minor(entry.since)}"
            if entry.removed:
                span += f" until {istio_apis.format_minor(entry.removed)}"
            yield Violation(
                ISTIO,
                item,
                "apiVersion",
                f"Istio {version} does not serve {item.api_version} {item.kind} ({span}; {entry.source})",
            )
        for where, api_field in istio_apis.newer_fields(minor, item.group, item.kind, item.obj):
            what = f"{where}: {api_field.value}" if api_field.value else where
            yield Violation(
                ISTIO,
                item,
                where,
                f"Istio {version} does not know {what} "
                f"(since {istio_apis.format_minor(api_field.since)}; {api_field.source})",
            )
    report.checked[ISTIO] = checked


def check_mesh_wide(items: list[Item], root: str, report: Report) -> Iterator[Violation]:
    checked = 0
    for item in items:
        if item.is_local_config or item.namespace != root or not istio_apis.is_istio_group(item.group):
            continue
        checked += 1
        if mesh_wide.is_mesh_wide(item, root):
            yield Violation(MESH_WIDE, item, "spec", mesh_wide.effect(item, root))
    report.checked[MESH_WIDE] = checked


def check_kubernetes_version(items: list[Item], version: str, report: Report) -> Iterator[Violation]:
    minor = kubernetes_apis.parse_minor(version)
    live = [i for i in items if not i.is_local_config]
    report.checked[KUBERNETES] = len(live)
    for item in live:
        gone = kubernetes_apis.removal(item.api_version, item.kind, minor)
        if gone is not None:
            yield Violation(KUBERNETES, item, "apiVersion", f"Kubernetes {version}: {gone.describe()}")


def check_footprint(items: list[Item], config: Config, report: Report) -> Iterator[Violation]:
    rule = config.footprint
    assert rule is not None
    gateways = [w.labels for w in (config.gatewayWorkload, config.localGateway) if w is not None and w.labels]
    live = [i for i in items if not i.is_local_config]
    found = footprint_domain.footprint(live, footprint_domain.context(live, rule.rootNamespace, gateways))
    report.checked[FOOTPRINT] = len(found)
    for f in found:
        if not any(term.matches(f.item) for term in rule.allow):
            yield Violation(FOOTPRINT, f.item, f.field, f"[{f.cls}] {f.reason}; not in footprint.allow")


def declared(config: Config) -> references.Declared:
    """What the organisation's platform holds outside the render, from the policy's settings."""
    gateways = {(g.namespace, g.name) for g in map(parse_config_ref, config.allowedGateways or [])}
    workloads = [
        references.Workload(w.namespace, w.serviceAccount, tuple(sorted((w.labels or {}).items())), w.service)
        for w in (config.gatewayWorkload, config.localGateway)
        if w is not None
    ]
    objects = {(o.kind, o.namespace or "*", o.name) for o in config.platformObjects}
    return references.Declared(gateways, workloads, objects)


def integrity_baseline(items: list[Item], config: Config):
    """The references that already dangle in `items` (the unadapted render), for `check`'s baseline."""
    return references.relocated(references.baseline(items, declared(config)), config.baselineNamespaces)


def check_integrity(items: list[Item], config: Config, baseline, report: Report) -> Iterator[Violation]:
    found, total = references.dangling(items, declared(config))
    if baseline is not None:
        found, report.as_in_baseline = references.new_dangling(found, baseline)
    report.checked[INTEGRITY] = total
    tail = " (broken by the adaptation: it does not dangle so in the baseline)" if baseline is not None else ""
    for ref in found:
        yield Violation(INTEGRITY, ref.source, ref.field, references.problem(ref) + tail)


def unknown_istio_kinds(items: list[Item]) -> list[Item]:
    return [
        i
        for i in items
        if not i.is_local_config
        and istio_apis.is_istio_group(i.group)
        and istio_apis.kind_entry(i.group, i.version, i.kind) is None
    ]


# -- the validator -----------------------------------------------------------------------------


def check(rl, config: Config, baseline=None) -> Report:
    """Every violation of `config` in `rl.items`, exemptions applied. Reads, never changes.
    `baseline` (from `integrity_baseline`): the integrity rule reports only references that
    do not dangle the same way there."""
    report = Report()
    items = rl.items
    found: list[Violation] = []
    if config.allowedRegistries:
        found += check_registries(items, config.allowedRegistries)
    if config.meshNamespaces:
        found += check_mesh(items, config.meshNamespaces, report)
    if config.allowedGateways:
        found += check_gateways(items, config.allowedGateways, report)
    if config.forbid:
        found += check_forbidden(items, config.forbid)
    if config.authService:
        found += check_auth_service(rl, config.authService, report, config.platformObjects)
    if config.istioVersion:
        found += check_istio_version(items, config.istioVersion, report)
    if config.meshRootNamespace:
        found += check_mesh_wide(items, config.meshRootNamespace, report)
    if config.kubernetesVersion:
        found += check_kubernetes_version(items, config.kubernetesVersion, report)
    if config.footprint is not None:
        found += check_footprint(items, config, report)
    if config.loginConsistency:
        found += check_login(items, report)
    if config.integrity:
        found += check_integrity(items, config, baseline, report)
    used = set()
    for violation in found:
        for i, exemption in enumerate(config.exemptions):
            if exemption.rule == violation.rule and violation.item is not None and exemption.matches(violation.item):
                violation.exemption = i
                used.add(i)
                break
    report.violations = found
    report.unused_exemptions = [i for i in range(len(config.exemptions)) if i not in used]
    return report


def add_results(rl, config: Config, report: Report) -> None:
    """The report as results: an error per violation, an info per exempted one, a warning
    per exemption that exempts nothing, an info per Istio kind the version table lacks."""
    for v in report.violations:
        if v.exemption is None:
            error(rl, f"[{v.rule}] {v.message}", v.item, v.field)
        else:
            reason = config.exemptions[v.exemption].reason
            info(rl, f"[{v.rule}] exempt (exemptions[{v.exemption}]: {reason}): {v.message}", v.item, v.field)
    for i in report.unused_exemptions:
        rl.result(
            f"exemptions[{i}] exempts nothing: no {config.exemptions[i].rule} violation matches it",
            "warning",
            field=f"exemptions[{i}]",
        )
    if config.istioVersion and istio_apis.newer_than_table(config.istioVersion):
        rl.result(istio_apis.newer_than_table(config.istioVersion), "warning", field="istioVersion")
    if config.istioVersion:
        for item in unknown_istio_kinds(rl.items):
            info(
                rl,
                f"{item.api_version} {item.kind} is not in kfkrm's Istio API table; not checked against "
                f"Istio {config.istioVersion}",
                item,
                "apiVersion",
            )


def transform(rl, config: Config, baseline=None) -> str:
    report = check(rl, config, baseline)
    add_results(rl, config, report)
    counts = report.counts()
    exempted = len(report.violations) - len(report.failures)
    tail = f"; {exempted} exempted" if exempted else ""
    if report.as_in_baseline:
        tail += f"; {report.as_in_baseline} dangling references as in the baseline"
    if counts:
        return f"{len(report.failures)} violations (" + ", ".join(f"{r} {n}" for r, n in counts.items()) + ")" + tail
    return f"no violations of {config.metadata.get('name', 'the policy')}{tail}"
