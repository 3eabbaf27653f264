"""One config that states the organisation's platform once, applied in one pass.

A real platform needs eight or more adaptations: run as separate functions that is eight
process starts, eight reads and writes of a 10 MB stream, and eight configs repeating the
same gateway, host, registry and namespace. An EnterpriseProfile names each setting once;
every section becomes the config of one kfkrm function (validated by that function's own
config model: a bad value is reported under the profile's field path) and the functions
run in this process, one after the other, on the same ResourceList:

  relocation    0 namespace-relocation      platform.namespace (kubeflowNamespace): settings naming `kubeflow` follow
  removals      1 remove-istio              mesh.removeBundledIstio (keepBundled, removeAlso, istioVersion)
                2 remove-argo               argo.external (keepCRDs)
                  cert-manager              certManager (external, clusterIssuer, certManagerVersion)
  relocations   3 authservice-relocation    auth
  rewrites      4 image-proxy               registry
                5 virtualservice-gateway    mesh.gateway (hosts, exportTo, replaceGateways, ...)
                6 ingress-gateway           ingress
                7 argo-artifact-repository  argo.artifactRepository
                  external-database         database
  enrolment     8 namespace-injection       mesh.namespaces (revision)
                9 pod-template-labels       podTemplates.labels (include, exclude)
               10 pod-template-annotations  podTemplates.annotations (include, exclude)
               11 service-account-annotations serviceAccounts.annotations (include, exclude): workload identity
  login        12 oidc-provider             sso (after the enrolment: its check that the auth service reaches
                                            the provider sees the final sidecars)
               13 envoy-base-id             envoyBaseId (after the sidecar annotations it depends on)
  validation   14 enterprise-policy         validate: an EnterprisePolicy derived from the above

Sections are optional; a step runs only when its section (or field) is set. The output is
the output of running those functions one by one with the same settings, except for
advice another section of the same profile resolves: a warning whose key (a result tag)
is in RESOLVED_BY becomes an info result naming that section (e.g. remove-argo's "the
external Argo needs an artifact repository" when argo.artifactRepository is set). The stderr
summary lists each step's summary; an error in any step stops the run and, as for every
function, the output is the unchanged input plus the results.

Settings the profile derives rather than copies: `argo.artifactRepository.target` defaults
to `namespace` with `argo.external: true` (the bundled controller's ConfigMap is gone) and
to `controller` otherwise; its `namespaces` default to `mesh.namespaces`. The policy of
`validate` is derived as documented in docs/functions/enterprise-profile.md."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ValidationError as CoreValidationError

from ..domain import cert_manager as cert_manager_domain
from ..domain import databases, dex, gateway_identity, object_store
from ..domain.kubeflow_namespace_defaults import KFP_LAUNCHER_MINIO_KEY
from ..domain.namespace_refs import follow_namespaces
from ..domain.pod_metadata import opt_outs_left
from ..runtime.config import API_VERSION, FunctionConfig, Model
from ..runtime.results import ERROR, INFO, WARNING
from ..runtime.selectors import SelectorTerm, select
from . import (
    argo_artifact_repository,
    authservice_relocation,
    cert_manager,
    envoy_base_id,
    external_database,
    image_proxy,
    ingress_gateway,
    namespace_injection,
    namespace_relocation,
    oidc_provider,
    pod_template_annotations,
    pod_template_labels,
    remove_argo,
    remove_istio,
    service_account_annotations,
    virtualservice_gateway,
)

# The sections that adapt the render (every one but platform and validate), in the order
# the docs list them: the derived policy checks integrity whenever one of them is set.
ADAPTING_SECTIONS = (
    "mesh",
    "podTemplates",
    "serviceAccounts",
    "registry",
    "auth",
    "argo",
    "certManager",
    "database",
    "envoyBaseId",
    "ingress",
    "sso",
)
POLICY_MODULE = "kfkrm.fns.enterprise_policy"
OPT_OUT_REASON = (
    'upstream opts it out of the mesh (sidecar.istio.io/inject: "false"), and the profile leaves that in place '
    "(podTemplates.forceInjection not set)"
)


# -- the sections ------------------------------------------------------------------------
# Shapes only: every value is validated by the config model of the function it goes to.


class Mesh(Model):
    gateway: Optional[str] = Field(
        None,
        description="the organisation's Gateway, namespace/name: every Kubeflow VirtualService is routed through it "
        "(virtualservice-gateway)",
    )
    hosts: Optional[list[str]] = Field(None, description="host names that replace the VirtualServices' wildcard host")
    exportTo: Optional[list[str]] = Field(None, description="exportTo of each routed VirtualService")
    replaceGateways: Optional[list[str]] = Field(
        None, description="the Gateways replaced by `gateway` (default: kubeflow/kubeflow-gateway)"
    )
    removeUnusedGateways: Optional[bool] = Field(
        None, description="remove replaced Gateways nothing references afterwards"
    )
    gatewayService: Optional[str] = Field(None, description="deprecated: gatewayWorkload.service")
    gatewayWorkload: Any = Field(
        None,
        description="the organisation's gateway pods {namespace, serviceAccount, labels, service}, or "
        "kubeflow-default (virtualservice-gateway; also the auth service's gateway)",
    )
    localGateway: Any = Field(
        None,
        description="keep, or the organisation's cluster-local gateway {namespace, labels, service} (remove-istio, "
        "virtualservice-gateway)",
    )
    namespaces: Optional[list[str]] = Field(
        None, description="Namespaces labelled for sidecar injection (namespace-injection)"
    )
    revision: Optional[str] = Field(None, description="an Istio revision: istio.io/rev instead of istio-injection")
    removeBundledIstio: bool = Field(False, description="remove the Istio installation Kubeflow bundles (remove-istio)")
    keepBundled: Optional[list[SelectorTerm]] = Field(
        None, description="objects remove-istio keeps anyway (its `keep`)"
    )
    removeAlso: Optional[list[SelectorTerm]] = Field(
        None, description="objects remove-istio removes in addition (its `remove`)"
    )
    istioVersion: Any = Field(
        None,
        description='the mesh\'s Istio minor version, quoted ("1.6"): remove-istio\'s compatibility warnings, and the '
        'policy\'s API check',
    )
    rootNamespace: Optional[str] = Field(
        None,
        description="the mesh's root namespace (default istio-system): selector-less Istio config there is mesh-wide, "
        "removed by remove-istio and reported by the policy",
    )


class PodTemplates(Model):
    labels: Optional[dict[str, str]] = Field(
        None, description="labels on every selected pod template (pod-template-labels)"
    )
    annotations: Optional[dict[str, str]] = Field(
        None, description="annotations on every selected pod template (pod-template-annotations)"
    )
    include: Optional[list[SelectorTerm]] = Field(
        None, description="the workloads that get them (default: every workload)"
    )
    exclude: Optional[list[SelectorTerm]] = Field(None, description="workloads that never get them")
    forceInjection: Optional[bool] = Field(
        None,
        description='inject even where upstream opts out with sidecar.istio.io/inject: "false" (default: kept, with a '
        'warning, and exempt from the policy\'s mesh rule)',
    )


class ServiceAccounts(Model):
    annotations: dict[str, str] = Field(
        ...,
        description="annotations on every selected ServiceAccount, e.g. eks.amazonaws.com/role-arn "
        "(service-account-annotations: workload identity)",
    )
    include: Optional[list[SelectorTerm]] = Field(
        None, description="the ServiceAccounts that get them (default: every ServiceAccount)"
    )
    exclude: Optional[list[SelectorTerm]] = Field(None, description="ServiceAccounts that never get them")


class Registry(Model):
    rules: list[image_proxy.Rule] = Field(..., description="from -> to rewrites, first match wins (image-proxy)")
    embedded: Optional[bool] = Field(
        None, description="also images in ConfigMaps, args, env and custom resources (default true)"
    )
    allowedRegistries: Optional[list[str]] = Field(
        None, description="any image left outside these registries is an error"
    )


class Auth(Model):
    namespace: str = Field(..., description="the namespace the auth service moves to (authservice-relocation)")
    sidecar: Optional[bool] = Field(None, description="enrol it in the mesh (default true)")
    excludeOutboundPorts: Optional[list[Union[int, str]]] = Field(
        None, description="outbound ports its sidecar must not capture, e.g. 443 for the SSO provider"
    )
    workload: Optional[SelectorTerm] = Field(
        None, description="its workload, when neither oidc-authservice nor oauth2-proxy"
    )
    gateway: Optional[authservice_relocation.Gateway] = Field(
        None, description="the gateway that must keep reaching it"
    )


class ArtifactRepository(Model):
    s3: argo_artifact_repository.S3 = Field(..., description="the S3 artifact store (argo-artifact-repository)")
    target: Optional[Literal["namespace", "controller"]] = Field(
        None, description="default: namespace with argo.external, controller without"
    )
    namespaces: Optional[list[str]] = Field(
        None, description="namespaces that get the artifact-repositories ConfigMap (default: mesh.namespaces)"
    )
    archiveLogs: Optional[bool] = Field(None, description="archive pod logs to the store (default true)")
    removeBundledObjectStore: Optional[bool] = Field(
        None,
        description="remove Kubeflow's object store (minio, SeaweedFS: what minio-service selects); "
        "every KFP component that used it moves to s3",
    )
    removeBundledMinio: Optional[bool] = Field(None, description="deprecated alias of removeBundledObjectStore")


class Argo(Model):
    external: bool = Field(
        False, description="the organisation runs its own Argo: remove the bundled one (remove-argo)"
    )
    keepCRDs: Optional[bool] = Field(None, description="keep the argoproj.io CRDs when removing the bundled Argo")
    artifactRepository: Optional[ArtifactRepository] = Field(None, description="where Argo and KFP keep artifacts")


class CertManager(Model):
    external: bool = Field(
        False, description="the organisation runs its own cert-manager: remove the bundled one (cert-manager)"
    )
    clusterIssuer: Optional[str] = Field(None, description="the organisation's ClusterIssuer for every Certificate")
    certManagerVersion: Optional[str] = Field(
        None, description='the organisation\'s cert-manager release (quoted, e.g. "1.16"): API versions checked'
    )


class Database(external_database.Database):
    """The organisation's MySQL for KFP and/or Katib (external-database)."""


class EnvoyBaseId(Model):
    baseId: Any = Field(..., description="the Envoy base id (envoy-base-id)")
    images: Optional[list[str]] = Field(
        None, description="image repository globs of the Envoy-based containers (default: KFP's metadata-envoy)"
    )
    imageCmd: Optional[list[str]] = Field(None, description="those images' CMD")
    include: Optional[list[SelectorTerm]] = Field(None, description="narrow the workloads searched")
    exclude: Optional[list[SelectorTerm]] = Field(None, description="workloads never changed")


class Ingress(Model):
    service: Optional[str] = Field(None, description="the ingress gateway Service, namespace/name (ingress-gateway)")
    type: Optional[Literal["ClusterIP", "NodePort", "LoadBalancer"]] = Field(
        None, description="the Service type (default LoadBalancer)"
    )
    annotations: Optional[dict[str, str]] = Field(None, description="the cloud load balancer's annotations")
    loadBalancerSourceRanges: Optional[list[str]] = Field(None, description="client CIDRs the load balancer admits")
    tls: Optional[ingress_gateway.TLS] = Field(None, description="an HTTPS server to add to a Gateway")


class Sso(Model):
    issuer: str = Field(..., description="the organisation's OIDC issuer URL (oidc-provider)")
    clientId: str = Field(..., description="Kubeflow's client id at the provider")
    clientSecret: oidc_provider.ClientSecret = Field(
        ..., description="the Secret {name, key} with the client secret, in the auth service's namespace"
    )
    scopes: Optional[list[str]] = Field(None, description="scopes (default openid, profile, email, groups)")
    userIdClaim: Optional[str] = Field(None, description="the claim that becomes kubeflow-userid (default email)")
    groupsClaim: Optional[str] = Field(None, description="the claim that becomes kubeflow-groups")
    userIdPrefix: Optional[str] = Field(None, description="the user id prefix, the same in every consumer")
    jwksUri: Optional[str] = Field(None, description="the provider's JWKS URL (default: from discovery)")
    removeBundledDex: Optional[bool] = Field(None, description="remove the bundled Dex, with everything of it")


class Platform(Model):
    namespace: str = Field(
        ...,
        description="the namespace Kubeflow runs in (namespace-relocation); the other sections may keep naming "
        "`kubeflow`",
    )
    kubeflowNamespace: str = Field("kubeflow", description="the namespace the manifests use, moved to `namespace`")


class Validate(Model):
    exemptions: Optional[list[dict[str, Any]]] = Field(None, description="the policy's exemptions (each with a reason)")
    forbid: Optional[list[dict[str, Any]]] = Field(
        None, description="objects that must be gone, besides the ones derived from the profile"
    )
    integrity: Optional[bool] = Field(
        None, description="no reference the input held is left dangling by the adaptation (default true)"
    )


# -- the steps ---------------------------------------------------------------------------


@dataclass
class Step:
    """One function of the profile, with the config built from its section."""

    name: str  # the function's CLI name
    section: str  # where in the profile its settings come from
    module: Any
    config: FunctionConfig


class _Builder:
    """Builds each step's config with the function's own model, collecting errors under profile paths."""

    def __init__(self):
        self.steps: list[Step] = []
        self.errors: list[dict] = []
        self.relocated: dict[str, str] = {}  # platform.namespace: what every later step follows

    def add(self, name: str, section: str, module, fields: dict[str, tuple[tuple, Any]], base: tuple) -> None:
        """`fields`: the function's field -> (its profile path, its value); `base`: the section's path."""
        data = {"apiVersion": API_VERSION, "kind": module.Config.KIND}
        data.update({field: _plain(value) for field, (_, value) in fields.items()})
        if self.relocated:  # settings and defaults naming `kubeflow` mean the relocated namespace
            defaults = {
                f: i.default
                for f, i in module.Config.model_fields.items()
                if f not in data and isinstance(i.default, (str, list, dict)) and i.default
            }
            followed = follow_namespaces({**defaults, **data}, self.relocated)
            data.update({f: v for f, v in followed.items() if f not in defaults or v != defaults[f]})
        try:
            config = module.Config.model_validate(data)
        except ValidationError as e:
            for err in e.errors():
                loc = tuple(err["loc"])
                where = fields[loc[0]][0] + loc[1:] if loc and loc[0] in fields else base + loc
                self.error(err, where)
            return
        self.steps.append(Step(name, section, module, config))

    def error(self, err: dict, loc: tuple) -> None:
        detail = {"type": err["type"], "loc": loc, "input": err.get("input")}
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        self.errors.append(detail)

    def problem(self, loc: tuple, message: str) -> None:
        self.error({"type": "value_error", "input": None, "ctx": {"error": ValueError(message)}}, loc)


def _plain(value):
    """Section values as the plain data a function config is written in."""
    if isinstance(value, Model):
        return value.model_dump(by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _set_fields(section: Model, base: tuple, names: dict[str, str]) -> dict[str, tuple[tuple, Any]]:
    """The section fields the user set, keyed by the function's field names
    (`names`: function field -> section field)."""
    return {fn: (base + (sf,), getattr(section, sf)) for fn, sf in names.items() if sf in section.model_fields_set}


class Config(FunctionConfig):
    KIND = "EnterpriseProfile"

    platform: Optional[Platform] = Field(
        None, description="where Kubeflow runs: every object and reference moves there first"
    )
    mesh: Optional[Mesh] = Field(
        None, description="the organisation's mesh: gateway and host, injected namespaces, the bundled Istio's removal"
    )
    podTemplates: Optional[PodTemplates] = Field(None, description="labels and annotations on pod templates")
    serviceAccounts: Optional[ServiceAccounts] = Field(
        None, description="annotations on ServiceAccounts: the cloud identity they act as (workload identity)"
    )
    registry: Optional[Registry] = Field(None, description="the internal image registry")
    auth: Optional[Auth] = Field(None, description="the auth service's relocation into the mesh")
    argo: Optional[Argo] = Field(None, description="external Argo and its artifact store")
    certManager: Optional[CertManager] = Field(
        None, description="the organisation's own cert-manager, its ClusterIssuer and release (cert-manager)"
    )
    database: Optional[Database] = Field(
        None, description="the organisation's MySQL for KFP and/or Katib; the bundled databases go (external-database)"
    )
    envoyBaseId: Optional[EnvoyBaseId] = Field(
        None, description="the Envoy base id of KFP's metadata-envoy (a number, or envoy-base-id's fields)"
    )
    ingress: Optional[Ingress] = Field(None, description="the ingress gateway Service as a load balancer")
    sso: Optional[Sso] = Field(None, description="the organisation's OIDC provider for Kubeflow's login (Dex goes)")
    validate_: Optional[Validate] = Field(
        None,
        alias="validate",
        description="true: finish with an EnterprisePolicy derived from the settings above (or an object with "
        "exemptions and forbid)",
    )

    _steps: list[Step] = PrivateAttr(default_factory=list)

    @field_validator("envoyBaseId", mode="before")
    @classmethod
    def _number_is_base_id(cls, value):
        return {"baseId": value} if isinstance(value, (int, str)) and not isinstance(value, bool) else value

    @field_validator("validate_", mode="before")
    @classmethod
    def _true_is_default_policy(cls, value):
        if value is True:
            return {}
        return None if value is False else value

    @property
    def steps(self) -> list[Step]:
        return self._steps

    @model_validator(mode="after")
    def _build_steps(self):
        sections = ("platform", *ADAPTING_SECTIONS, "validate_")
        if all(getattr(self, s) is None for s in sections):
            raise ValueError(
                "sets no section; set at least one of " + ", ".join(("platform", *ADAPTING_SECTIONS, "validate"))
            )
        b = _Builder()
        if self.platform is not None:  # first, so that every later step sees the final names
            moves = {self.platform.kubeflowNamespace: self.platform.namespace}
            b.add(
                "namespace-relocation",
                "platform",
                namespace_relocation,
                {"namespaces": (("platform", "namespace"), moves)},
                ("platform",),
            )
            b.relocated = moves
        mesh = self.mesh or Mesh()
        self._check_mesh_fields(b, mesh)
        if mesh.removeBundledIstio:
            b.add(
                "remove-istio",
                "mesh.removeBundledIstio",
                remove_istio,
                _set_fields(
                    mesh,
                    ("mesh",),
                    {
                        "keep": "keepBundled",
                        "remove": "removeAlso",
                        "istioVersion": "istioVersion",
                        "localGateway": "localGateway",
                        "rootNamespace": "rootNamespace",
                    },
                ),
                ("mesh",),
            )
        if self.argo is not None:
            self._argo_removal(b)
        if self.certManager is not None:
            b.add(
                "cert-manager",
                "certManager",
                cert_manager,
                _set_fields(
                    self.certManager,
                    ("certManager",),
                    {
                        "removeBundledCertManager": "external",
                        "clusterIssuer": "clusterIssuer",
                        "certManagerVersion": "certManagerVersion",
                    },
                ),
                ("certManager",),
            )
        if self.auth is not None:
            auth_fields = _set_fields(self.auth, ("auth",), {f: f for f in Auth.model_fields})
            if "gateway" not in auth_fields and isinstance(mesh.gatewayWorkload, dict):
                # the auth service's gateway is the organisation's gateway workload (its service aside)
                workload = {
                    k: v for k, v in mesh.gatewayWorkload.items() if k in authservice_relocation.Gateway.model_fields
                }
                auth_fields["gateway"] = (("mesh", "gatewayWorkload"), workload)
            b.add("authservice-relocation", "auth", authservice_relocation, auth_fields, ("auth",))
        if self.registry is not None:
            b.add(
                "image-proxy",
                "registry",
                image_proxy,
                _set_fields(self.registry, ("registry",), {f: f for f in Registry.model_fields}),
                ("registry",),
            )
        if mesh.gateway is not None:
            names = (
                "gateway",
                "hosts",
                "exportTo",
                "replaceGateways",
                "removeUnusedGateways",
                "gatewayService",
                "gatewayWorkload",
                "localGateway",
                "istioVersion",
            )
            b.add(
                "virtualservice-gateway",
                "mesh.gateway",
                virtualservice_gateway,
                _set_fields(mesh, ("mesh",), {f: f for f in names}),
                ("mesh",),
            )
        if self.ingress is not None:
            b.add(
                "ingress-gateway",
                "ingress",
                ingress_gateway,
                _set_fields(self.ingress, ("ingress",), {f: f for f in Ingress.model_fields}),
                ("ingress",),
            )
        if self.argo is not None and self.argo.artifactRepository is not None:
            self._artifact_repository(b)
        if self.database is not None:
            b.add(
                "external-database",
                "database",
                external_database,
                _set_fields(self.database, ("database",), {f: f for f in Database.model_fields}),
                ("database",),
            )
        if mesh.namespaces is not None:
            b.add(
                "namespace-injection",
                "mesh.namespaces",
                namespace_injection,
                _set_fields(mesh, ("mesh",), {"namespaces": "namespaces", "revision": "revision"}),
                ("mesh",),
            )
        if self.podTemplates is not None:
            self._pod_templates(b)
        if self.serviceAccounts is not None:
            b.add(
                "service-account-annotations",
                "serviceAccounts",
                service_account_annotations,
                _set_fields(self.serviceAccounts, ("serviceAccounts",), {f: f for f in ServiceAccounts.model_fields}),
                ("serviceAccounts",),
            )
        if self.sso is not None:
            fields = _set_fields(self.sso, ("sso",), {f: f for f in Sso.model_fields})
            b.add("oidc-provider", "sso", oidc_provider, fields, ("sso",))
        if self.envoyBaseId is not None:
            b.add(
                "envoy-base-id",
                "envoyBaseId",
                envoy_base_id,
                _set_fields(self.envoyBaseId, ("envoyBaseId",), {f: f for f in EnvoyBaseId.model_fields}),
                ("envoyBaseId",),
            )
        if self.validate_ is not None:
            self._policy(b)
        if b.errors:
            raise CoreValidationError.from_exception_data(self.KIND, b.errors)
        self._steps = b.steps
        return self

    def _check_mesh_fields(self, b: _Builder, mesh: Mesh) -> None:
        """Refuse settings no step would use: a silent no-op is the failure this project exists to prevent."""
        set_fields = mesh.model_fields_set
        needs = {
            "gateway": (
                "hosts",
                "exportTo",
                "replaceGateways",
                "removeUnusedGateways",
                "gatewayService",
                "gatewayWorkload",
            ),
            "namespaces": ("revision",),
            "removeBundledIstio": ("keepBundled", "removeAlso"),
        }
        for owner, dependents in needs.items():
            if not getattr(mesh, owner):
                for field in dependents:
                    if field in set_fields:
                        b.problem(("mesh", field), f"only used with mesh.{owner} set")
        if "localGateway" in set_fields and not (mesh.removeBundledIstio or mesh.gateway):
            b.problem(("mesh", "localGateway"), "only used with mesh.removeBundledIstio: true or mesh.gateway set")
        elif isinstance(mesh.localGateway, dict) and not mesh.gateway:
            b.problem(
                ("mesh", "localGateway"),
                "the organisation's local gateway is written into KServe's and Knative's "
                "settings by virtualservice-gateway: set mesh.gateway too",
            )
        if "istioVersion" in set_fields and not (mesh.removeBundledIstio or mesh.gateway) and self.validate_ is None:
            b.problem(
                ("mesh", "istioVersion"), "only used with mesh.removeBundledIstio: true, mesh.gateway or validate"
            )
        if "rootNamespace" in set_fields and not mesh.removeBundledIstio:
            b.problem(("mesh", "rootNamespace"), "only used with mesh.removeBundledIstio: true")

    def _argo_removal(self, b: _Builder) -> None:
        argo = self.argo
        if argo.external:
            b.add(
                "remove-argo",
                "argo.external",
                remove_argo,
                _set_fields(argo, ("argo",), {"keepCRDs": "keepCRDs"}),
                ("argo",),
            )
        elif "keepCRDs" in argo.model_fields_set:
            b.problem(("argo", "keepCRDs"), "only used with argo.external: true")
        elif argo.artifactRepository is None:
            b.problem(("argo",), "sets nothing to do: set external: true and/or artifactRepository")

    def _artifact_repository(self, b: _Builder) -> None:
        repo, base = self.argo.artifactRepository, ("argo", "artifactRepository")
        fields = _set_fields(repo, base, {f: f for f in ArtifactRepository.model_fields})
        if "target" not in fields:
            fields["target"] = (base + ("target",), "namespace" if self.argo.external else "controller")
        if fields["target"][1] == "namespace" and "namespaces" not in fields and self.mesh and self.mesh.namespaces:
            fields["namespaces"] = (("mesh", "namespaces"), [n for n in self.mesh.namespaces if n != "*"])
        b.add("argo-artifact-repository", "argo.artifactRepository", argo_artifact_repository, fields, base)

    def _pod_templates(self, b: _Builder) -> None:
        pt, base = self.podTemplates, ("podTemplates",)
        selectors = {"include": "include", "exclude": "exclude", "forceInjection": "forceInjection"}
        if pt.labels is None and pt.annotations is None:
            b.problem(base, "sets neither labels nor annotations")
        if pt.labels is not None:
            b.add(
                "pod-template-labels",
                "podTemplates.labels",
                pod_template_labels,
                _set_fields(pt, base, {"labels": "labels", **selectors}),
                base,
            )
        if pt.annotations is not None:
            b.add(
                "pod-template-annotations",
                "podTemplates.annotations",
                pod_template_annotations,
                _set_fields(pt, base, {"annotations": "annotations", **selectors}),
                base,
            )

    def _policy(self, b: _Builder) -> None:
        try:
            policy = importlib.import_module(POLICY_MODULE)
        except ImportError as e:
            b.problem(
                ("validate",), f"needs the enterprise-policy function ({POLICY_MODULE}), which cannot be imported: {e}"
            )
            return
        base = ("validate",)
        b.add("enterprise-policy", "validate", policy, derived_policy(self), base)


def derived_policy(profile: Config) -> dict[str, tuple[tuple, Any]]:
    """EnterprisePolicy fields from the profile's settings, each with the profile path it comes from.

    allowedRegistries: registry.allowedRegistries, else every rule's `to`.
    meshNamespaces:    mesh.namespaces (without "*").
    allowedGateways:   [mesh.gateway].
    forbid:            the bundled Argo's workflow-controller (argo.external), istiod
                       (mesh.removeBundledIstio), the bundled object store's Deployment, Services,
                       Secret and claim, minio's and SeaweedFS's names
                       (argo.artifactRepository.removeBundledObjectStore); the bundled MySQL's Deployment,
                       Service, claim and Secret of each component database.kfp / database.katib
                       names; cert-manager's Deployments, webhooks and CRDs (certManager.external);
                       Dex's Deployment and CRDs (sso.removeBundledDex); plus validate.forbid.
    authService:       auth.namespace (and auth.workload).
    istioVersion:      mesh.istioVersion.
    meshRootNamespace: mesh.rootNamespace (default istio-system) with mesh.removeBundledIstio.
    integrity:         true (unless validate.integrity: false) when any section adapts something;
                       the profile's own input is its baseline (see transform).
    baselineNamespaces: {platform.kubeflowNamespace: platform.namespace}: the baseline is the
                       input, taken before the relocation.
    platformObjects:   the S3 credentials Secret (argo.artifactRepository.s3), which the organisation
                       provides in every workflow namespace, the database Secret (database.secret) and
                       the OIDC client Secret (sso.clientSecret).
    loginConsistency:  true with sso.
    exemptions:        validate.exemptions.
    """
    fields: dict[str, tuple[tuple, Any]] = {}
    registry, mesh, options = profile.registry, profile.mesh, profile.validate_
    if registry is not None:
        if registry.allowedRegistries is not None:
            fields["allowedRegistries"] = (("registry", "allowedRegistries"), registry.allowedRegistries)
        else:
            fields["allowedRegistries"] = (("registry", "rules"), list(dict.fromkeys(r.to for r in registry.rules)))
    if mesh is not None:
        namespaces = [n for n in mesh.namespaces or [] if n != "*"]
        if namespaces:
            fields["meshNamespaces"] = (("mesh", "namespaces"), namespaces)
        if mesh.gateway is not None:
            fields["allowedGateways"] = (("mesh", "gateway"), [mesh.gateway])
        if mesh.istioVersion is not None:
            fields["istioVersion"] = (("mesh", "istioVersion"), mesh.istioVersion)
        if mesh.removeBundledIstio:  # on the organisation's mesh, nothing of Kubeflow's may apply mesh-wide
            fields["meshRootNamespace"] = (("mesh", "rootNamespace"), mesh.rootNamespace or "istio-system")
    forbid = []
    if profile.argo is not None and profile.argo.external:
        forbid.append({"group": "apps", "kind": "Deployment", "name": "workflow-controller"})
    if mesh is not None and mesh.removeBundledIstio:
        forbid.append({"group": "apps", "kind": "Deployment", "name": "istiod"})
    if (
        profile.argo is not None
        and profile.argo.artifactRepository is not None
        and (
            profile.argo.artifactRepository.removeBundledObjectStore
            or profile.argo.artifactRepository.removeBundledMinio
        )
    ):
        forbid += [dict(term) for term in object_store.FORBID_TERMS]
    if profile.sso is not None and profile.sso.removeBundledDex:
        forbid += [dict(term) for term in dex.FORBID_TERMS]
    if profile.certManager is not None and profile.certManager.external:
        forbid += [dict(term) for term in cert_manager_domain.FORBID_TERMS]
    if profile.database is not None:
        for component, terms in databases.FORBID_TERMS.items():
            if getattr(profile.database, component) is not None:
                forbid += [dict(term) for term in terms]
    forbid += options.forbid or []
    if forbid:
        fields["forbid"] = (("validate", "forbid"), forbid)
    if profile.auth is not None:
        auth = {"namespace": profile.auth.namespace}
        if profile.auth.workload is not None:
            auth["workload"] = profile.auth.workload
        fields["authService"] = (("auth",), auth)
    if options.integrity is not False and any(getattr(profile, s) is not None for s in ADAPTING_SECTIONS):
        fields["integrity"] = (("validate", "integrity"), True)
        fields.update(_declared_workloads(mesh))
    if profile.platform is not None and "integrity" in fields:
        fields["baselineNamespaces"] = (
            ("platform", "namespace"),
            {profile.platform.kubeflowNamespace: profile.platform.namespace},
        )
    repository = profile.argo.artifactRepository if profile.argo is not None else None
    if repository is not None:
        secrets = {ref.name for ref in (repository.s3.accessKeySecret, repository.s3.secretKeySecret) if ref}
        if secrets:
            fields["platformObjects"] = (
                ("argo", "artifactRepository", "s3"),
                [{"kind": "Secret", "name": name} for name in sorted(secrets)],
            )
    if profile.sso is not None:
        fields["loginConsistency"] = (("sso",), True)
        secret = {"kind": "Secret", "name": profile.sso.clientSecret.name}
        objects = fields.get("platformObjects", (("sso", "clientSecret"), []))
        fields["platformObjects"] = (objects[0], objects[1] + [secret])
    if profile.database is not None:  # the organisation's database Secret, provided next to its clients
        path, objects = fields.get("platformObjects", (("database", "secret"), []))
        fields["platformObjects"] = (path, objects + [{"kind": "Secret", "name": profile.database.secret.name}])
    if options.exemptions:
        fields["exemptions"] = (("validate", "exemptions"), options.exemptions)
    return fields


def _declared_workloads(mesh) -> dict[str, tuple[tuple, Any]]:
    """The organisation's gateway pods, which run outside the render: the integrity rule counts
    references to them as present."""
    fields: dict[str, tuple[tuple, Any]] = {}
    if mesh is None:
        return fields
    workload = mesh.gatewayWorkload
    if workload == gateway_identity.KUBEFLOW_DEFAULT:
        w = gateway_identity.KUBEFLOW_GATEWAY
        workload = {
            "namespace": w.namespace,
            "serviceAccount": w.serviceAccount,
            "labels": w.labels,
            "service": w.service,
        }
    if isinstance(workload, dict):
        declared = {k: v for k, v in workload.items() if k != "dedicated"}
        fields["gatewayWorkload"] = (("mesh", "gatewayWorkload"), declared)
    if isinstance(mesh.localGateway, dict):
        fields["localGateway"] = (("mesh", "localGateway"), mesh.localGateway)
    return fields


# Advice one step gives that another section of the same profile resolves: result key ->
# (the section, whether the profile sets it). Matched by key, never by message text.
RESOLVED_BY: dict[str, tuple[str, Any]] = {
    remove_argo.ARTIFACT_REPOSITORY_KEY: (
        "argo.artifactRepository",
        lambda p: p.argo is not None and p.argo.artifactRepository is not None,
    ),
    remove_argo.ARTIFACT_CREDENTIALS_KEY: (  # the bundled store's Secret: the new store has its own credentials
        "argo.artifactRepository",
        lambda p: p.argo is not None and p.argo.artifactRepository is not None,
    ),
    # KFP's v2 launcher falls back to minio-service.kubeflow only for a minio:// pipeline root;
    # removeBundledObjectStore sets the root to the organisation's s3:// bucket.
    KFP_LAUNCHER_MINIO_KEY: (
        "argo.artifactRepository.removeBundledObjectStore",
        lambda p: (
            p.argo is not None
            and p.argo.artifactRepository is not None
            and bool(p.argo.artifactRepository.removeBundledObjectStore or p.argo.artifactRepository.removeBundledMinio)
        ),
    ),
}


def _drop_resolved(results: list, config: Config) -> None:
    """Advice another section resolves stays visible to kpt, as an info result naming that section."""
    for result in results:
        resolved = RESOLVED_BY.get(result.key or "")
        if result.severity == WARNING and resolved is not None and resolved[1](config):
            result.severity = INFO
            result.message = f"resolved by the profile's {resolved[0]}: {result.message}"


def transform(rl, config: Config) -> str:
    baseline = _integrity_baseline(rl, config)
    summaries = []
    for step in config.steps:
        if step.name == "enterprise-policy":
            step = _exempt_kept_opt_outs(rl, config, step)
        first_new = len(rl.results)
        if step.name == "enterprise-policy" and baseline is not None:
            summary = step.module.transform(rl, step.config, baseline=baseline)
        else:
            summary = step.module.transform(rl, step.config)
        if rl.has_errors:
            _name_failed_step(rl.results[first_new:], step)
            return f"{step.name} failed"
        _drop_resolved(rl.results[first_new:], config)
        summaries.append(f"{step.name}: {summary}")
    return f"{len(summaries)} steps | " + " | ".join(summaries)


def _integrity_baseline(rl, config: Config):
    """What already dangles in the input, taken before any step changes it: the profile holds
    its own input, so its policy's integrity rule reports only what the adaptation broke."""
    for step in config.steps:
        if step.name == "enterprise-policy" and step.config.integrity:
            return step.module.integrity_baseline(rl.items, step.config)
    return None


def policy_for(rl, config: Config):
    """The EnterprisePolicy this profile derives, as it applies to `rl` (adapted manifests): with
    the upstream opt-outs kept there exempt from the mesh rule. What `kfkrm validate --config
    PROFILE` checks, so the policy is written once."""
    step = next(s for s in config.steps if s.name == "enterprise-policy")
    return _exempt_kept_opt_outs(rl, config, step).config


def _exempt_kept_opt_outs(rl, config: Config, step: Step) -> Step:
    """The derived policy exempts from its mesh rule exactly the upstream opt-outs the profile kept, so
    that `validate: true` passes on every release without hand-written exemptions."""
    if step.config.meshNamespaces is None:
        return step
    # every explicit opt-out still in the render: the profile never writes "false", so each is upstream's,
    # kept by a pod-template step (forceInjection not set) or left alone when no such step ran
    forced = {
        id(i)
        for earlier in config.steps
        if earlier.name in ("pod-template-annotations", "pod-template-labels")
        and getattr(earlier.config, "forceInjection", False)
        for i in select(rl.items, earlier.config.include, earlier.config.exclude)
    }  # forceInjection: true means those must be in the mesh: never exempt them
    kept = [i for i in opt_outs_left(rl.items, step.config.meshNamespaces) if id(i) not in forced]
    if not kept:
        return step
    reason = OPT_OUT_REASON
    exemptions = list(step.config.exemptions) + [
        step.module.Exemption(
            group=i.group or "", kind=i.kind, namespace=i.namespace, name=i.name, rule="mesh", reason=reason
        )
        for i in kept
        if i.namespace in step.config.meshNamespaces
    ]
    return Step(step.name, step.section, step.module, step.config.model_copy(update={"exemptions": exemptions}))


def _name_failed_step(results: list, step: Step) -> None:
    """Say which step (and which profile section) an error comes from."""
    for result in results:
        if result.severity == ERROR:
            result.message = f"step {step.name} (profile {step.section}): {result.message}"
