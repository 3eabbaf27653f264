"""EnterpriseProfile: one config, every adaptation in one pass, the same result as the chain.

The reference is the chain itself: each single function run in-process, as the CLI runs
it, on the previous one's output, with configs written here by hand from the profile's
documented mapping (docs/functions/enterprise-profile.md). The profile must give the
same items byte for byte and the same results, on the real v1.3.0 and v1.10 renders.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import lru_cache

import pytest
import yaml

from helpers import (
    REPO,
    VERSIONS,
    items_block,
    load_output,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_cli,
    run_function,
    yaml_docs,
    yaml_load,
)
from kfkrm.fns.enterprise_profile import OPT_OUT_REASON
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import ResourceList

FIELD_REPORT_PROFILE = (REPO / "fnconfigs" / "enterprise-profile.yaml").read_text()


def _policy_available() -> bool:
    try:
        importlib.import_module("kfkrm.fns.enterprise_policy")
        return True
    except ImportError:
        return False


needs_policy = pytest.mark.skipif(
    not _policy_available(),
    reason="kfkrm.fns.enterprise_policy (the EnterprisePolicy validator, issue 8) cannot be imported: the profile's validate step cannot run",
)

# Kubeflow v1.10 uses Istio APIs newer than the field report's Istio 1.6 (AuthorizationPolicy
# action CUSTOM since 1.9, RequestAuthentication outputClaimToHeaders since 1.17): its
# profile states a mesh that serves them.
ISTIO_VERSION = {"v1.3.0": "1.6", "v1.10": "1.22"}


def field_report_profile(version: str) -> str:
    return FIELD_REPORT_PROFILE.replace('istioVersion: "1.6"', f'istioVersion: "{ISTIO_VERSION[version]}"')


def field_report_chain(version: str) -> list[tuple[str, str]]:
    """The single-function configs that the field-report profile stands for, in its documented order."""
    istio = ISTIO_VERSION[version]
    return [
        (
            "remove-istio",
            f"""
kind: RemoveIstio
istioVersion: "{istio}"
keep: [{{namespace: istio-system, name: "*authservice*"}}]
localGateway: keep""",
        ),
        ("remove-argo", "kind: RemoveArgo"),
        (
            "authservice-relocation",
            """
kind: AuthServiceRelocation
namespace: kubeflow
sidecar: true
excludeOutboundPorts: ["443"]""",
        ),
        (
            "image-proxy",
            """
kind: ImageProxy
rules:
- {from: docker.io, to: registry.corp.example.com/dockerhub}
- {from: gcr.io/ml-pipeline, to: registry.corp.example.com/gcr/ml-pipeline}
- {from: "*", to: registry.corp.example.com/proxy}
allowedRegistries: [registry.corp.example.com]""",
        ),
        (
            "virtualservice-gateway",
            f"""
kind: VirtualServiceGateway
gateway: istio-system/corp-gateway
hosts: [kubeflow.corp.example.com]
removeUnusedGateways: true
gatewayWorkload: kubeflow-default
istioVersion: "{istio}"
""",
        ),
        (
            "argo-artifact-repository",
            """
kind: ArgoArtifactRepository
s3: {bucket: ml-artifacts, endpoint: s3.amazonaws.com, region: us-west-2, keyFormat: "artifacts/{{workflow.name}}/{{pod.name}}", useSDKCreds: true}
target: namespace
namespaces: [kubeflow]""",
        ),
        ("namespace-injection", "kind: NamespaceInjection\nnamespaces: [kubeflow]"),
        (
            "pod-template-labels",
            """
kind: PodTemplateLabels
labels: {corp.example.com/team: ml-platform, istio-injected: "true"}
include: [{namespace: kubeflow}]""",
        ),
        (
            "pod-template-annotations",
            """
kind: PodTemplateAnnotations
annotations: {sidecar.istio.io/inject: "true"}
include: [{namespace: kubeflow}]""",
        ),
        ("envoy-base-id", "kind: EnvoyBaseId\nbaseId: 1"),
        (
            "enterprise-policy",
            f"""
kind: EnterprisePolicy
allowedRegistries: [registry.corp.example.com]
meshNamespaces: [kubeflow]
allowedGateways: [istio-system/corp-gateway]
forbid:
- {{group: apps, kind: Deployment, name: workflow-controller}}
- {{group: apps, kind: Deployment, name: istiod}}
authService: {{namespace: kubeflow}}
istioVersion: "{istio}"
exemptions: {json.dumps(kept_opt_out_exemptions(version))}
""",
        ),
    ]


def kept_opt_out_exemptions(version: str) -> list[dict]:
    """The profile's derived exemptions, computed independently: every workload in kubeflow that
    upstream opts out of the mesh with sidecar.istio.io/inject "false" (pod label or annotation)."""
    found = []
    for obj in yaml_docs(rendered_text(version)):
        if not obj or (obj.get("metadata") or {}).get("namespace") != "kubeflow":
            continue
        spec = obj.get("spec") or {}
        template = (
            (spec.get("jobTemplate") or {}).get("spec", {}).get("template")
            if obj["kind"] == "CronJob"
            else spec.get("template")
        )
        meta = (template or {}).get("metadata") or {} if obj["kind"] in WORKLOADS else {}
        if any(
            str((meta.get(k) or {}).get("sidecar.istio.io/inject")).lower() == "false"
            for k in ("labels", "annotations")
        ):
            group = obj["apiVersion"].rpartition("/")[0]
            found.append(
                {
                    "group": group,
                    "kind": obj["kind"],
                    "namespace": "kubeflow",
                    "name": obj["metadata"]["name"],
                    "rule": "mesh",
                    "reason": OPT_OUT_REASON,
                }
            )
    return found


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")


# The other options: the bundled Istio and Argo stay, the ingress becomes a load balancer,
# artifacts go through the bundled controller's ConfigMap, revision-based injection, the
# long forms of envoyBaseId and the selectors.
# The corp gateway is dedicated to Kubeflow (issue 26): v1.3's authn-filter and x-forwarded-host EnvoyFilters stay on
# it (on a shared gateway they are converted or refused: tests/test_shared_mesh.py).
OPTIONS_PROFILE = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
metadata: {name: options}
mesh:
  gateway: istio-system/corp-gateway
  replaceGateways: [kubeflow/kubeflow-gateway]
  hosts: [ml.corp.example.com]
  exportTo: ["*"]
  gatewayWorkload: {namespace: istio-system, serviceAccount: corp-gateway, labels: {istio: corp-gateway}, service: corp-gateway.istio-system.svc.cluster.local, dedicated: true}
  namespaces: [kubeflow]
  revision: 1-6-8
podTemplates:
  annotations: {corp.example.com/cost-center: ml-1234}
  exclude: [{namespace: istio-system}]
registry:
  rules: [{from: gcr.io, to: registry.corp.example.com/gcr}]
  embedded: false
ingress:
  type: LoadBalancer
  annotations: {service.beta.kubernetes.io/aws-load-balancer-backend-protocol: http}
  loadBalancerSourceRanges: [10.0.0.0/8]
argo:
  artifactRepository:
    s3: {bucket: ml-artifacts, endpoint: minio.example.com:9000, insecure: true, accessKeySecret: {name: s3-creds, key: a}, secretKeySecret: {name: s3-creds, key: s}}
    archiveLogs: false
envoyBaseId: {baseId: 7, include: [{namespace: kubeflow}]}
"""

OPTIONS_CHAIN = [
    ("image-proxy", "kind: ImageProxy\nrules: [{from: gcr.io, to: registry.corp.example.com/gcr}]\nembedded: false"),
    (
        "virtualservice-gateway",
        """
kind: VirtualServiceGateway
gateway: istio-system/corp-gateway
replaceGateways: [kubeflow/kubeflow-gateway]
hosts: [ml.corp.example.com]
exportTo: ["*"]
gatewayWorkload: {namespace: istio-system, serviceAccount: corp-gateway, labels: {istio: corp-gateway}, service: corp-gateway.istio-system.svc.cluster.local, dedicated: true}
""",
    ),
    (
        "ingress-gateway",
        """
kind: IngressGateway
type: LoadBalancer
annotations: {service.beta.kubernetes.io/aws-load-balancer-backend-protocol: http}
loadBalancerSourceRanges: [10.0.0.0/8]""",
    ),
    (
        "argo-artifact-repository",
        """
kind: ArgoArtifactRepository
s3: {bucket: ml-artifacts, endpoint: minio.example.com:9000, insecure: true, accessKeySecret: {name: s3-creds, key: a}, secretKeySecret: {name: s3-creds, key: s}}
target: controller
archiveLogs: false""",
    ),
    ("namespace-injection", "kind: NamespaceInjection\nnamespaces: [kubeflow]\nrevision: 1-6-8"),
    (
        "pod-template-annotations",
        "kind: PodTemplateAnnotations\nannotations: {corp.example.com/cost-center: ml-1234}\nexclude: [{namespace: istio-system}]",
    ),
    ("envoy-base-id", "kind: EnvoyBaseId\nbaseId: 7\ninclude: [{namespace: kubeflow}]"),
]


def _items(stdout: str) -> str:
    """The output items as text, split by kfkrm's reader (what the next function receives)."""
    return "".join(item.raw for item in ResourceList.parse(stdout).items)


def _results(stdout: str) -> list:
    """The results of an output ResourceList (its last top-level key), without parsing 10 MB of items."""
    at = stdout.rfind("\nresults:\n")
    return yaml.load(stdout[at:], Loader=yamlio.Loader)["results"] if at >= 0 else []


def run_chain(version: str, chain: list[tuple[str, str]]):
    """Each single function in-process on the previous output: (final items, all results, stderr lines)."""
    items, results, lines = _chain_state(version, tuple(chain))
    return items, list(results), list(lines)


@lru_cache(maxsize=None)
def _chain_state(version: str, chain: tuple[tuple[str, str], ...]) -> tuple[str, tuple, tuple]:
    """run_chain, one step at a time on the state after the steps before it. A chain that
    begins like one run before (the field report's with and without its policy step) starts
    from that one's state: the same functions on the same text give the same output."""
    if not chain:
        return rendered_items_text(version), (), ()
    items, results, lines = _chain_state(version, chain[:-1])
    name, config = chain[-1]
    out = run_function(name, resource_list(items, "apiVersion: kfkrm.dev/v1alpha1\n" + config.strip()))
    assert out.exit_code == 0, f"chain step {name} failed: {out.stderr}"
    return _items(out.stdout), results + tuple(_results(out.stdout)), lines + (out.stderr.strip(),)


@lru_cache(maxsize=None)
def run_profile(version: str, profile: str):
    """The profile on a whole release (an Outcome of strings; computed once per version and profile)."""
    return run_function("enterprise-profile", resource_list(rendered_items_text(version), profile))


def _assert_same_as_chain(version, profile, chain):
    expected_items, expected_results, chain_lines = run_chain(version, chain)
    out = run_profile(version, profile)
    assert out.exit_code == 0, out.stderr
    assert _items(out.stdout) == expected_items
    _assert_results_as_the_chain_gives(_results(out.stdout), expected_results, profile)
    # the one stderr line lists every step's own summary, in the chain's order
    assert out.stderr.count("\n") == 1
    position = 0
    for line in chain_lines:
        name, summary = line[len("kfkrm ") :].split(": ", 1)
        summary = re.sub(r"; \d+ warnings? \(see results\)$", "", summary)  # the runner's note, once for the profile
        step = f"{name}: {summary}"
        assert step in out.stderr[position:], f"{step!r} missing (or out of order) in {out.stderr!r}"
        position = out.stderr.index(step, position) + len(step)
    return out


def _assert_results_as_the_chain_gives(results: list, chain_results: list, profile: str) -> None:
    """The chain's results, one for one, except advice another section of the profile resolves
    (an external Argo's artifact repository, when argo.artifactRepository is set): the same
    result, as info, its message prefixed with that section."""
    assert len(results) == len(chain_results)
    resolved = []
    for mine, theirs in zip(results, chain_results):
        if mine == theirs:
            continue
        m = re.match(r"resolved by the profile's ([\w.]+): (.*)$", mine["message"], re.S)
        assert m and m.group(2) == theirs["message"], (mine, theirs)
        assert (theirs["severity"], mine["severity"]) == ("warning", "info")
        assert {k: v for k, v in mine.items() if k not in ("message", "severity")} == {
            k: v for k, v in theirs.items() if k not in ("message", "severity")
        }
        assert m.group(1).split(".")[0] in yaml_load(profile)  # a section this profile sets
        resolved.append(m.group(1))
    profile_doc = yaml_load(profile)
    argo = profile_doc.get("argo") or {}
    if argo.get("external") and argo.get("artifactRepository"):
        assert "argo.artifactRepository" in resolved  # remove-argo's advice is resolved, not repeated


def _without_validate(chain):
    return [(name, config) for name, config in chain if name != "enterprise-policy"]


@pytest.mark.parametrize("version", VERSIONS)
def test_field_report_profile_equals_the_chain_without_validation(version):
    profile = field_report_profile(version).replace("\nvalidate: true", "\n")
    assert "validate" not in yaml_load(profile)
    _assert_same_as_chain(version, profile, _without_validate(field_report_chain(version)))


@needs_policy
@pytest.mark.parametrize("version", VERSIONS)
def test_field_report_profile_equals_the_chain_with_the_derived_policy(version):
    # The integrity rule needs the profile's own input as baseline, which a chain does not
    # have: it is tested in test_integrity.py.
    profile = field_report_profile(version).replace("\nvalidate: true", "\nvalidate: {integrity: false}")
    out = _assert_same_as_chain(version, profile, field_report_chain(version))
    assert "enterprise-policy: " in out.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_options_profile_equals_the_chain(version):
    _assert_same_as_chain(version, OPTIONS_PROFILE, OPTIONS_CHAIN)


@needs_policy
def test_a_violation_fails_the_whole_run_with_the_input_unchanged():
    # Kubeflow v1.10 on the field report's Istio 1.6: its AuthorizationPolicies use CUSTOM.
    text = resource_list(rendered_items_text("v1.10"), FIELD_REPORT_PROFILE)
    out = run_function("enterprise-profile", text)
    assert out.exit_code == 1
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith("kfkrm enterprise-profile: error: ")
    assert "step enterprise-policy (profile validate)" in out.stderr and "CUSTOM" in out.stderr
    assert _items(out.stdout) == rendered_items_text("v1.10")
    errors = [r for r in _results(out.stdout) if r["severity"] == "error"]
    assert errors and all(r["message"].startswith("step enterprise-policy (profile validate): ") for r in errors)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_error_in_a_middle_step_fails_the_whole_run_with_the_input_unchanged(version):
    profile = OPTIONS_PROFILE.replace("namespaces: [kubeflow]", "namespaces: [no-such-namespace]")
    out = run_profile(version, profile)
    assert out.exit_code == 1
    assert out.stderr.count("\n") == 1
    assert "step namespace-injection (profile mesh.namespaces)" in out.stderr and "no-such-namespace" in out.stderr
    assert _items(out.stdout) == rendered_items_text(version)  # not even the earlier steps' changes


@pytest.mark.parametrize("version", VERSIONS)
def test_untouched_items_stay_byte_identical(version):
    """Independent of the chain: an item whose text changed must really have changed content."""
    out = run_profile(version, field_report_profile(version).replace("\nvalidate: true", "\n"))
    assert out.exit_code == 0, out.stderr
    output_raw = {_key(item): item.raw for item in ResourceList.parse(out.stdout).items}
    unchanged = changed = 0
    for item in ResourceList.parse(resource_list(rendered_items_text(version))).items:
        after = output_raw.get(_key(item))
        if after is None:
            continue  # removed (or moved to another namespace)
        if after == item.raw:
            unchanged += 1
        else:
            changed += 1
            assert yamlio.load(after[2:].replace("\n  ", "\n")) != yamlio.load(item.raw[2:].replace("\n  ", "\n")), (
                _key(item)
            )
    assert unchanged > 300 and changed > 50, (unchanged, changed)


def _key(item) -> tuple:
    return item.api_version, item.kind, item.namespace, item.name


@pytest.mark.parametrize("version", VERSIONS)
def test_a_second_run_changes_nothing(version):
    """The rewriting and enrolling sections are idempotent. (The removals too, with an info
    "nothing to remove": tests/test_idempotence.py runs the whole field-report profile twice.)"""
    profile = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
mesh: {namespaces: [kubeflow]}
podTemplates: {labels: {corp.example.com/team: ml}, annotations: {sidecar.istio.io/inject: "true"}, include: [{namespace: kubeflow}]}
registry: {rules: [{from: "*", to: registry.corp.example.com/proxy}]}
argo: {artifactRepository: {s3: {bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true}}}
envoyBaseId: 1
"""
    first = run_profile(version, profile)
    assert first.exit_code == 0, first.stderr
    second = run_function("enterprise-profile", resource_list(_items(first.stdout), profile))
    assert second.exit_code == 0, second.stderr
    assert _items(second.stdout) == _items(first.stdout)


def test_sections_are_optional_and_map_to_their_steps_only():
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"
    text = resource_list(
        items_block(namespace),
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterpriseProfile\nmesh: {namespaces: [kubeflow]}",
    )
    out = run_function("enterprise-profile", text)
    assert out.exit_code == 0, out.stderr
    assert (
        out.stderr
        == "kfkrm enterprise-profile: 1 steps | namespace-injection: labelled 1 of 1 namespaces for injection\n"
    )
    assert load_output(out.stdout)["items"][0]["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_the_cli_dispatches_on_the_profile_kind():
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"
    text = resource_list(
        items_block(namespace),
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterpriseProfile\nmesh: {namespaces: [kubeflow]}",
    )
    proc = run_cli([], text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("kfkrm enterprise-profile: 1 steps | namespace-injection: ")


def test_the_documented_profiles_validate():
    from kfkrm.fns.enterprise_profile import Config
    from kfkrm.fns.examples import EXAMPLES
    from kfkrm.runtime.config import parse_config

    for text in (EXAMPLES["enterprise-profile"], FIELD_REPORT_PROFILE, OPTIONS_PROFILE):
        config = yaml.load(text, Loader=yamlio.Loader)
        if "validate" in config and not _policy_available():
            del config["validate"]
        parse_config(Config, config, "enterprise-profile")


# -- bad configs: exit 1, one line naming the profile's field, the input unchanged -------------

BAD_CONFIGS = [
    ("mesh: {gateway: istio-system/corp-gateway, hosts: ['not a host!']}", "mesh.hosts"),
    ("mesh: {gateway: corp-gateway}", "mesh.gateway: 'corp-gateway' is not a gateway reference"),
    ("mesh: {hosts: [kubeflow.corp.example.com]}", "mesh.hosts: only used with mesh.gateway set"),
    ("mesh: {removeBundledIstio: true, istioVersion: 1.6}", 'mesh.istioVersion: must be a quoted string'),
    (
        "mesh: {namespaces: [kubeflow], keepBundled: [{name: x}]}",
        "mesh.keepBundled: only used with mesh.removeBundledIstio set",
    ),
    ("mesh: {namespaces: [Kubeflow]}", "mesh.namespaces: 'Kubeflow' is not a namespace name"),
    ("meshh: {namespaces: [kubeflow]}", "meshh: unknown field"),
    ("mesh: {namespaces: [kubeflow], gatway: x}", "mesh.gatway: unknown field"),
    ("registry: {rules: [{from: 'https://gcr.io', to: registry.corp.example.com}]}", "registry.rules[0].from"),
    (
        "registry: {rules: [{from: '*', to: a.example.com}, {from: gcr.io, to: b.example.com}]}",
        'registry: rules[0]: the catch-all "*" must be the last rule',
    ),
    ("registry: {rules: []}", "registry.rules: must hold at least one rule"),
    ("auth: {namespace: kubeflow, excludeOutboundPorts: ['99999']}", "auth.excludeOutboundPorts"),
    (
        "auth: {namespace: kubeflow, sidecar: false, excludeOutboundPorts: ['443']}",
        "auth: excludeOutboundPorts only applies with sidecar: true",
    ),
    ("auth: {sidecar: true}", "auth.namespace: required field is missing"),
    (
        "argo: {artifactRepository: {s3: {bucket: b, endpoint: 'https://s3.amazonaws.com', useSDKCreds: true}}}",
        "argo.artifactRepository.s3.endpoint: must be host[:port] without a scheme",
    ),
    (
        "argo: {artifactRepository: {s3: {bucket: b, endpoint: s3.amazonaws.com}}}",
        "argo.artifactRepository.s3: s3: no credentials",
    ),
    (
        "argo: {external: true, artifactRepository: {s3: {bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true}}}",
        "argo.artifactRepository: namespaces: target: namespace needs at least one namespace",
    ),
    (
        "argo: {keepCRDs: true, artifactRepository: {s3: {bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true}}}",
        "argo.keepCRDs: only used with argo.external: true",
    ),
    ("argo: {}", "argo: sets nothing to do"),
    ("envoyBaseId: 0", "envoyBaseId.baseId: must be between 1 and 4294967295"),
    ("envoyBaseId: {baseId: 1, images: []}", "envoyBaseId.images: must list at least one"),
    ("podTemplates: {include: [{namespace: kubeflow}]}", "podTemplates: sets neither labels nor annotations"),
    ("podTemplates: {labels: {}}", "podTemplates.labels: must set at least one label"),
    (
        "podTemplates: {annotations: {a: b}, include: [{}]}",
        "podTemplates.include[0]: a selector term must set at least one of",
    ),
    (
        "ingress: {type: NodePort, loadBalancerSourceRanges: [10.0.0.0/8]}",
        "ingress: loadBalancerSourceRanges needs type LoadBalancer",
    ),
    ("metadata: {name: empty}", "sets no section"),
]


@pytest.mark.parametrize("config,message", BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_config(config, message):
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"
    items = items_block(namespace)
    out = run_function(
        "enterprise-profile", resource_list(items, "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterpriseProfile\n" + config)
    )
    assert out.exit_code == 1
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith("kfkrm enterprise-profile: error: functionConfig EnterpriseProfile: ")
    assert message in out.stderr, out.stderr
    assert _items(out.stdout) == items


@needs_policy
@pytest.mark.parametrize(
    "config,message",
    [
        (
            "mesh: {namespaces: [kubeflow]}\nvalidate: {exemptions: [{kind: Deployment, rule: mesh, reason: ''}]}",
            "validate.exemptions[0].reason: must say why",
        ),
        (
            "mesh: {namespaces: [kubeflow]}\nvalidate: {exemptions: [{kind: Deployment, rule: meshh, reason: x}]}",
            "validate.exemptions[0].rule",
        ),
        (
            "mesh: {namespaces: [kubeflow]}\nvalidate: {forbid: [{}]}",
            "validate.forbid[0]: a selector term must set at least one of",
        ),
        ("validate: true", "validate: sets no rule"),
    ],
)
def test_bad_validate_config(config, message):
    test_bad_config(config, message)
