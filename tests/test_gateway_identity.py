"""Issue 11: the auth chain follows the organisation's gateway workload.

On every rendered Kubeflow generation, the profile that moves the VirtualServices to
istio-ingress/acme-gw must leave nothing naming Kubeflow's own gateway identity. The oracle
is a plain string scan of the output, parsed with PyYAML (not kfkrm's reader): the tokens
`istio-system` and `ingressgateway` (the principal, the Service address, the namespace,
the pod labels) must be gone from every field but object names, and no selector may still
pick the cluster-local gateway pods. Knative's `_example` blocks are documentation.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest
import yaml

from helpers import (
    items_block,
    load_output,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_function,
    yaml_docs,
    yaml_load,
)

VERSIONS = ("v1.3.0", "v1.7.0", "v1.10")
WORKLOAD = """  gatewayWorkload:
    namespace: istio-ingress
    serviceAccount: acme-gw
    labels: {istio: acme-gw}
    service: acme-gw.istio-ingress.svc.cluster.local
"""
PROFILE = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
metadata: {name: acme}
mesh:
  removeBundledIstio: true
  keepBundled:
  - {namespace: istio-system, name: "*authservice*"}
  gateway: istio-ingress/acme-gw
%s  localGateway: {namespace: istio-ingress, labels: {istio: acme-local-gw}, service: acme-local-gw.istio-ingress.svc.cluster.local}
  hosts: [kubeflow.acme.example.com]
  removeUnusedGateways: true
  namespaces: [kubeflow]
  istioVersion: "1.20"    # issue 26: v1.3/v1.7's authn-filter becomes a host-scoped CUSTOM policy
podTemplates:
  annotations: {sidecar.istio.io/inject: "true"}
  include: [{namespace: kubeflow}]
registry:
  rules: [{from: "*", to: registry.acme.example.com/proxy}]
auth: {namespace: kubeflow, excludeOutboundPorts: ["443"]}
argo: {external: true}
validate: true
"""
FORBIDDEN = re.compile(r"istio-system|ingressgateway")
LOCAL_LABELS = {"app": "cluster-local-gateway", "istio": "cluster-local-gateway"}


@lru_cache(maxsize=None)
def run_profile(version: str, workload: str = WORKLOAD):
    return run_function("enterprise-profile", resource_list(rendered_items_text(version), PROFILE % workload))


def _strings(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,), str(key)
            yield from _strings(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, path + (i,))
    elif isinstance(node, str):
        yield path, node


def leftovers(objects: list) -> list[str]:
    """Every field (but names and Knative's documentation) still naming Kubeflow's gateway identity."""
    found = []
    for obj in objects:
        md = obj.get("metadata") or {}
        where = f"{obj['kind']} {md.get('namespace', '')}/{md.get('name')}"
        for path, text in _strings(obj):
            if path in (("metadata", "name"),) or path[:2] == ("data", "_example"):
                continue
            if FORBIDDEN.search(text):
                found.append(f"{where} {path}")
        for selector in _selectors(obj):
            if selector and all(LOCAL_LABELS.get(k) == v for k, v in selector.items()):
                found.append(f"{where} selects the cluster-local gateway pods {selector}")
    return found


def _selectors(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("selector", "matchLabels") and isinstance(value, dict):
                yield value
            if key == "workloadSelector" and isinstance(value, dict):
                yield value.get("labels") or {}
            yield from _selectors(value)
    elif isinstance(node, list):
        for value in node:
            yield from _selectors(value)


@pytest.mark.parametrize("version", VERSIONS)
def test_profile_with_gateway_workload_leaves_no_reference_to_kubeflows_gateway(version):
    outcome = run_profile(version)
    assert outcome.exit_code == 0, outcome.stderr
    doc = yaml_load(outcome.stdout)
    assert leftovers(doc["items"]) == []
    # validate: true passed (it is the last step) with no exemptions written by anyone
    assert "enterprise-policy:" in outcome.stderr and "exemptions" not in PROFILE


@pytest.mark.parametrize("version", VERSIONS)
def test_the_oracle_sees_the_references_in_the_input(version):
    """The scan is not vacuous: upstream names its gateway identity in every generation."""
    objects = yaml_docs(rendered_text(version))
    kubeflow_side = [o for o in objects if (o.get("metadata") or {}).get("namespace") not in ("istio-system", None)]
    assert len(leftovers(kubeflow_side)) >= 4


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rewrite_is_an_info_result_naming_object_and_field(version):
    outcome = run_profile(version)
    results = load_output(outcome.stdout)["results"]
    rewrites = [
        r for r in results if "->" in r["message"] and ("gateway's" in r["message"] or "gateway pods" in r["message"])
    ]
    assert rewrites and all(
        r["severity"] == "info" and r.get("field", {}).get("path") and r.get("resourceRef") for r in rewrites
    )


EXPECTED_REFERENCES = {  # (kind, name) that must be named when gatewayWorkload is absent
    "v1.3.0": {
        ("EnvoyFilter", "authn-filter"),
        ("AuthorizationPolicy", "ml-pipeline-ui"),
        ("ConfigMap", "config-istio"),
        ("ConfigMap", "inferenceservice-config"),
    },
    "v1.7.0": {
        ("EnvoyFilter", "authn-filter"),
        ("AuthorizationPolicy", "central-dashboard"),
        ("AuthorizationPolicy", "ml-pipeline-ui"),
        ("ConfigMap", "config-istio"),
    },
    "v1.10": {
        ("AuthorizationPolicy", "istio-ingressgateway-oauth2-proxy"),
        ("AuthorizationPolicy", "istio-ingressgateway-require-jwt"),
        ("RequestAuthentication", "dex-jwt"),
        ("NetworkPolicy", "ml-pipeline-ui"),
        ("AuthorizationPolicy", "central-dashboard"),
        ("ConfigMap", "config-istio"),
    },
}


@pytest.mark.parametrize("version", VERSIONS)
def test_without_gateway_workload_the_run_fails_naming_each_reference(version):
    outcome = run_profile(version, "")
    assert outcome.exit_code == 1
    errors = [r for r in load_output(outcome.stdout)["results"] if r["severity"] == "error"]
    named = {(r["resourceRef"]["kind"], r["resourceRef"]["name"]) for r in errors if r.get("resourceRef")}
    assert EXPECTED_REFERENCES[version] <= named
    assert all(r.get("field", {}).get("path") for r in errors)
    assert any("gatewayWorkload" in r["message"] and "kubeflow-default" in r["message"] for r in errors)
    # every field the with-workload run rewrites is named here, and nothing else
    rewritten = {
        (r["resourceRef"]["kind"], r["resourceRef"]["name"], r["field"]["path"])
        for r in load_output(run_profile(version).stdout)["results"]
        if r["severity"] == "info"
        and r.get("resourceRef")
        and r["message"].startswith(("the gateway's", "selects the gateway pods"))
    }
    failed = {
        (r["resourceRef"]["kind"], r["resourceRef"]["name"], r["field"]["path"]) for r in errors if r.get("resourceRef")
    }
    rewritten, failed = {(k, n) for k, n, _ in rewritten}, {(k, n) for k, n, _ in failed}
    assert rewritten <= failed
    # beyond those, only what AuthServiceRelocation added for the gateway it was told about (Kubeflow's, by default)
    assert all(name.endswith("-from-gateway") for _, name in failed - rewritten)


@pytest.mark.parametrize("version", VERSIONS)
def test_kubeflow_default_is_an_explicit_statement_and_changes_nothing_of_the_identity(version):
    outcome = run_profile(version, WORKLOAD.replace(WORKLOAD, "  gatewayWorkload: kubeflow-default\n"))
    assert outcome.exit_code == 0, outcome.stderr
    doc = yaml_load(outcome.stdout)
    kubeflow_side = [o for o in doc["items"] if (o.get("metadata") or {}).get("namespace") not in ("istio-system",)]
    assert leftovers(kubeflow_side)  # the references stay: the gateway pods are Kubeflow's


# -- small cases ------------------------------------------------------------------------------

VSG = """
apiVersion: kfkrm.dev/v1alpha1
kind: VirtualServiceGateway
metadata: {name: t}
gateway: istio-ingress/acme-gw
hosts: [kubeflow.acme.example.com]
"""
VS = (
    "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: a, namespace: kubeflow}\n"
    "spec: {gateways: [kubeflow/kubeflow-gateway], hosts: ['*'], http: [{route: [{destination: {host: a}}]}]}\n"
)


def test_network_policy_pod_and_namespace_sources_are_repointed():
    netpol = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: kubeflow}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: "
        "{kubernetes.io/metadata.name: istio-system}}\n      podSelector: {matchLabels: {app: istio-ingressgateway}}\n"
        "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}\n"
    )
    config = VSG + WORKLOAD.replace("  ", "", 1).replace("\n  ", "\n")
    outcome = run_function("virtualservice-gateway", resource_list(items_block(VS, netpol), config))
    assert outcome.exit_code == 0, outcome.stderr
    np = [o for o in load_output(outcome.stdout)["items"] if o["kind"] == "NetworkPolicy"][0]
    peers = np["spec"]["ingress"][0]["from"]
    assert peers[0] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
        "podSelector": {"matchLabels": {"istio": "acme-gw"}},
    }
    assert peers[1] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}


def test_a_login_policy_that_would_collide_in_the_gateway_namespace_is_an_error():
    def policy(ns):
        return (
            f"apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {{name: require-jwt, "
            f"namespace: {ns}}}\nspec: {{action: DENY, selector: {{matchLabels: {{app: istio-ingressgateway}}}}, "
            "rules: [{from: [{source: {notRequestPrincipals: ['*']}}]}]}\n"
        )

    config = VSG + WORKLOAD.replace("  ", "", 1).replace("\n  ", "\n")
    outcome = run_function(
        "virtualservice-gateway",
        resource_list(items_block(VS, policy("istio-system"), policy("istio-ingress")), config),
    )
    assert outcome.exit_code == 1
    assert "already has AuthorizationPolicy istio-ingress/require-jwt" in outcome.stderr


@pytest.mark.parametrize(
    "bad, message",
    [
        ("gatewayWorkload: default\n", "gatewayWorkload"),
        (
            "gatewayWorkload: {namespace: istio-ingress, serviceAccount: acme-gw, labels: {}, service: a.b}\n",
            "at least one label",
        ),
        (
            "gatewayWorkload: {namespace: istio-ingress, serviceAccount: acme-gw, labels: {istio: acme-gw}}\n",
            "gatewayWorkload.service is required",
        ),
        (
            "gatewayWorkload: kubeflow-default\ngatewayService: other.istio-system.svc.cluster.local\n",
            "kubeflow-default",
        ),
        ("localGateway: drop\n", "localGateway"),
    ],
)
def test_bad_gateway_settings_are_config_errors(bad, message):
    outcome = run_function("virtualservice-gateway", resource_list(items_block(VS), VSG + bad))
    assert outcome.exit_code == 1 and message in outcome.stderr, outcome.stderr
    assert "Traceback" not in outcome.stderr


# -- upstream opt-outs -------------------------------------------------------------------------

ANNOTATE = """
apiVersion: kfkrm.dev/v1alpha1
kind: PodTemplateAnnotations
metadata: {name: t}
annotations: {sidecar.istio.io/inject: "true", corp.example.com/team: ml}
"""


def _opted_out(objects) -> set[tuple[str, str, str]]:
    """Independent oracle: workloads whose pod template says sidecar.istio.io/inject "false"."""
    found = set()
    for obj in objects:
        if not obj or obj.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            continue
        meta = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        if any(
            str((meta.get(k) or {}).get("sidecar.istio.io/inject")).lower() == "false"
            for k in ("labels", "annotations")
        ):
            found.add((obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_upstream_opt_outs_are_kept_with_a_warning_naming_each_workload(version):
    before = _opted_out(yaml_docs(rendered_text(version)))
    outcome = run_function("pod-template-annotations", resource_list(rendered_items_text(version), ANNOTATE))
    assert outcome.exit_code == 0, outcome.stderr
    doc = load_output(outcome.stdout)
    assert _opted_out(doc["items"]) == before  # every opt-out survives
    warned = {
        (r["resourceRef"]["kind"], r["resourceRef"].get("namespace", ""), r["resourceRef"]["name"])
        for r in doc["results"]
        if r["severity"] == "warning" and "forceInjection" in r["message"]
    }
    assert warned == before
    # the other annotations still go on those workloads
    by_ref = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in doc["items"]}
    for ref in before:
        assert by_ref[ref]["spec"]["template"]["metadata"]["annotations"]["corp.example.com/team"] == "ml"
    forced = run_function(
        "pod-template-annotations", resource_list(rendered_items_text(version), ANNOTATE + "forceInjection: true\n")
    )
    assert forced.exit_code == 0 and _opted_out(load_output(forced.stdout)["items"]) == set()


def test_the_derived_policy_exempts_only_the_kept_opt_outs():
    v = "v1.10"
    outcome = run_profile(v)
    results = load_output(outcome.stdout)["results"]
    exempt = {r["resourceRef"]["name"] for r in results if "[mesh] exempt" in r["message"]}
    kubeflow = {name for kind, ns, name in _opted_out(yaml_docs(rendered_text(v))) if ns == "kubeflow"}
    assert exempt == kubeflow and len(exempt) >= 9
    forced = run_function(
        "enterprise-profile",
        resource_list(
            rendered_items_text(v),
            (PROFILE % WORKLOAD).replace(
                "  include: [{namespace: kubeflow}]", "  include: [{namespace: kubeflow}]\n  forceInjection: true"
            ),
        ),
    )
    assert forced.exit_code == 0, forced.stderr
    assert not [r for r in load_output(forced.stdout)["results"] if "[mesh] exempt" in r["message"]]


# -- the mesh's extension provider -------------------------------------------------------------


def test_validate_checks_the_organisations_mesh_config_against_the_moved_auth_service(tmp_path):
    outcome = run_profile("v1.10")
    assert outcome.exit_code == 0, outcome.stderr
    warning = [
        r
        for r in load_output(outcome.stdout)["results"]
        if r["severity"] == "warning" and "extensionProviders: [" in r["message"]
    ]
    assert len(warning) == 1 and warning[0]["field"]["path"] == "spec.provider.name"
    snippet = warning[0]["message"].split(": extensionProviders: ", 1)[1].split(" (kfkrm validate", 1)[0]
    entry = yaml_load(snippet)[0]  # one line of valid YAML
    assert entry["name"] == "oauth2-proxy"
    assert entry["envoyExtAuthzHttp"]["service"] == "oauth2-proxy.kubeflow.svc.cluster.local"
    assert entry["envoyExtAuthzHttp"]["port"] == 80

    render = tmp_path / "render.yaml"
    render.write_text(outcome.stdout)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\n"
        "authService: {namespace: kubeflow}\n"
    )
    upstream = [
        o
        for o in yaml_docs(rendered_text("v1.10"))
        if o and o["kind"] == "ConfigMap" and o["metadata"]["name"] == "istio"
    ]
    stale = tmp_path / "istio-configmap.yaml"
    stale.write_text(yaml.safe_dump(upstream[0]))
    fixed = tmp_path / "meshconfig.yaml"
    fixed.write_text(f"rootNamespace: istio-system\n{snippet.join(['extensionProviders: ', ''])}\n")

    from helpers import run_cli

    bad = run_cli(["validate", str(render), "--config", str(policy), "--mesh-config", str(stale)], "")
    assert bad.returncode == 1, bad.stderr
    assert (
        "oauth2-proxy.oauth2-proxy.svc.cluster.local" in bad.stdout
        and "istio-ingressgateway-oauth2-proxy" in bad.stdout
    )
    good = run_cli(["validate", str(render), "--config", str(policy), "--mesh-config", str(fixed)], "")
    assert good.returncode == 0, good.stdout + good.stderr
    unusable = run_cli(["validate", str(render), "--config", str(policy), "--mesh-config", str(policy)], "")
    assert unusable.returncode == 2 and "holds no mesh config" in unusable.stderr
