"""EnterprisePolicy: every rule on small inputs, exemptions, bad configs, and the acceptance
chain on the real manifests: all adaptations pass the policy, leaving any one out fails it."""

from __future__ import annotations

from functools import lru_cache

import pytest
import yaml

from helpers import REPO, items_block, load_output, rendered_items_text, resource_list, run_function
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import ResourceList

FNCONFIGS = REPO / "fnconfigs"


def policy(**sections) -> str:
    body = {"apiVersion": "kfkrm.dev/v1alpha1", "kind": "EnterprisePolicy", "metadata": {"name": "t"}}
    body.update(sections)
    return yaml.safe_dump(body, sort_keys=False)


def run(items: str, config: str):
    return run_function("enterprise-policy", resource_list(items, config))


def violations(outcome) -> list[tuple]:
    """(rule, kind, namespace/name, field) of each error result, from the output alone."""
    out = []
    for r in load_output(outcome.stdout).get("results") or []:
        if r["severity"] != "error":
            continue
        ref = r.get("resourceRef") or {}
        rule = r["message"][1 : r["message"].index("]")]
        name = f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else ref.get("name")
        out.append((rule, ref.get("kind"), name, (r.get("field") or {}).get("path")))
    return out


def results(outcome, severity: str) -> list[dict]:
    return [r for r in load_output(outcome.stdout).get("results") or [] if r["severity"] == severity]


def assert_items_unchanged(items: str, outcome) -> None:
    """A validator never changes items: the output items are the input items, byte for byte."""
    out = ResourceList.parse(outcome.stdout)
    assert [i.raw for i in out.items] == [i.raw for i in ResourceList.parse(resource_list(items)).items]


def deployment(name, namespace="kubeflow", image="registry.corp.example.com/app:1", labels=None, annotations=None):
    meta = {}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {
                        "labels": {"app": name, **(labels or {})},
                        **({"annotations": annotations} if annotations else {}),
                    },
                    "spec": {"containers": [{"name": "main", "image": image}]},
                },
            },
        },
        sort_keys=False,
    )


def namespace(name, labels=None):
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **({"labels": labels} if labels else {})}}
    )


def virtualservice(
    name,
    namespace="kubeflow",
    gateways=("istio-system/corp-gateway",),
    hosts=("kubeflow.corp.example.com",),
    match_gateways=None,
):
    http = {"route": [{"destination": {"host": f"{name}.{namespace}.svc.cluster.local"}}]}
    if match_gateways:
        http["match"] = [{"gateways": list(match_gateways)}]
    spec = {"hosts": list(hosts), "http": [http]}
    if gateways is not None:
        spec["gateways"] = list(gateways)
    return yaml.safe_dump(
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        },
        sort_keys=False,
    )


# -- registry ---------------------------------------------------------------------------------


def test_registry_every_image_place_is_checked_embedded_ones_included():
    cm = """apiVersion: v1
kind: ConfigMap
metadata: {name: inferenceservice-config, namespace: kubeflow}
data:
  agent: '{"image": "kfserving/agent:v0.5.1"}'
  cacheImage: registry.corp.example.com/cache:1
"""
    pod = """apiVersion: v1
kind: Pod
metadata: {name: p, namespace: kubeflow}
spec:
  initContainers:
  - {name: init, image: "busybox"}
  containers:
  - name: c
    image: registry.corp.example.com/proxy/gcr.io/x/c:1
    args: ["--executor-image", "gcr.io/ml-pipeline/argoexec:v2"]
    env:
    - {name: DRIVER_IMAGE, value: "ghcr.io/kubeflow/kfp-driver:2.5.0"}
"""
    items = items_block(cm, pod)
    out = run(items, policy(allowedRegistries=["registry.corp.example.com"]))
    assert out.exit_code == 1
    assert sorted(violations(out)) == sorted(
        [
            ("registry", "ConfigMap", "kubeflow/inferenceservice-config", "data.agent"),
            ("registry", "Pod", "kubeflow/p", "spec.initContainers[0].image"),
            ("registry", "Pod", "kubeflow/p", "spec.containers[0].args[1]"),
            ("registry", "Pod", "kubeflow/p", "spec.containers[0].env[0].value"),
        ]
    )
    assert "kfkrm enterprise-policy: error:" in out.stderr and "(and 3 more errors" in out.stderr
    assert out.stderr.count("\n") == 1
    assert_items_unchanged(items, out)


def test_registry_matches_whole_path_components():
    items = items_block(
        deployment("a", image="registry.corp.example.com.evil.io/app:1"),
        deployment("b", image="registry.corp.example.com/ml/app:1"),
        deployment("c", image="registry.corp.example.com/mlx/app:1"),
    )
    out = run(items, policy(allowedRegistries=["registry.corp.example.com/ml"]))
    assert sorted(n for _, _, n, _ in violations(out)) == ["kubeflow/a", "kubeflow/c"]


def test_registry_clean_input_passes_with_items_byte_identical():
    items = items_block("# a comment kept\n" + deployment("a"), namespace("kubeflow", {"istio-injection": "enabled"}))
    out = run(items, policy(allowedRegistries=["registry.corp.example.com"]))
    assert out.exit_code == 0, out.stderr
    assert out.stderr == "kfkrm enterprise-policy: no violations of t\n"
    assert_items_unchanged(items, out)
    assert "# a comment kept" in out.stdout


# -- mesh -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, annotations, ns_labels, injected",
    [
        (None, None, {"istio-injection": "enabled"}, True),
        (None, None, {"istio.io/rev": "1-6-8"}, True),
        (None, None, None, False),
        (None, None, {"istio-injection": "disabled"}, False),
        (None, {"sidecar.istio.io/inject": "false"}, {"istio-injection": "enabled"}, False),
        (None, {"sidecar.istio.io/inject": "true"}, None, True),
        (
            {"sidecar.istio.io/inject": "false"},
            {"sidecar.istio.io/inject": "true"},
            {"istio-injection": "enabled"},
            False,
        ),
        ({"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"}, None, True),
    ],
)
def test_mesh_label_then_annotation_then_namespace_label(labels, annotations, ns_labels, injected):
    items = items_block(deployment("w", labels=labels, annotations=annotations), namespace("kubeflow", ns_labels))
    out = run(items, policy(meshNamespaces=["kubeflow"]))
    assert out.exit_code == (0 if injected else 1), out.stderr
    if not injected:
        field = (
            "spec.template.metadata.labels"
            if labels
            else "spec.template.metadata.annotations"
            if annotations
            else "spec.template.metadata"
        )
        [(rule, kind, name, got)] = violations(out)
        assert (rule, kind, name) == ("mesh", "Deployment", "kubeflow/w")
        assert got.startswith(field)


def test_mesh_namespace_not_in_the_stream_and_other_namespaces_unchecked():
    items = items_block(deployment("w"), deployment("x", namespace="other"))
    out = run(items, policy(meshNamespaces=["kubeflow"]))
    assert violations(out) == [("mesh", "Deployment", "kubeflow/w", "spec.template.metadata")]
    assert "Namespace is not in the stream" in results(out, "error")[0]["message"]


# -- gateway and host -------------------------------------------------------------------------


def test_gateways_resolve_as_istio_does_and_mesh_is_allowed():
    items = items_block(
        virtualservice("ok", gateways=["istio-system/corp-gateway", "mesh"]),
        virtualservice("legacy-form-ok", gateways=["corp-gateway.istio-system"]),
        virtualservice("bare", gateways=["kubeflow-gateway"]),  # means kubeflow/kubeflow-gateway
        virtualservice("own-ns", namespace="istio-system", gateways=["corp-gateway"]),  # istio-system/corp-gateway
        virtualservice("in-match", gateways=None, match_gateways=["./kubeflow-gateway"]),
        virtualservice("mesh-only", gateways=None),
    )
    out = run(items, policy(allowedGateways=["istio-system/corp-gateway"]))
    assert sorted(violations(out)) == [
        ("gateway", "VirtualService", "kubeflow/bare", "spec.gateways[0]"),
        ("gateway", "VirtualService", "kubeflow/in-match", "spec.http[0].match[0].gateways[0]"),
    ]
    assert "(Gateway kubeflow/kubeflow-gateway)" in results(out, "error")[0]["message"]  # resolved as Istio does


def test_wildcard_host_is_a_violation_of_its_own_rule():
    items = items_block(
        virtualservice("a", hosts=["kubeflow.corp.example.com", "*"]), virtualservice("b", hosts=["*.corp.example.com"])
    )
    out = run(items, policy(allowedGateways=["istio-system/corp-gateway"]))
    assert violations(out) == [("host", "VirtualService", "kubeflow/a", "spec.hosts[1]")]


# -- forbid -----------------------------------------------------------------------------------


def test_forbid_terms_match_group_kind_name_globs():
    items = items_block(
        deployment("workflow-controller"),
        deployment("istiod", namespace="istio-system"),
        deployment("istiod-canary", namespace="istio-system"),
        yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "istiod", "namespace": "istio-system"}}
        ),
    )
    out = run(
        items,
        policy(
            forbid=[
                {"group": "apps", "kind": "Deployment", "name": "workflow-controller"},
                {"group": "apps", "kind": "Deployment", "name": "istiod*"},
            ]
        ),
    )
    assert sorted(violations(out)) == [
        ("forbid", "Deployment", "istio-system/istiod", None),
        ("forbid", "Deployment", "istio-system/istiod-canary", None),
        ("forbid", "Deployment", "kubeflow/workflow-controller", None),
    ]
    assert sum("forbid[1]" in r["message"] for r in results(out, "error")) == 2


# -- auth -------------------------------------------------------------------------------------

AUTH_STS = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: authservice, namespace: NS}
spec:
  serviceName: authservice
  selector: {matchLabels: {app: authservice}}
  template:
    metadata: {labels: {app: authservice}}
    spec:
      containers:
      - name: authservice
        image: gcr.io/arrikto/kubeflow/oidc-authservice:28c59ef
        envFrom: [{configMapRef: {name: oidc-authservice-parameters}}]
"""
AUTH_SVC = """apiVersion: v1
kind: Service
metadata: {name: authservice, namespace: NS}
spec:
  selector: {app: authservice}
  ports: [{port: 8080}]
"""
AUTH_CM = """apiVersion: v1
kind: ConfigMap
metadata: {name: oidc-authservice-parameters, namespace: NS}
data: {OIDC_PROVIDER: "https://sso.corp.example.com"}
"""
ENVOY_FILTER = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: authn-filter, namespace: istio-system}
spec:
  configPatches:
  - patch:
      value:
        http_service:
          server_uri: {uri: "http://authservice.REFNS.svc.cluster.local", cluster: "outbound|8080||authservice.REFNS.svc.cluster.local"}
"""


def auth_items(ns: str, cm_ns: str, ref_ns: str) -> str:
    return items_block(
        AUTH_STS.replace("NS", ns),
        AUTH_SVC.replace("NS", ns),
        AUTH_CM.replace("NS", cm_ns),
        ENVOY_FILTER.replace("REFNS", ref_ns),
    )


def test_auth_service_in_place_with_consistent_references_passes():
    out = run(auth_items("kubeflow", "kubeflow", "kubeflow"), policy(authService={"namespace": "kubeflow"}))
    assert out.exit_code == 0, out.stderr


def test_auth_service_elsewhere_names_each_of_its_objects_and_each_stale_reference():
    out = run(auth_items("istio-system", "istio-system", "istio-system"), policy(authService={"namespace": "kubeflow"}))
    assert sorted(violations(out)) == sorted(
        [
            ("auth", "StatefulSet", "istio-system/authservice", "metadata.namespace"),
            ("auth", "Service", "istio-system/authservice", "metadata.namespace"),
            ("auth", "ConfigMap", "istio-system/oidc-authservice-parameters", "metadata.namespace"),
            (
                "auth",
                "EnvoyFilter",
                "istio-system/authn-filter",
                "spec.configPatches[0].patch.value.http_service.server_uri.uri",
            ),
            (
                "auth",
                "EnvoyFilter",
                "istio-system/authn-filter",
                "spec.configPatches[0].patch.value.http_service.server_uri.cluster",
            ),
        ]
    )


def test_auth_half_moved_object_left_behind_and_stale_reference():
    out = run(auth_items("kubeflow", "istio-system", "istio-system"), policy(authService={"namespace": "kubeflow"}))
    got = violations(out)
    assert ("auth", "StatefulSet", "kubeflow/authservice", None) in got  # its ConfigMap is elsewhere
    assert any(
        "ConfigMap 'oidc-authservice-parameters', which is not in namespace kubeflow: it is in istio-system"
        in r["message"]
        for r in results(out, "error")
    )
    assert sum(1 for v in got if v[1] == "EnvoyFilter") == 2


def test_auth_service_missing_and_workload_selector():
    out = run(items_block(deployment("web")), policy(authService={"namespace": "kubeflow"}))
    assert violations(out) == [("auth", None, None, "authService")]
    assert "no auth service found" in out.stderr
    out = run(
        items_block(deployment("sso-proxy")),
        policy(authService={"namespace": "kubeflow", "workload": {"kind": "Deployment", "name": "sso-proxy"}}),
    )
    assert out.exit_code == 0, out.stderr


# -- istio ------------------------------------------------------------------------------------


def test_istio_version_api_versions_and_fields():
    policy_v1 = yaml.safe_dump(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "a", "namespace": "kubeflow"},
            "spec": {"action": "ALLOW"},
        }
    )
    custom = yaml.safe_dump(
        {
            "apiVersion": "security.istio.io/v1beta1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "b", "namespace": "kubeflow"},
            "spec": {"action": "CUSTOM", "provider": {"name": "x"}},
        }
    )
    unknown = yaml.safe_dump({"apiVersion": "networking.istio.io/v9", "kind": "Thing", "metadata": {"name": "c"}})
    items = items_block(policy_v1, custom, unknown)
    out = run(items, policy(istioVersion="1.6"))
    assert sorted(violations(out)) == [
        ("istio", "AuthorizationPolicy", "kubeflow/a", "apiVersion"),
        ("istio", "AuthorizationPolicy", "kubeflow/b", "spec.action"),
        ("istio", "AuthorizationPolicy", "kubeflow/b", "spec.provider"),
    ]
    assert any("not in kfkrm's Istio API table" in r["message"] for r in results(out, "info"))
    assert run(items, policy(istioVersion="1.22")).exit_code == 0


# -- exemptions -------------------------------------------------------------------------------


def test_exemption_waives_one_rule_for_the_objects_it_selects_and_keeps_the_reason():
    items = items_block(
        deployment("katib-mysql", image="mysql:8", annotations={"sidecar.istio.io/inject": "false"}),
        namespace("kubeflow", {"istio-injection": "enabled"}),
    )
    exemption = {
        "kind": "Deployment",
        "namespace": "kubeflow",
        "name": "katib-mysql",
        "rule": "mesh",
        "reason": "database traffic kept off the mesh",
    }
    out = run(
        items,
        policy(meshNamespaces=["kubeflow"], allowedRegistries=["registry.corp.example.com"], exemptions=[exemption]),
    )
    assert violations(out) == [
        ("registry", "Deployment", "kubeflow/katib-mysql", "spec.template.spec.containers[0].image")
    ]
    [info] = [r for r in results(out, "info") if "exempt" in r["message"]]
    assert "database traffic kept off the mesh" in info["message"] and info["resourceRef"]["name"] == "katib-mysql"


def test_an_exemption_that_exempts_nothing_is_a_warning():
    items = items_block(deployment("a"), namespace("kubeflow", {"istio-injection": "enabled"}))
    out = run(
        items, policy(meshNamespaces=["kubeflow"], exemptions=[{"name": "gone", "rule": "mesh", "reason": "old"}])
    )
    assert out.exit_code == 0
    [warning] = results(out, "warning")
    assert warning["field"]["path"] == "exemptions[0]"
    assert "1 warning" in out.stderr


# -- bad configs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sections, expected",
    [
        (
            {"exemptions": [{"name": "x", "rule": "mesh"}], "meshNamespaces": ["kubeflow"]},
            "exemptions[0].reason: required field is missing",
        ),
        (
            {"exemptions": [{"name": "x", "rule": "mesh", "reason": "  "}], "meshNamespaces": ["kubeflow"]},
            "exemptions[0].reason: must say why",
        ),
        (
            {"exemptions": [{"name": "x", "rule": "meshh", "reason": "r"}], "meshNamespaces": ["kubeflow"]},
            "exemptions[0].rule",
        ),
        (
            {"exemptions": [{"rule": "mesh", "reason": "r"}], "meshNamespaces": ["kubeflow"]},
            "a selector term must set at least one of",
        ),
        ({}, "sets no rule"),
        (
            {"allowedRegistries": ["https://registry.corp.example.com"]},
            "allowedRegistries: 'https://registry.corp.example.com' is not a registry host",
        ),
        ({"allowedRegistries": []}, "allowedRegistries: must name at least one registry"),
        (
            {"allowedGateways": ["corp-gateway"]},
            "allowedGateways: 'corp-gateway' is not a gateway reference: expected namespace/name",
        ),
        ({"meshNamespaces": ["Kubeflow"]}, "meshNamespaces[0]: must be a namespace name"),
        ({"istioVersion": 1.6}, 'istioVersion: must be a quoted string like "1.6"'),
        ({"istioVersion": "0.9"}, "istioVersion: expected an Istio minor version from 1.5 on"),
        ({"forbid": [{"knd": "Deployment"}]}, "forbid[0].knd: unknown field"),
        ({"authService": {}}, "authService.namespace: required field is missing"),
        ({"meshNamespace": ["kubeflow"]}, "meshNamespace: unknown field"),
    ],
)
def test_bad_config_is_one_clear_error_and_no_mutated_output(sections, expected):
    items = items_block(deployment("a"))
    out = run(items, policy(**sections))
    assert out.exit_code == 1
    assert out.stderr.startswith("kfkrm enterprise-policy: error: functionConfig EnterprisePolicy: ")
    assert expected in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1
    assert_items_unchanged(items, out)


def test_a_configmap_config_is_refused_with_a_clear_message():
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\ndata: {meshNamespaces: kubeflow}\n"
    out = run(items_block(deployment("a")), cm)
    assert out.exit_code == 1 and "EnterprisePolicy cannot be configured with a ConfigMap" in out.stderr


def test_the_example_configs_validate():
    from kfkrm.fns import enterprise_policy
    from kfkrm.fns.examples import EXAMPLES
    from kfkrm.runtime.config import parse_config

    for text in (EXAMPLES["enterprise-policy"], (FNCONFIGS / "enterprise-policy.yaml").read_text()):
        config = parse_config(enterprise_policy.Config, yamlio.load(text), "enterprise-policy")
        assert config.exemptions[0].reason


# -- the acceptance chain on the real manifests -------------------------------------------------
#
# Each adaptation is run in-process with its config from fnconfigs/, adapted where the test
# needs the configs to agree with one policy: the same registry, gateway and namespaces.
# `auth` (dex) is made a mesh namespace too, so that NamespaceInjection has a namespace to
# enrol: upstream already labels kubeflow, and the pod annotations cover kubeflow only.


def fnconfig(name: str) -> dict:
    return yamlio.load((FNCONFIGS / f"{name}.yaml").read_text())


def istio_minor(version: str) -> str:
    # Kubeflow v1.10's oauth2-proxy AuthorizationPolicy (CUSTOM, 1.9+) and dex claims to
    # headers (1.17+) need a newer mesh than the field report's 1.6.
    return "1.6" if version == "v1.3.0" else "1.22"


def adaptation_configs(version: str) -> dict[str, dict]:
    configs = {name: fnconfig(name) for name in ADAPTATIONS}
    configs["remove-istio"]["istioVersion"] = istio_minor(version)
    configs["namespace-injection"]["namespaces"] = ["kubeflow", "auth"]
    # the fnconfig's exclude names katib-mysql a StatefulSet; it is a Deployment in both versions
    configs["pod-template-annotations"]["exclude"] = [{"kind": "Deployment", "name": "katib-mysql"}]
    # this chain checks the mesh rule against every pod: upstream's opt-outs are enrolled too
    # (kept by default; the profile's derived policy exempts them, tests/test_gateway_identity.py)
    configs["pod-template-annotations"]["forceInjection"] = True
    return configs


ADAPTATIONS = [
    "remove-istio",
    "remove-argo",
    "authservice-relocation",
    "virtualservice-gateway",
    "image-proxy",
    "namespace-injection",
    "pod-template-annotations",
    "pod-template-labels",
    "envoy-base-id",
    "argo-artifact-repository",
]


def chain_policy(version: str) -> str:
    config = fnconfig("enterprise-policy")
    config["meshNamespaces"] = ["kubeflow", "auth"]
    config["istioVersion"] = istio_minor(version)
    return yamlio.dump(config)


@lru_cache(maxsize=None)
def render_first(version: str, count: int) -> str:
    """The rendered manifests after the first `count` adaptations, as an items block."""
    if count == 0:
        return rendered_items_text(version)
    return apply(version, ADAPTATIONS[count - 1], render_first(version, count - 1))


def apply(version: str, name: str, items: str) -> str:
    out = run_function(name, resource_list(items, yamlio.dump(adaptation_configs(version)[name])))
    assert out.exit_code == 0, f"{name}: {out.stderr}"
    return "".join(i.raw if not i.changed else i.text(0) for i in ResourceList.parse(out.stdout).items)


def render(version: str, left_out: str = "") -> str:
    """The rendered manifests after every adaptation but `left_out`."""
    if not left_out:
        return render_first(version, len(ADAPTATIONS))
    index = ADAPTATIONS.index(left_out)
    items = render_first(version, index)
    for name in ADAPTATIONS[index + 1 :]:
        items = apply(version, name, items)
    return items


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
def test_a_render_with_every_adaptation_passes(version):
    items = render(version)
    out = run(items, chain_policy(version))
    assert out.exit_code == 0, out.stderr
    assert not results(out, "warning")  # katib-mysql's exemption is used
    [exempt] = [r for r in results(out, "info") if "exempt" in r["message"]]
    assert exempt["resourceRef"]["name"] == "katib-mysql"
    assert_items_unchanged(items, out)


# What leaving one adaptation out must break, from reading the manifests (see docs):
# (rule, kind, namespace/name) that must be among the violations, and the rules that may occur.
LEFT_OUT = {
    "remove-istio": ({("forbid", "Deployment", "istio-system/istiod")}, {"forbid"}),
    "remove-argo": ({("forbid", "Deployment", "kubeflow/workflow-controller")}, {"forbid"}),
    "virtualservice-gateway": (
        {
            ("gateway", "VirtualService", "kubeflow/centraldashboard"),
            ("host", "VirtualService", "kubeflow/centraldashboard"),
        },
        {"gateway", "host"},
    ),
    "image-proxy": ({("registry", "Deployment", "kubeflow/centraldashboard")}, {"registry"}),
    "namespace-injection": ({("mesh", "Deployment", "auth/dex")}, {"mesh"}),
    # upstream opts these out (v1.3.0 by annotation, v1.10 by label)
    "pod-template-annotations": (
        {("mesh", "Deployment", "kubeflow/katib-controller"), ("mesh", "StatefulSet", "kubeflow/metacontroller")},
        {"mesh"},
    ),
}
AUTH_LEFT_OUT = {
    "v1.3.0": {
        ("auth", "StatefulSet", "istio-system/authservice"),
        ("auth", "Service", "istio-system/authservice"),
        ("auth", "EnvoyFilter", "istio-system/authn-filter"),
    },
    "v1.10": {
        ("auth", "Deployment", "oauth2-proxy/oauth2-proxy"),
        ("auth", "Service", "oauth2-proxy/oauth2-proxy"),
        ("auth", "VirtualService", "oauth2-proxy/oauth2-proxy"),
    },  # Istio's mesh config is removed with Istio
}


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
@pytest.mark.parametrize("left_out", list(LEFT_OUT) + ["authservice-relocation"])
def test_leaving_one_adaptation_out_fails_naming_the_violations(version, left_out):
    items = render(version, left_out)
    out = run(items, chain_policy(version))
    assert out.exit_code == 1
    got = violations(out)
    found = {(rule, kind, name) for rule, kind, name, _ in got}
    expected, rules = (AUTH_LEFT_OUT[version], {"auth"}) if left_out == "authservice-relocation" else LEFT_OUT[left_out]
    assert expected <= found, found
    assert {rule for rule, *_ in got} <= rules
    assert_items_unchanged(items, out)
