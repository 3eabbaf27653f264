"""Every kfkrm function: its CLI name, its config kind and the module that implements it.

Modules are imported only when their function runs, so a call pays for one function.
"""

from ..runtime.runner import FunctionSpec

FUNCTIONS = [
    FunctionSpec(
        "pod-template-labels",
        "PodTemplateLabels",
        "kfkrm.fns.pod_template_labels",
        "set labels on the pod template of every selected workload, never on selectors",
    ),
    FunctionSpec(
        "pod-template-annotations",
        "PodTemplateAnnotations",
        "kfkrm.fns.pod_template_annotations",
        "set annotations (e.g. sidecar injection) on the pod template of every selected workload",
    ),
    FunctionSpec(
        "service-account-annotations",
        "ServiceAccountAnnotations",
        "kfkrm.fns.service_account_annotations",
        "annotate ServiceAccounts for workload identity (the cloud IAM role they act as)",
    ),
    FunctionSpec(
        "namespace-injection",
        "NamespaceInjection",
        "kfkrm.fns.namespace_injection",
        "label Namespaces for Istio sidecar injection (istio-injection or istio.io/rev)",
    ),
    FunctionSpec(
        "image-proxy",
        "ImageProxy",
        "kfkrm.fns.image_proxy",
        "rewrite every image reference, embedded ones included, to the internal registry",
    ),
    FunctionSpec(
        "virtualservice-gateway",
        "VirtualServiceGateway",
        "kfkrm.fns.virtualservice_gateway",
        "route every Kubeflow VirtualService through the organisation's gateway and host",
    ),
    FunctionSpec(
        "ingress-gateway",
        "IngressGateway",
        "kfkrm.fns.ingress_gateway",
        "expose the ingress gateway Service through a load balancer, optionally with TLS",
    ),
    FunctionSpec(
        "remove-istio",
        "RemoveIstio",
        "kfkrm.fns.remove_istio",
        "remove the Istio installation Kubeflow bundles, keep Kubeflow's own Istio config",
    ),
    FunctionSpec(
        "json-patch", "JsonPatch", "kfkrm.fns.json_patch", "apply RFC 6902 JSON patches to selected resources"
    ),
    FunctionSpec(
        "authservice-relocation",
        "AuthServiceRelocation",
        "kfkrm.fns.authservice_relocation",
        "move the auth service into the mesh namespace, with its references and 443 exclusion",
    ),
    FunctionSpec(
        "namespace-relocation",
        "NamespaceRelocation",
        "kfkrm.fns.namespace_relocation",
        "move whole namespaces (kubeflow -> ml-platform) and rewrite every reference to them",
    ),
    FunctionSpec(
        "envoy-base-id",
        "EnvoyBaseId",
        "kfkrm.fns.envoy_base_id",
        "give Envoy-based containers a --base-id so they run next to the Istio sidecar",
    ),
    FunctionSpec(
        "remove-argo",
        "RemoveArgo",
        "kfkrm.fns.remove_argo",
        "remove the Argo Workflows bundled with Kubeflow Pipelines, keep what KFP needs",
    ),
    FunctionSpec(
        "argo-artifact-repository",
        "ArgoArtifactRepository",
        "kfkrm.fns.argo_artifact_repository",
        "point Argo workflows and KFP at the organisation's S3 artifact store",
    ),
    FunctionSpec(
        "oidc-provider",
        "OidcProvider",
        "kfkrm.fns.oidc_provider",
        "point Kubeflow's login at the organisation's OIDC provider (SSO); optionally remove the bundled Dex",
    ),
    FunctionSpec(
        "cert-manager",
        "CertManager",
        "kfkrm.fns.cert_manager",
        "Kubeflow on the organisation's cert-manager: drop the bundled one, re-point Certificates, check APIs",
    ),
    FunctionSpec(
        "external-database",
        "ExternalDatabase",
        "kfkrm.fns.external_database",
        "point KFP and Katib at the organisation's MySQL, remove the bundled databases",
    ),
    FunctionSpec(
        "enterprise-policy",
        "EnterprisePolicy",
        "kfkrm.fns.enterprise_policy",
        "validate the final manifests against the organisation's platform rules (changes nothing)",
    ),
    FunctionSpec(
        "enterprise-profile",
        "EnterpriseProfile",
        "kfkrm.fns.enterprise_profile",
        "apply every adaptation of one organisation-wide profile in one pass, then validate",
    ),
]

# Commands that are not KRM functions: name -> "module:function(argv) -> exit code".
COMMANDS = {
    "build": "kfkrm.cli.build:main",
    "images": "kfkrm.cli.images:main",
    "validate": "kfkrm.cli.validate:main",
    "exec-check": "kfkrm.cli.exec_check:main",
    "footprint": "kfkrm.cli.footprint:main",
    "upgrade-plan": "kfkrm.cli.upgrade_plan:main",
}

BY_NAME = {f.name: f for f in FUNCTIONS}
BY_KIND = {f.kind: f for f in FUNCTIONS}
