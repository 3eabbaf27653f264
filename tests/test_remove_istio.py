"""RemoveIstio on the real Kubeflow manifests, with lists of Istio's objects written by hand
from reading the install manifests (common/istio*/ of each version), and bad configs."""

from __future__ import annotations

from functools import lru_cache

import pytest

from helpers import (
    KUBEFLOW,
    REPO,
    items_block,
    need_shared,
    output_item_texts,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_function,
    yaml_docs,
)
from helpers import (
    load_output as load_output_uncached,
)
from kfkrm.runtime.resourcelist import items_from_stream

CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: RemoveIstio
metadata: {name: t}
"""
# The organisation's own cluster-local gateway: Kubeflow's goes, and so does its Service
# knative-local-gateway (v1.6 on), which would otherwise select nothing.
LOCAL = "localGateway: {namespace: istio-ingress, labels: {istio: local-gw}, service: local-gw.istio-ingress.svc.cluster.local}\n"

# What each version's Istio folders hold, by hand from install.yaml, crd.yaml,
# cluster-local-gateway.yaml and Kubeflow's own additions (minus the PDBs its kustomizations
# delete). "Kind namespace/name", cluster-scoped without the namespace.
ISTIO_1_9_INSTALL = """
ServiceAccount istio-system/istio-ingressgateway-service-account
ServiceAccount istio-system/istio-reader-service-account
ServiceAccount istio-system/istiod-service-account
ServiceAccount istio-system/cluster-local-gateway-service-account
ClusterRole istio-reader-istio-system
ClusterRole istiod-istio-system
ClusterRoleBinding istio-reader-istio-system
ClusterRoleBinding istiod-istio-system
ValidatingWebhookConfiguration istiod-istio-system
MutatingWebhookConfiguration istio-sidecar-injector
EnvoyFilter istio-system/metadata-exchange-1.8
EnvoyFilter istio-system/metadata-exchange-1.9
EnvoyFilter istio-system/stats-filter-1.8
EnvoyFilter istio-system/stats-filter-1.9
EnvoyFilter istio-system/tcp-metadata-exchange-1.8
EnvoyFilter istio-system/tcp-metadata-exchange-1.9
EnvoyFilter istio-system/tcp-stats-filter-1.8
EnvoyFilter istio-system/tcp-stats-filter-1.9
ConfigMap istio-system/istio
ConfigMap istio-system/istio-sidecar-injector
Deployment istio-system/istio-ingressgateway
Deployment istio-system/istiod
Deployment istio-system/cluster-local-gateway
Role istio-system/istio-ingressgateway-sds
Role istio-system/istiod-istio-system
Role istio-system/cluster-local-gateway-sds
RoleBinding istio-system/istio-ingressgateway-sds
RoleBinding istio-system/istiod-istio-system
RoleBinding istio-system/cluster-local-gateway-sds
Service istio-system/istio-ingressgateway
Service istio-system/istiod
Service istio-system/cluster-local-gateway
CustomResourceDefinition authorizationpolicies.security.istio.io
CustomResourceDefinition destinationrules.networking.istio.io
CustomResourceDefinition envoyfilters.networking.istio.io
CustomResourceDefinition gateways.networking.istio.io
CustomResourceDefinition istiooperators.install.istio.io
CustomResourceDefinition peerauthentications.security.istio.io
CustomResourceDefinition requestauthentications.security.istio.io
CustomResourceDefinition serviceentries.networking.istio.io
CustomResourceDefinition sidecars.networking.istio.io
CustomResourceDefinition virtualservices.networking.istio.io
CustomResourceDefinition workloadentries.networking.istio.io
CustomResourceDefinition workloadgroups.networking.istio.io
"""

ISTIO_1_26_INSTALL = """
ServiceAccount kube-system/istio-cni
ServiceAccount istio-system/istio-ingressgateway-service-account
ServiceAccount istio-system/istio-reader-service-account
ServiceAccount istio-system/istiod
ServiceAccount istio-system/cluster-local-gateway-service-account
ClusterRole istio-cni
ClusterRole istio-cni-repair-role
ClusterRole istio-reader-clusterrole-istio-system
ClusterRole istiod-clusterrole-istio-system
ClusterRole istiod-gateway-controller-istio-system
ClusterRoleBinding istio-cni
ClusterRoleBinding istio-cni-repair-rolebinding
ClusterRoleBinding istio-reader-clusterrole-istio-system
ClusterRoleBinding istiod-clusterrole-istio-system
ClusterRoleBinding istiod-gateway-controller-istio-system
ValidatingWebhookConfiguration istio-validator-istio-system
MutatingWebhookConfiguration istio-sidecar-injector
ConfigMap istio-system/istio
ConfigMap istio-system/istio-sidecar-injector
ConfigMap istio-system/values
ConfigMap kube-system/istio-cni-config
DaemonSet kube-system/istio-cni-node
Deployment istio-system/istio-ingressgateway
Deployment istio-system/istiod
Deployment istio-system/cluster-local-gateway
HorizontalPodAutoscaler istio-system/istio-ingressgateway
HorizontalPodAutoscaler istio-system/istiod
HorizontalPodAutoscaler istio-system/cluster-local-gateway
Role istio-system/istio-ingressgateway-sds
Role istio-system/istiod
Role istio-system/cluster-local-gateway-sds
RoleBinding istio-system/istio-ingressgateway-sds
RoleBinding istio-system/istiod
RoleBinding istio-system/cluster-local-gateway-sds
Service istio-system/istio-ingressgateway
Service istio-system/istiod
Service istio-system/cluster-local-gateway
CustomResourceDefinition authorizationpolicies.security.istio.io
CustomResourceDefinition destinationrules.networking.istio.io
CustomResourceDefinition envoyfilters.networking.istio.io
CustomResourceDefinition gateways.networking.istio.io
CustomResourceDefinition peerauthentications.security.istio.io
CustomResourceDefinition proxyconfigs.networking.istio.io
CustomResourceDefinition requestauthentications.security.istio.io
CustomResourceDefinition serviceentries.networking.istio.io
CustomResourceDefinition sidecars.networking.istio.io
CustomResourceDefinition telemetries.telemetry.istio.io
CustomResourceDefinition virtualservices.networking.istio.io
CustomResourceDefinition wasmplugins.extensions.istio.io
CustomResourceDefinition workloadentries.networking.istio.io
CustomResourceDefinition workloadgroups.networking.istio.io
"""

# Kubeflow's own objects in its Istio folders that are removed by default.
KUBEFLOW_IN_ISTIO_FOLDER_1_3 = """
Namespace istio-system
Gateway istio-system/istio-ingressgateway
Gateway istio-system/cluster-local-gateway
AuthorizationPolicy istio-system/global-deny-all
AuthorizationPolicy istio-system/istio-ingressgateway
AuthorizationPolicy istio-system/cluster-local-gateway
EnvoyFilter istio-system/x-forwarded-host
"""
KUBEFLOW_IN_ISTIO_FOLDER_1_10 = "\n".join(
    line for line in KUBEFLOW_IN_ISTIO_FOLDER_1_3.splitlines() if "x-forwarded-host" not in line
)

EXPECTED_REMOVED = {
    "v1.3.0": ISTIO_1_9_INSTALL + KUBEFLOW_IN_ISTIO_FOLDER_1_3,
    "v1.10": ISTIO_1_26_INSTALL + KUBEFLOW_IN_ISTIO_FOLDER_1_10 + "\nService istio-system/knative-local-gateway\n",
}
# Kept with a warning: unmarked objects in istio-system that are not Istio configuration.
EXPECTED_UNCLASSIFIED = {
    "v1.3.0": {
        "StatefulSet istio-system/authservice",
        "Service istio-system/authservice",
        "PersistentVolumeClaim istio-system/authservice-pvc",
        "ConfigMap istio-system/oidc-authservice-parameters",
        "Secret istio-system/oidc-authservice-client",
    },
    "v1.10": set(),
}


@lru_cache(maxsize=8)
def load_output(stdout: str) -> dict:
    """The parsed output, once per output (the v1.10 one is 10 MB)."""
    return load_output_uncached(stdout)


def ref(obj: dict) -> str:
    md = obj.get("metadata") or {}
    return f"{obj['kind']} {md['namespace'] + '/' if md.get('namespace') else ''}{md['name']}"


def refs(text: str) -> set[str]:
    return {line.strip() for line in text.strip().splitlines() if line.strip()}


@lru_cache(maxsize=None)
def input_objects(version: str) -> list[dict]:
    return yaml_docs(rendered_text(version))


@pytest.fixture(scope="module", params=["v1.3.0", "v1.10"])
def run(request):
    version = request.param
    text = resource_list(rendered_items_text(version), CONFIG + LOCAL)
    outcome = run_function("remove-istio", text)
    assert outcome.exit_code == 0, outcome.stderr
    return version, outcome


def test_removes_exactly_the_hand_listed_objects(run):
    version, outcome = run
    before = {ref(o) for o in input_objects(version)}
    after = {ref(o) for o in load_output(outcome.stdout)["items"]}
    assert before - after == refs(EXPECTED_REMOVED[version])
    assert after <= before


def test_every_removed_object_is_reported_and_the_summary_counts(run):
    version, outcome = run
    results = load_output(outcome.stdout)["results"]
    reported = {
        f"{r['resourceRef']['kind']} {r['resourceRef'].get('namespace', '') + '/' if r['resourceRef'].get('namespace') else ''}{r['resourceRef']['name']}"
        for r in results
        if r["message"].startswith("removed: ")
    }
    assert reported == refs(EXPECTED_REMOVED[version])
    assert f"removed {len(refs(EXPECTED_REMOVED[version]))} objects" in outcome.stderr


def test_unclassified_objects_are_kept_with_a_warning(run):
    version, outcome = run
    results = load_output(outcome.stdout)["results"]
    warned = {
        f"{r['resourceRef']['kind']} {r['resourceRef']['namespace']}/{r['resourceRef']['name']}"
        for r in results
        if r["severity"] == "warning"
    }
    assert warned == EXPECTED_UNCLASSIFIED[version]
    after = {ref(o) for o in load_output(outcome.stdout)["items"]}
    assert EXPECTED_UNCLASSIFIED[version] <= after


def test_acceptance_no_istiod_crd_or_injector_and_kubeflow_config_kept(run):
    version, outcome = run
    out = load_output(outcome.stdout)["items"]
    assert not [o for o in out if o["metadata"]["name"] == "istiod"]
    assert not [
        o for o in out if o["kind"] == "CustomResourceDefinition" and o["metadata"]["name"].endswith("istio.io")
    ]
    istiod_webhooks = [
        o
        for o in out
        if o["kind"].endswith("WebhookConfiguration")
        for hook in o.get("webhooks") or []
        if ((hook.get("clientConfig") or {}).get("service") or {}).get("name") == "istiod"
    ]
    assert not istiod_webhooks
    removed = refs(EXPECTED_REMOVED[version])
    wanted = {
        ref(o)
        for o in input_objects(version)
        if o["kind"]
        in ("VirtualService", "AuthorizationPolicy", "DestinationRule", "RequestAuthentication", "PeerAuthentication")
        and ref(o) not in removed
    }
    assert wanted <= {ref(o) for o in out}
    assert len([w for w in wanted if w.startswith("VirtualService")]) >= 9


def test_untouched_items_are_byte_identical(run):
    version, outcome = run
    input_raws = [i.raw for i in items_from_stream(rendered_text(version))]
    output_raws = output_item_texts(outcome.stdout)
    assert len(output_raws) == len(input_raws) - len(refs(EXPECTED_REMOVED[version]))
    remaining = set(input_raws)
    assert all(raw in remaining for raw in output_raws)  # None (a re-serialised item) fails too


def test_second_run_changes_nothing(run):
    version, outcome = run
    items_text = outcome.stdout.split("items:\n", 1)[1].split("functionConfig:\n", 1)[0]
    again = run_function("remove-istio", resource_list(items_text, CONFIG + LOCAL))
    assert again.exit_code == 0, again.stderr
    assert again.stdout.split("functionConfig:\n")[0] == outcome.stdout.split("functionConfig:\n")[0]
    assert "removed 0 objects" in again.stderr


# -- istioVersion ---------------------------------------------------------------------------


def version_warnings(version: str, istio: str) -> set[tuple[str, str]]:
    config = CONFIG + LOCAL + f'istioVersion: "{istio}"\n'
    outcome = run_function("remove-istio", resource_list(rendered_items_text(version), config))
    assert outcome.exit_code == 0, outcome.stderr
    return {
        (r["resourceRef"]["name"], r["field"]["path"])
        for r in load_output(outcome.stdout)["results"]
        if r["severity"] == "warning" and f"Istio {istio} does not" in r["message"]
    }


def test_kubeflow_1_3_on_istio_1_6_needs_nothing_newer():
    # The field report ran Kubeflow 1.3 on Istio 1.6: nothing it keeps is too new.
    assert version_warnings("v1.3.0", "1.6") == set()


def test_kubeflow_1_10_on_istio_1_6_warns_about_the_oauth2_proxy_policy_and_dex_claims():
    assert version_warnings("v1.10", "1.6") == {
        ("istio-ingressgateway-oauth2-proxy", "spec.action"),
        ("istio-ingressgateway-oauth2-proxy", "spec.provider"),
        ("dex-jwt", "spec.jwtRules[0].outputClaimToHeaders"),
    }
    assert version_warnings("v1.10", "1.26") == set()


def test_api_versions_the_mesh_does_not_serve_are_warned():
    items = items_block(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: new, namespace: kubeflow}\nspec: {hosts: [a]}\n",
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: beta, namespace: kubeflow}\nspec: {hosts: [a]}\n",
        "apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRole\nmetadata: {name: old, namespace: kubeflow}\nspec: {}\n",
        "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {name: delegating, namespace: kubeflow}\n"
        "spec: {hosts: [a], http: [{name: x}, {delegate: {name: other}}]}\n",
    )
    outcome = run_function("remove-istio", resource_list(items, CONFIG + 'istioVersion: "1.5"\n'))
    assert outcome.exit_code == 0, outcome.stderr
    warned = {
        (r["resourceRef"]["name"], r["field"]["path"])
        for r in load_output(outcome.stdout)["results"]
        if r["severity"] == "warning" and "resourceRef" in r
    }
    assert warned == {("new", "apiVersion"), ("delegating", "spec.http[1].delegate")}
    outcome = run_function("remove-istio", resource_list(items, CONFIG + 'istioVersion: "1.6"\n'))
    warned = {
        (r["resourceRef"]["name"], r["field"]["path"])
        for r in load_output(outcome.stdout)["results"]
        if r["severity"] == "warning" and "resourceRef" in r
    }
    assert warned == {("new", "apiVersion"), ("old", "apiVersion")}


# -- keep and remove ------------------------------------------------------------------------


def test_keep_overrides_a_default_removal_and_silences_the_unclassified_warning():
    """Issue 26: keeping a mesh-wide object (global-deny-all) is a warning that says so; the
    unclassified auth service kept by keep[1] stays silent."""
    need_shared()
    config = (
        CONFIG
        + LOCAL
        + """keep:
- {kind: AuthorizationPolicy, namespace: istio-system, name: global-deny-all}
- {namespace: istio-system, name: "*authservice*"}
"""
    )
    outcome = run_function("remove-istio", resource_list(rendered_items_text("v1.3.0"), config))
    assert outcome.exit_code == 0, outcome.stderr
    doc = load_output(outcome.stdout)
    after = {ref(o) for o in doc["items"]}
    assert "AuthorizationPolicy istio-system/global-deny-all" in after
    warnings = [r for r in doc["results"] if r["severity"] == "warning"]
    assert [r["resourceRef"]["name"] for r in warnings] == ["global-deny-all"]
    assert "keep[0]" in warnings[0]["message"] and "whole mesh" in warnings[0]["message"]


def test_remove_terms_remove_more_and_unmatched_terms_warn():
    items = items_block(
        "apiVersion: v1\nkind: Service\nmetadata: {name: knative-local-gateway, namespace: istio-system}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: kubeflow}\n",
    )
    config = CONFIG + "remove:\n- {kind: Service, name: knative-local-gateway}\nkeep:\n- {name: nothing-like-this}\n"
    outcome = run_function("remove-istio", resource_list(items, config))
    assert outcome.exit_code == 0, outcome.stderr
    doc = load_output(outcome.stdout)
    assert [o["metadata"]["name"] for o in doc["items"]] == ["other"]
    messages = [r["message"] for r in doc["results"]]
    assert any("remove[0]" in m for m in messages)
    assert "keep[0] matches nothing in the input" in messages


def test_revision_label_outside_istio_system_is_not_an_install_mark():
    items = items_block(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: kubeflow, labels: {istio.io/rev: canary}}\n",
        "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: stats, namespace: istio-system, labels: {istio.io/rev: canary}}\n",
    )
    outcome = run_function("remove-istio", resource_list(items, CONFIG))
    assert outcome.exit_code == 0, outcome.stderr
    assert [o["metadata"]["name"] for o in load_output(outcome.stdout)["items"]] == ["app"]


def test_no_istio_in_the_input_is_a_warning():
    items = items_block("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: kubeflow}\n")
    outcome = run_function("remove-istio", resource_list(items, CONFIG))
    assert outcome.exit_code == 0
    assert "1 warning" in outcome.stderr


# -- bad configs ----------------------------------------------------------------------------

ISTIOD = items_block(
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod, namespace: istio-system, labels: {release: istio}}\n"
)


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("istioVersion: 1.6\n", 'istioVersion: must be a quoted string like "1.6"'),
        ('istioVersion: "0.9"\n', "istioVersion: expected an Istio minor version from 1.5 on"),
        ('istioVersion: "1.4"\n', "istioVersion: expected an Istio minor version"),
        ("keep: [{}]\n", "keep[0]: a selector term must set at least one of"),
        ("keep: {name: x}\n", "keep: "),
        ("remove: [{nmae: x}]\n", "remove[0].nmae: unknown field"),
        ("istioversion: '1.6'\n", "istioversion: unknown field"),
        ("keep: [{name: istiod}]\nremove: [{kind: Deployment}]\n", "matches both keep[0] and remove[0]"),
    ],
)
def test_bad_config_is_one_clear_error_and_no_mutated_output(extra, expected):
    text = resource_list(ISTIOD, CONFIG + extra)
    outcome = run_function("remove-istio", text)
    assert outcome.exit_code == 1
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert expected in outcome.stderr, outcome.stderr
    assert "name: istiod" in outcome.stdout  # the input items, nothing removed


def test_the_example_config_validates():
    text = (REPO / "fnconfigs" / "remove-istio.yaml").read_text()
    outcome = run_function("remove-istio", resource_list(ISTIOD, text))
    assert outcome.exit_code == 0, outcome.stderr


# -- the Istio API table against the CRDs Kubeflow bundles ------------------------------------

BUNDLED_CRDS = {
    (1, 9): "v1.3.0/common/istio-1-9-0/istio-crds/base/crd.yaml",
    (1, 26): "v1.10/common/istio/istio-crds/base/crd.yaml",
}


@lru_cache(maxsize=None)
def bundled_crds(minor) -> list[dict]:
    path = need_shared(KUBEFLOW / BUNDLED_CRDS[minor])
    return yaml_docs(path.read_text())


def crd_schema(crd: dict) -> dict:
    spec = crd["spec"]
    if "validation" in spec:  # apiextensions v1beta1 (Istio 1.9)
        return spec["validation"]["openAPIV3Schema"]
    return next(v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("schema"))


def schema_node(schema: dict, path: str):
    node = schema
    for part in path.replace("[]", "").split("."):
        while node.get("type") == "array":
            node = node.get("items") or {}
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return None
    return node


@pytest.mark.parametrize("minor", sorted(BUNDLED_CRDS))
def test_api_table_serves_exactly_what_the_bundled_crds_serve(minor):
    from kfkrm.domain import istio_apis

    served_by_crds = {
        (c["spec"]["group"], v["name"], c["spec"]["names"]["kind"])
        for c in bundled_crds(minor)
        for v in c["spec"].get("versions") or [{"name": c["spec"]["version"]}]
        if v.get("served", True)
    }
    kinds_in_crds = {(g, k) for g, _, k in served_by_crds}
    served_by_table = {
        (e.group, e.version, e.kind)
        for e in istio_apis.KINDS
        if e.served_by(minor) and (e.group, e.kind) in kinds_in_crds
    }
    assert served_by_table == served_by_crds


@pytest.mark.parametrize("minor", sorted(BUNDLED_CRDS))
def test_field_table_agrees_with_the_bundled_crd_schemas(minor):
    from kfkrm.domain import istio_apis

    schemas = {c["spec"]["names"]["kind"]: crd_schema(c) for c in bundled_crds(minor)}
    for entry in istio_apis.FIELDS:
        if entry.kind not in schemas:
            continue  # a kind this Istio does not have (tests/test_istio_apis.py checks the kinds)
        node = schema_node(schemas[entry.kind], entry.path)
        served = entry.since <= minor
        if entry.value is None:
            assert (node is not None) == served, (entry, minor)
        elif node is not None and "enum" in node:
            assert (entry.value in node["enum"]) == served, (entry, minor)


# -- the cluster-local gateway (issue 11) ------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.3.0", "v1.7.0", "v1.10"])
def test_removing_the_local_gateway_kserve_and_knative_use_is_an_error_naming_the_setting(version):
    outcome = run_function("remove-istio", resource_list(rendered_items_text(version), CONFIG))
    assert outcome.exit_code == 1
    errors = [r for r in load_output(outcome.stdout)["results"] if r["severity"] == "error"]
    named = {(r["resourceRef"]["kind"], r["resourceRef"]["name"]) for r in errors}
    # Knative's local Gateway selects the cluster-local gateway pods in every generation.
    assert ("Gateway", "knative-local-gateway" if version != "v1.3.0" else "cluster-local-gateway") in named
    assert ("ConfigMap", "inferenceservice-config") in named
    assert all("localGateway" in r["message"] for r in errors)
    if version != "v1.3.0":  # v1.6 on: a kept Service that would select nothing
        assert ("Service", "knative-local-gateway") in named


@pytest.mark.parametrize("version", ["v1.3.0", "v1.7.0", "v1.10"])
def test_keep_local_gateway_keeps_its_workload_and_every_service_selecting_it(version):
    outcome = run_function("remove-istio", resource_list(rendered_items_text(version), CONFIG + "localGateway: keep\n"))
    assert outcome.exit_code == 0, outcome.stderr
    out = load_output(outcome.stdout)["items"]
    after = {ref(o) for o in out}
    assert {
        "Deployment istio-system/cluster-local-gateway",
        "ServiceAccount istio-system/cluster-local-gateway-service-account",
    } <= after
    # Independent oracle: every Service left in istio-system selects some pod template left there.
    templates = [
        (o["metadata"].get("namespace"), ((o["spec"]["template"].get("metadata") or {}).get("labels") or {}))
        for o in out
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    ]
    for o in out:
        selector = (o.get("spec") or {}).get("selector") if o["kind"] == "Service" else None
        if selector and o["metadata"].get("namespace") == "istio-system":
            assert any(
                ns == "istio-system" and all(labels.get(k) == v for k, v in selector.items())
                for ns, labels in templates
            ), ref(o)


def test_a_kept_service_left_selecting_nothing_is_a_warning():
    items = items_block(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: istio-egressgateway\n  namespace: istio-system\n"
        "  labels: {operator.istio.io/component: EgressGateways}\nspec:\n  selector: {matchLabels: {app: egress}}\n"
        "  template:\n    metadata: {labels: {app: egress}}\n    spec: {containers: [{name: c, image: proxyv2}]}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: corp-egress, namespace: istio-system}\n"
        "spec: {selector: {app: egress}, ports: [{port: 80}]}\n",
    )
    outcome = run_function(
        "remove-istio", resource_list(items, CONFIG + "keep:\n- {kind: Service, name: corp-egress}\n")
    )
    assert outcome.exit_code == 0, outcome.stderr
    warned = [
        r
        for r in load_output(outcome.stdout)["results"]
        if r["severity"] == "warning" and r["resourceRef"]["name"] == "corp-egress"
    ]
    assert warned and "Deployment istio-system/istio-egressgateway" in warned[0]["message"]
    assert warned[0]["field"]["path"] == "spec.selector"
