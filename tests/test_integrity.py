"""The integrity rule (EnterprisePolicy `integrity: true`): the reference graph of a whole
render, on the real Kubeflow renders v1.3.0, v1.7.0 and v1.10.

Oracles independent of kfkrm's graph: PyYAML's C loader and brute force over the documents
for Service selectors and VirtualService route destinations. Properties for the rest: a
render against itself as baseline breaks nothing; deleting a Service reports exactly the
references to it; an object moved to another namespace keeps its baseline twins and loses
what it resolved before; a declared gateway workload stands in for a removed one. The CLI
path is run as users run it: `kfkrm validate - --config policy.yaml --baseline upstream.yaml`.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest

from helpers import (
    items_block,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_cli,
    run_function,
    yaml_docs,
    yaml_load,
)
from kfkrm.domain import references
from kfkrm.fns import enterprise_policy
from kfkrm.runtime.config import ConfigError, parse_config
from kfkrm.runtime.resourcelist import ResourceList, items_from_stream

ALL_VERSIONS = ("v1.3.0", "v1.7.0", "v1.10")
POLICY = {
    "apiVersion": "kfkrm.dev/v1alpha1",
    "kind": "EnterprisePolicy",
    "metadata": {"name": "integrity"},
    "integrity": True,
}
TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}


@lru_cache(maxsize=None)
def documents(version: str) -> tuple:
    return tuple(yaml_docs(rendered_text(version)))


def policy_config(**more):
    return parse_config(enterprise_policy.Config, {**POLICY, **more}, "enterprise-policy")


def items(version: str, *drop: tuple) -> list:
    """The render's items (fresh, unparsed), without the objects `drop` names as (kind, ns/name)."""
    return [i for i in items_from_stream(rendered_text(version)) if (i.kind, f"{i.namespace}/{i.name}") not in drop]


@lru_cache(maxsize=None)
def upstream_baseline(version: str):
    return enterprise_policy.integrity_baseline(items(version), policy_config())


def integrity_violations(found_items, config=None, baseline=None) -> list:
    report = enterprise_policy.check(ResourceList(found_items, None, None, 0), config or policy_config(), baseline)
    return [v for v in report.failures if v.rule == "integrity"]


def sources(violations) -> set:
    return {(v.item.kind, f"{v.item.namespace}/{v.item.name}", v.field) for v in violations}


# -- independent oracles ---------------------------------------------------------------------


def pod_label_sets(docs) -> dict[str, list[dict]]:
    pods: dict[str, list[dict]] = {}
    for doc in docs:
        path = TEMPLATE_PATHS.get(doc["kind"])
        if path is None or doc["apiVersion"] not in ("apps/v1", "batch/v1", "batch/v1beta1", "v1"):
            continue
        node = doc
        for k in path:
            node = node[k]
        labels = (node.get("metadata") or {}).get("labels") or {}
        pods.setdefault(doc["metadata"].get("namespace", ""), []).append(labels)
    return pods


def services_selecting_nothing(docs) -> tuple[set, set]:
    """(Services with a selector, those whose selector matches no pod template in their namespace)."""
    pods = pod_label_sets(docs)
    selecting, nothing = set(), set()
    for doc in docs:
        if doc["kind"] != "Service" or doc["apiVersion"] != "v1":
            continue
        spec = doc.get("spec") or {}
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName":
            continue
        ref = f"{doc['metadata'].get('namespace', '')}/{doc['metadata']['name']}"
        selecting.add(ref)
        if not any(all(labels.get(k) == v for k, v in selector.items()) for labels in pods.get(ref.split("/")[0], [])):
            nothing.add(ref)
    return selecting, nothing


def route_destinations(version: str) -> set:
    """(VirtualService ns/name, Service ns/name) for every route or mirror host that names a Service."""

    def hosts(node, parent=None):
        if isinstance(node, dict):
            if parent in ("destination", "mirror") and isinstance(node.get("host"), str):
                yield node["host"]
            for k, v in node.items():
                yield from hosts(v, k)
        elif isinstance(node, list):
            for v in node:
                yield from hosts(v)

    found = set()
    for doc in documents(version):
        if doc["kind"] != "VirtualService":
            continue
        ns = doc["metadata"]["namespace"]
        for host in hosts(doc.get("spec")):
            labels = host.split(".")
            if len(labels) == 1:
                found.add((f"{ns}/{doc['metadata']['name']}", f"{ns}/{host}"))
            elif host.endswith(".svc.cluster.local") and len(labels) == 5 and "*" not in host:
                found.add((f"{ns}/{doc['metadata']['name']}", f"{labels[1]}/{labels[0]}"))
    return found


# -- the graph against the oracles -------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_service_selectors_match_a_brute_force_search(version):
    selecting, nothing = services_selecting_nothing(documents(version))
    graph = items(version)
    refs = [r for r in references.references(graph) if r.relation == "selector"]
    assert {f"{r.source.namespace}/{r.source.name}" for r in refs} == selecting and len(selecting) > 30
    dangling, _ = references.dangling(graph)
    assert {f"{r.source.namespace}/{r.source.name}" for r in dangling if r.relation == "selector"} == nothing


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_route_destinations_match_an_independent_walk(version):
    refs = [r for r in references.references(items(version)) if r.relation in ("route destination", "mirror")]
    graph = {(f"{r.source.namespace}/{r.source.name}", f"{r.target.namespace}/{r.target.name}") for r in refs}
    expected = route_destinations(version)
    assert graph == expected and len(expected) >= 8


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_render_against_itself_as_baseline_breaks_nothing(version):
    assert integrity_violations(items(version), baseline=upstream_baseline(version)) == []
    # ... while without a baseline upstream's own dangling references are all reported
    assert len(integrity_violations(items(version))) == sum(upstream_baseline(version).values()) > 0


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_deleting_a_routed_service_reports_exactly_the_references_to_it(version):
    service = "kubeflow/ml-pipeline-ui"
    routes = {vs for vs, target in route_destinations(version) if target == service}
    rules = {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in documents(version)
        if d["kind"] == "DestinationRule" and d["spec"]["host"] == "ml-pipeline-ui.kubeflow.svc.cluster.local"
    }
    assert routes
    found = integrity_violations(items(version, ("Service", service)), baseline=upstream_baseline(version))
    assert {(v.item.kind, f"{v.item.namespace}/{v.item.name}") for v in found} == {
        ("VirtualService", vs) for vs in routes
    } | {("DestinationRule", dr) for dr in rules}
    for v in found:  # both ends and the field
        assert f"names Service {service}," in v.message and v.field.startswith("spec.")


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_moved_workload_keeps_its_baseline_twins_and_loses_what_it_resolved(version):
    """cache-server's webhook Secret is made at run time (dangling upstream): moved with its
    Deployment it still dangles the same way. Its ServiceAccount and its Service's pods stay
    behind in kubeflow: those references are broken by the move."""
    moved = items(version)
    deployment = next(i for i in moved if (i.kind, i.namespace, i.name) == ("Deployment", "kubeflow", "cache-server"))
    spec = deployment.obj["spec"]["template"]["spec"]
    secret = next(v for v in spec["volumes"] if "secret" in v)["secret"]["secretName"]
    assert ("Secret", "kubeflow", secret) in {(t[3], t[4], t[5]) for t in _upstream_dangling(version)}
    resolved_before = {r.field for r in references.references([deployment])} - {
        r.field for r in references.dangling(items(version))[0] if r.source.name == "cache-server"
    }
    deployment.obj["metadata"]["namespace"] = "elsewhere"
    found = integrity_violations(moved, baseline=upstream_baseline(version))
    fields = {(v.item.kind, v.field) for v in found}
    assert {("Deployment", "spec.template.spec.serviceAccountName"), ("Service", "spec.selector")} <= fields
    assert {f for kind, f in fields if kind == "Deployment"} == resolved_before  # the Secret is not among them
    assert all(secret not in v.message for v in found)
    labels = deployment.obj["spec"]["template"]["metadata"]["labels"]
    for v in found:  # the rest: its Service and the policies selecting its pods, left behind in kubeflow
        if v.item.kind != "Deployment":
            assert v.item.namespace == "kubeflow" and v.field in ("spec.selector", "spec.selector.matchLabels")
            selector = v.item.obj["spec"]["selector"]
            assert all(labels.get(k) == val for k, val in selector.get("matchLabels", selector).items())


def _upstream_dangling(version):
    return {(k[0], k[1], k[2], k[3], "kubeflow" if k[4] == "." else k[4], k[5]) for k in upstream_baseline(version)}


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_removed_local_gateway_pods_leave_its_service_and_gateway_selecting_nothing(version):
    """What RemoveIstio does to the cluster-local gateway (Knative's and KServe's in-mesh route)."""
    workload = ("Deployment", "istio-system/cluster-local-gateway")
    after = [
        d
        for d in documents(version)
        if (d["kind"], f"{d['metadata'].get('namespace', '')}/{d['metadata']['name']}") != workload
    ]
    assert len(after) == len(documents(version)) - 1
    broken = services_selecting_nothing(after)[1] - services_selecting_nothing(documents(version))[1]
    assert broken  # istio-system/cluster-local-gateway (v1.3.0) or istio-system/knative-local-gateway
    found = integrity_violations(items(version, workload), baseline=upstream_baseline(version))
    assert {ns_name for kind, ns_name, _ in sources(found) if kind == "Service"} == broken
    assert any(v.item.kind == "Gateway" and v.item.namespace == "knative-serving" for v in found)


GATEWAY_WORKLOAD = {
    "namespace": "istio-system",
    "serviceAccount": "istio-ingressgateway-service-account",
    "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
}


@pytest.mark.parametrize("version", ("v1.7.0", "v1.10"))
def test_a_declared_local_gateway_stands_in_for_the_removed_one(version):
    removed = ("Deployment", "istio-system/cluster-local-gateway")
    local = {"namespace": "istio-system", "labels": {"app": "cluster-local-gateway", "istio": "cluster-local-gateway"}}
    config = policy_config(localGateway=local)
    assert (
        integrity_violations(
            items(version, removed), config, enterprise_policy.integrity_baseline(items(version), config)
        )
        == []
    )


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_declared_gateway_workload_stands_in_for_the_removed_one(version):
    removed = (
        ("Deployment", "istio-system/istio-ingressgateway"),
        ("ServiceAccount", "istio-system/istio-ingressgateway-service-account"),
    )
    without = integrity_violations(items(version, *removed), baseline=upstream_baseline(version))
    principals = [
        d
        for d in documents(version)
        if d["kind"] == "AuthorizationPolicy" and "sa/istio-ingressgateway-service-account" in str(d.get("spec"))
    ]
    assert {v.item.kind for v in without} >= ({"AuthorizationPolicy"} if principals else set()) | {"Service"}
    config = policy_config(gatewayWorkload=GATEWAY_WORKLOAD)
    declared = integrity_violations(
        items(version, *removed), config, enterprise_policy.integrity_baseline(items(version), config)
    )
    # left: only the gateway's own Service, which selects pods the organisation runs elsewhere
    assert {(v.item.kind, v.item.name) for v in declared} <= {("Service", "istio-ingressgateway")}


def test_a_reference_inserted_before_another_does_not_make_it_new():
    vs = next(i for i in items("v1.10") if i.kind == "VirtualService" and i.name == "ml-pipeline-ui")
    graph = [vs]
    base = enterprise_policy.integrity_baseline(graph, policy_config())
    assert sum(base.values()) == 2  # its Gateway and its destination: alone, nothing is there
    vs.obj["spec"]["http"].insert(0, {"route": [{"destination": {"host": "new-app.kubeflow.svc.cluster.local"}}]})
    found = integrity_violations(graph, baseline=base)
    assert sources(found) == {("VirtualService", "kubeflow/ml-pipeline-ui", "spec.http[0].route[0].destination.host")}


# -- configs and the CLI -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, message",
    [
        ({"integrity": False}, "sets no rule"),
        (
            {"meshNamespaces": ["kubeflow"], "gatewayWorkload": {"namespace": "istio-ingress"}},
            "gatewayWorkload is only used with integrity: true",
        ),
        (
            {"meshNamespaces": ["kubeflow"], "localGateway": {"namespace": "istio-ingress"}},
            "localGateway is only used with integrity: true",
        ),
        ({"integrity": True, "gatewayWorkload": {"labels": {"istio": "x"}}}, "gatewayWorkload.namespace"),
    ],
)
def test_bad_integrity_configs(config, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config(enterprise_policy.Config, {**POLICY, "integrity": None, **config}, "enterprise-policy")


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("integrity") / "policy.yaml"
    path.write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: corp}\n"
        "forbid: [{group: apps, kind: Deployment, name: no-such-deployment}]\n"
    )
    return path


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_the_cli_with_a_baseline_fails_naming_both_ends_of_a_deleted_route(version, policy_file, tmp_path):
    """`--baseline` turns the integrity rule on (the policy file does not set it)."""
    upstream = tmp_path / "upstream.yaml"
    upstream.write_text(rendered_text(version))
    docs = rendered_text(version).split("\n---\n")
    kept = [
        d
        for d in docs
        if not (
            "\nkind: Service\n" in "\n" + d and "\n  name: centraldashboard\n" in d and "\n  namespace: kubeflow\n" in d
        )
    ]
    assert len(kept) == len(docs) - 1
    proc = run_cli(["validate", "-", "--config", str(policy_file), "--baseline", str(upstream)], "\n---\n".join(kept))
    assert proc.returncode == 1, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("integrity ")]
    assert rows and all(
        "VirtualService kubeflow/centraldashboard" in r
        and "destination.host" in r
        and "names Service kubeflow/centraldashboard," in r
        for r in rows
    )
    assert "corp: 1 violations" in proc.stdout and "dangle as they do in the baseline" in proc.stdout


def test_the_cli_passes_the_baseline_itself_and_refuses_a_missing_baseline(policy_file, tmp_path):
    upstream = tmp_path / "upstream.yaml"
    upstream.write_text(rendered_text("v1.3.0"))
    args = ["validate", "-", "--config", str(policy_file), "--baseline", str(upstream), "--format", "json"]
    proc = run_cli(args, rendered_text("v1.3.0"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["danglingAsInBaseline"] == sum(upstream_baseline("v1.3.0").values()) == 19
    proc = run_cli(["validate", "-", "--config", str(policy_file), "--baseline", str(tmp_path / "nope.yaml")], "")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--baseline" in proc.stderr


# -- the profile: its own input is the baseline ------------------------------------------------------

PROFILE = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
metadata: {name: corp}
argo: {external: true}
"""
# The organisation's own object, next to upstream: it binds the bundled Argo's ServiceAccount,
# which remove-argo removes (with another subject, so remove-argo keeps the binding).
CORP_BINDING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: corp-argo-binding, namespace: kubeflow}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ml-pipeline}, {kind: ServiceAccount, name: argo, namespace: kubeflow}]
"""


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_the_profile_reports_what_its_adaptation_broke(version):
    """With `validate: true` the profile's integrity errors are exactly the references that
    dangle in its output (same profile without validate) and not so in its input."""
    given = rendered_items_text(version) + items_block(CORP_BINDING)
    adapted = run_function("enterprise-profile", resource_list(given, PROFILE))
    assert adapted.exit_code == 0, adapted.stderr
    config = policy_config()
    expected = integrity_violations(
        ResourceList.parse(adapted.stdout).items,
        config,
        enterprise_policy.integrity_baseline(ResourceList.parse(resource_list(given)).items, config),
    )
    assert ("RoleBinding", "kubeflow/corp-argo-binding", "subjects[1]") in sources(expected)
    out = run_function("enterprise-profile", resource_list(given, PROFILE + "validate: true\n"))
    assert out.exit_code == 1
    at = out.stdout.rfind("\nresults:\n")
    results = yaml_load(out.stdout[at:])["results"] if at >= 0 else []
    reported = {
        (
            r["resourceRef"]["kind"],
            f"{r['resourceRef'].get('namespace', '')}/{r['resourceRef']['name']}",
            r["field"]["path"],
        )
        for r in results
        if "[integrity]" in r["message"] and r["severity"] == "error"
    }
    assert reported == sources(expected)
    # turned off, the same run passes
    off = PROFILE + "validate: {integrity: false, forbid: [{kind: X}]}\n"
    off = run_function("enterprise-profile", resource_list(given, off))
    assert off.exit_code == 0, off.stderr


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_crd_conversion_services_read_off_the_text_equal_the_parsed_ones(version):
    def conversion_refs(graph):
        return [
            (r.source.name, r.field, r.target)
            for r in references.references(graph)
            if r.source.kind == "CustomResourceDefinition"
        ]

    parsed = [i for i in items(version) if i.kind == "CustomResourceDefinition" and "conversion" in i.raw]
    for item in parsed:
        item.obj  # noqa: B018 - parsed whole: the partial reader is skipped
    from_text = conversion_refs(items(version))
    assert from_text == conversion_refs(parsed) and from_text


# -- every kind of reference, by hand: each target deleted reports exactly its referrers ----------

SMALL = """
apiVersion: v1
kind: Service
metadata: {name: app, namespace: apps}
spec: {selector: {app: app}}
---
apiVersion: v1
kind: Service
metadata: {name: outside, namespace: apps}
spec: {type: ExternalName, externalName: example.com, selector: {app: nothing}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: apps}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: apps}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: apps}
spec:
  template:
    metadata: {labels: {app: app}}
    spec:
      serviceAccountName: app
      volumes: [{name: c, configMap: {name: app-config}}, {name: s, secret: {secretName: maybe, optional: true}}]
      containers: [{name: app, image: app, envFrom: [{configMapRef: {name: app-config}}]}]
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec: {selector: {app: app}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: app, namespace: apps}
spec:
  gateways: [gw, mesh, corp/corp-gw]
  hosts: [app.example.com]
  http:
  - route:
    - {destination: {host: app}}
    - {destination: {host: app.apps.svc.cluster.local}}
    - {destination: {host: example.com}}
    mirror: {host: external.apps.svc.cluster.local}
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: external, namespace: apps}
spec: {hosts: [external.apps.svc.cluster.local]}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: app, namespace: apps}
spec: {host: app.apps.svc.cluster.local}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: app, namespace: apps}
spec:
  workloadSelector: {labels: {app: app}}
  configPatches: [{patch: {value: {cluster: "outbound|80||app.apps.svc.cluster.local"}}}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: app, namespace: apps}
spec:
  selector: {matchLabels: {app: app}}
  rules:
  - from:
    - source: {principals: [cluster.local/ns/apps/sa/app, cluster.local/ns/apps/sa/*], namespaces: [apps]}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: app}
webhooks: [{name: app.example.com, clientConfig: {service: {name: app, namespace: apps}}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.app.example.com}
spec: {service: {name: app, namespace: apps}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: apps.example.com}
spec:
  group: example.com
  conversion: {strategy: Webhook, webhook: {clientConfig: {service: {name: app, namespace: apps}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app, namespace: apps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: app}
subjects: [{kind: ServiceAccount, name: app}, {kind: User, name: someone}]
"""

EXPECTED_REFERRERS = {
    ("Service", "apps/app"): {
        ("VirtualService", "spec.http[0].route[0].destination.host"),
        ("VirtualService", "spec.http[0].route[1].destination.host"),
        ("DestinationRule", "spec.host"),
        ("EnvoyFilter", "spec.configPatches[0].patch.value.cluster"),
        ("ValidatingWebhookConfiguration", "webhooks[0].clientConfig.service"),
        ("APIService", "spec.service"),
        ("CustomResourceDefinition", "spec.conversion.webhook.clientConfig.service"),
    },
    ("ServiceAccount", "apps/app"): {
        ("Deployment", "spec.template.spec.serviceAccountName"),
        ("RoleBinding", "subjects[0]"),
        ("AuthorizationPolicy", "spec.rules[0].from[0].source.principals[0]"),
    },
    ("ConfigMap", "apps/app-config"): {
        ("Deployment", "spec.template.spec.volumes[0].configMap.name"),
        ("Deployment", "spec.template.spec.containers[0].envFrom[0].configMapRef.name"),
    },
    ("Deployment", "apps/app"): {
        ("Service", "spec.selector"),
        ("Gateway", "spec.selector"),
        ("EnvoyFilter", "spec.workloadSelector.labels"),
        ("AuthorizationPolicy", "spec.selector.matchLabels"),
    },
    ("Gateway", "apps/gw"): {("VirtualService", "spec.gateways[0]")},
    ("ServiceEntry", "apps/external"): {("VirtualService", "spec.http[0].mirror.host")},
    ("Namespace", "/apps"): {("AuthorizationPolicy", "spec.rules[0].from[0].source.namespaces[0]")},
    ("ClusterRole", "/app"): {("RoleBinding", "roleRef")},
}


def small_items(*drop):
    return [i for i in items_from_stream(SMALL) if (i.kind, f"{i.namespace}/{i.name}") not in drop]


def test_every_kind_of_reference_resolves_in_a_complete_render():
    config = policy_config(allowedGateways=["corp/corp-gw"])
    assert integrity_violations(small_items(), config) == []
    # not references: mesh, an external host, an ExternalName Service's selector, a wildcard principal, a User
    written = {r.written or r.target.name for r in references.references(small_items())}
    assert not written & {"mesh", "example.com", "nothing", "cluster.local/ns/apps/sa/*", "someone", "maybe"}
    # the undeclared organisation Gateway is the only thing missing without allowedGateways
    undeclared = integrity_violations(small_items(), policy_config(forbid=[{"kind": "X"}]))
    assert {(v.item.kind, v.field) for v in undeclared} == {("VirtualService", "spec.gateways[2]")}


@pytest.mark.parametrize("target", sorted(EXPECTED_REFERRERS))
def test_deleting_one_target_reports_exactly_its_referrers(target):
    config = policy_config(allowedGateways=["corp/corp-gw"])
    baseline = enterprise_policy.integrity_baseline(small_items(), config)
    found = integrity_violations(small_items(target), config, baseline)
    assert {(v.item.kind, v.field) for v in found} == EXPECTED_REFERRERS[target]
    name = target[1].lstrip("/")
    for v in found:
        assert name.split("/")[-1] in v.message
