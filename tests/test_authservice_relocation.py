"""AuthServiceRelocation on the real Kubeflow manifests, small cases, and bad configs.

Expected values come from reading ../shared/kubeflow by hand (the lists below) or from
scanners written here, never from the function's own code.
"""

from __future__ import annotations

import re
from functools import partial

import pytest
import yaml

from helpers import VERSIONS, block, load_output, rendered_items_text, resource_list, run_docs, run_function
from kfkrm.runtime import yamlio

NAME = "authservice-relocation"
CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: AuthServiceRelocation
metadata:
  name: auth-in-mesh
namespace: kubeflow
sidecar: true
excludeOutboundPorts: ["443"]
"""

# Read by hand from rendered/v1.3.0.yaml and rendered/v1.10.yaml.
OLD_NAMESPACE = {"v1.3.0": "istio-system", "v1.10": "oauth2-proxy"}
MOVED = {
    "v1.3.0": {
        ("StatefulSet", "authservice"),
        ("Service", "authservice"),
        ("ConfigMap", "oidc-authservice-parameters"),
        ("Secret", "oidc-authservice-client"),
        ("PersistentVolumeClaim", "authservice-pvc"),
    },
    "v1.10": {
        ("Deployment", "oauth2-proxy"),
        ("Service", "oauth2-proxy"),
        ("ServiceAccount", "oauth2-proxy"),
        ("ConfigMap", "oauth2-proxy-hk55gm96k4"),
        ("ConfigMap", "oauth2-proxy-parameters-74659b6648"),
        ("ConfigMap", "oauth2-proxy-theme-5t624ft8b8"),
        ("Secret", "oauth2-proxy-h675gf55ht"),
        ("VirtualService", "oauth2-proxy"),
    },
}
# Objects outside the auth service that refer to its address: (kind, namespace, name).
REFERRERS = {
    "v1.3.0": {("EnvoyFilter", "istio-system", "authn-filter")},
    "v1.10": {("ConfigMap", "istio-system", "istio")},
}
WORKLOAD = {"v1.3.0": ("StatefulSet", "authservice"), "v1.10": ("Deployment", "oauth2-proxy")}
AUTH_POD_PORT = {"v1.3.0": 8080, "v1.10": 4180}
# The old location in any written form: `svc.ns` addresses and `namespace: ns` of a moved object.
OLD_ADDRESS = {"v1.3.0": r"authservice\.istio-system\b", "v1.10": r"oauth2-proxy\.oauth2-proxy\b"}
GATEWAY_PRINCIPAL = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


def find(items, kind, name, namespace=None):
    hits = [
        i
        for i in items
        if i["kind"] == kind
        and i["metadata"]["name"] == name
        and (namespace is None or i["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"{kind} {namespace}/{name}: {len(hits)} found"
    return hits[0]


def template(obj):
    return obj["spec"]["template"]


class Relocation:
    """One run on a real manifest, its output parsed once (v1.10 is 10 MB)."""

    def __init__(self, version: str):
        self.version = version
        self.text = resource_list(rendered_items_text(version), CONFIG)
        self.outcome = run_function(NAME, self.text)
        assert self.outcome.exit_code == 0, self.outcome.stderr
        self.output = load_output(self.outcome.stdout)
        self.items = self.output["items"]


@pytest.fixture(scope="module", params=VERSIONS)
def relocated(request):
    return Relocation(request.param)


def mesh_of(configmap: dict) -> dict:
    return yaml.load(str(configmap["data"]["mesh"]), Loader=yamlio.Loader)


def test_moves_every_object_of_the_auth_service(relocated):
    for kind, name in MOVED[relocated.version]:
        assert find(relocated.items, kind, name)["metadata"]["namespace"] == "kubeflow"
    assert len(relocated.outcome.stderr.strip().splitlines()) == 1


def test_no_object_refers_to_the_old_location(relocated):
    version, stdout = relocated.version, relocated.outcome.stdout
    old_ns = OLD_NAMESPACE[version]
    assert re.search(OLD_ADDRESS[version], relocated.text), (
        "the input must refer to the old address for this test to mean anything"
    )
    assert not re.search(OLD_ADDRESS[version], stdout)
    moved_names = {name for _, name in MOVED[version]}
    for obj in relocated.items:
        for mapping in _mappings(obj):
            assert not (mapping.get("namespace") == old_ns and mapping.get("name") in moved_names), (
                obj["kind"],
                mapping,
            )
    if version == "v1.10":  # the auth service's own namespace goes with it
        assert not re.search(r"^\s*namespace: oauth2-proxy\s*$", stdout, re.M)
        assert not [i for i in relocated.items if i["kind"] == "Namespace" and i["metadata"]["name"] == "oauth2-proxy"]


def _mappings(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mappings(value)


def test_envoy_filter_or_mesh_config_and_virtualservice_point_at_the_new_address(relocated):
    if relocated.version == "v1.3.0":
        envoy_filter = find(relocated.items, "EnvoyFilter", "authn-filter", "istio-system")  # it stays with the gateway
        server_uri = envoy_filter["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["http_service"][
            "server_uri"
        ]
        assert server_uri == {
            "uri": "http://authservice.kubeflow.svc.cluster.local",
            "cluster": "outbound|8080||authservice.kubeflow.svc.cluster.local",
            "timeout": "10s",
        }
        return
    before = _input_istio_configmap(relocated.text)
    after = find(relocated.items, "ConfigMap", "istio", "istio-system")
    mesh_before, mesh_after = mesh_of(before), mesh_of(after)
    provider = mesh_after["extensionProviders"][0]
    assert provider["name"] == "oauth2-proxy"
    assert provider["envoyExtAuthzHttp"]["service"] == "oauth2-proxy.kubeflow.svc.cluster.local"
    mesh_before["extensionProviders"][0]["envoyExtAuthzHttp"]["service"] = "oauth2-proxy.kubeflow.svc.cluster.local"
    assert mesh_after == mesh_before  # nothing else in the mesh config changed meaning
    assert after["data"]["meshNetworks"] == before["data"]["meshNetworks"]
    assert not after["data"]["mesh"].endswith("\n")  # it was a `|-` block
    vs = find(relocated.items, "VirtualService", "oauth2-proxy", "kubeflow")
    assert vs["spec"]["http"][0]["route"][0]["destination"]["host"] == "oauth2-proxy.kubeflow.svc.cluster.local"
    assert vs["spec"]["gateways"] == ["kubeflow/kubeflow-gateway"]


def _input_istio_configmap(text: str) -> dict:
    """The input's istio ConfigMap, cut out of the items text by hand (parsing all of v1.10 is slow)."""
    entries = re.split(r"^(?=- )", text.split("\nfunctionConfig:")[0].split("items:\n", 1)[1], flags=re.M)
    hits = [
        e
        for e in entries
        if re.search(r"^    name: istio$", e, re.M)
        and re.search(r"^  kind: ConfigMap$", e, re.M)
        and re.search(r"^    namespace: istio-system$", e, re.M)
    ]
    assert len(hits) == 1
    return yaml.load(hits[0], Loader=yamlio.Loader)[0]


def test_sidecar_and_443_exclusion_on_the_pod_template(relocated):
    kind, name = WORKLOAD[relocated.version]
    tpl = template(find(relocated.items, kind, name, "kubeflow"))
    annotations = tpl["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/inject"] == "true"
    assert annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] == "443"
    assert tpl["metadata"].get("labels", {}).get("sidecar.istio.io/inject", "true") == "true"
    if relocated.version == "v1.3.0":  # upstream's opt-out annotation was replaced and reported
        assert any(
            r["severity"] == "warning" and "sidecar.istio.io/inject" in r["message"]
            for r in relocated.output["results"]
        )


def test_gateway_is_admitted_by_exactly_the_policies_it_needs(relocated):
    version, items = relocated.version, relocated.items
    kind, name = WORKLOAD[version]
    pod_labels = template(find(items, kind, name, "kubeflow"))["metadata"]["labels"]
    port = AUTH_POD_PORT[version]
    policies = [
        i
        for i in items
        if i["metadata"].get("namespace") == "kubeflow"
        and i["kind"] in ("NetworkPolicy", "AuthorizationPolicy")
        and re.search(r"oauth2-proxy|authservice", yaml.dump(i["spec"]))
    ]
    by_kind = {p["kind"]: p for p in policies}
    # v1.3 has the mesh-wide deny-all but no NetworkPolicy; v1.10 has both.
    assert sorted(by_kind) == (
        ["AuthorizationPolicy", "NetworkPolicy"] if version == "v1.10" else ["AuthorizationPolicy"]
    )
    auth = by_kind["AuthorizationPolicy"]["spec"]
    assert auth["action"] == "ALLOW"
    assert all(pod_labels.get(k) == v for k, v in auth["selector"]["matchLabels"].items())
    assert auth["rules"] == [
        {"from": [{"source": {"principals": [GATEWAY_PRINCIPAL]}}], "to": [{"operation": {"ports": [str(port)]}}]}
    ]
    if version == "v1.10":
        net = by_kind["NetworkPolicy"]["spec"]
        assert all(pod_labels.get(k) == v for k, v in net["podSelector"]["matchLabels"].items())
        assert net["ingress"] == [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                        "podSelector": {"matchLabels": {"app": "istio-ingressgateway"}},
                    }
                ],
                "ports": [{"port": port, "protocol": "TCP"}],
            }
        ]


def test_untouched_items_are_byte_identical(relocated):
    version, stdout = relocated.version, relocated.outcome.stdout
    expected_changed = set(MOVED[version]) | {(k, n) for k, _, n in REFERRERS[version]}
    removed = {("Namespace", "oauth2-proxy")} if version == "v1.10" else set()
    entries = re.split(r"^(?=- )", rendered_items_text(version), flags=re.M)[1:]
    output_entries = set(
        re.split(r"^(?=- )", stdout.split("\nfunctionConfig:")[0].split("items:\n", 1)[1] + "\n", flags=re.M)
    )
    for raw in entries:
        key = (re.search(r"^  kind: (\S+)$", raw, re.M)[1], re.search(r"^    name: (\S+)$", raw, re.M)[1])
        if key in expected_changed or key in removed:
            assert raw not in output_entries, f"{key} should have changed"
        else:
            assert raw in output_entries, f"{key} changed"
    added = 2 if version == "v1.10" else 1
    assert len(relocated.items) == len(entries) - len(removed) + added


def test_second_run_changes_nothing(relocated):
    again = run_function(NAME, relocated.outcome.stdout)
    assert again.exit_code == 0, again.stderr
    items_text = relocated.outcome.stdout.split("\nfunctionConfig:")[0]
    assert again.stdout.split("\nfunctionConfig:")[0] == items_text  # byte for byte


# -- small cases ---------------------------------------------------------------------------

OAUTH2_PROXY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: oauth2-proxy, namespace: oauth2-proxy}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: oauth2-proxy}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: oauth2-proxy, sidecar.istio.io/inject: "false"}
      annotations: {traffic.sidecar.istio.io/excludeOutboundPorts: "8443"}
    spec:
      serviceAccountName: oauth2-proxy
      containers:
      - name: oauth2-proxy
        image: registry.corp/quay.io/oauth2-proxy/oauth2-proxy:v7.7.1
        ports: [{containerPort: 4180, name: http}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: oauth2-proxy, namespace: oauth2-proxy}
---
apiVersion: v1
kind: Service
metadata: {name: oauth2-proxy, namespace: oauth2-proxy}
spec:
  selector: {app.kubernetes.io/name: oauth2-proxy}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Namespace
metadata: {name: oauth2-proxy}
---
apiVersion: v1
kind: Namespace
metadata: {name: kubeflow}
"""
MESH = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    rootNamespace: istio-system
    flag: on
    mode: 0777
    date: 2021-01-29
    extensionProviders:
    - name: oauth2-proxy
      envoyExtAuthzHttp:
        service: oauth2-proxy/oauth2-proxy.oauth2-proxy.svc.cluster.local
        port: 80
"""
BINDING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: oauth2-proxy-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: oauth2-proxy, namespace: oauth2-proxy}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: from-auth, namespace: kubeflow}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/oauth2-proxy/sa/oauth2-proxy]}}]
  selector: {matchLabels: {app: other}}
"""


run_small = partial(run_docs, NAME, config=CONFIG)


def test_rewrites_namespaced_host_principal_and_subject_and_keeps_yaml_meanings():
    outcome = run_small(OAUTH2_PROXY, MESH, BINDING)
    assert outcome.exit_code == 0, outcome.stderr
    items = load_output(outcome.stdout)["items"]
    mesh_text = str(find(items, "ConfigMap", "istio")["data"]["mesh"])
    mesh_11 = yaml.safe_load(mesh_text)  # a YAML 1.1 reader (what PyYAML and old tools use)
    mesh_12 = yaml.load(mesh_text, Loader=yamlio.Loader)
    assert mesh_11["flag"] == "on" and mesh_12["flag"] == "on"
    assert mesh_11["date"] == "2021-01-29" and mesh_12["date"] == "2021-01-29"
    assert re.search(r"^mode: 0777$", mesh_text, re.M)
    assert (
        mesh_12["extensionProviders"][0]["envoyExtAuthzHttp"]["service"]
        == "kubeflow/oauth2-proxy.kubeflow.svc.cluster.local"
    )
    assert find(items, "ClusterRoleBinding", "oauth2-proxy-reader")["subjects"] == [
        {"kind": "ServiceAccount", "name": "oauth2-proxy", "namespace": "kubeflow"}
    ]
    deny = find(items, "AuthorizationPolicy", "from-auth")
    assert deny["spec"]["rules"][0]["from"][0]["source"]["principals"] == ["cluster.local/ns/kubeflow/sa/oauth2-proxy"]
    assert "oauth2-proxy.oauth2-proxy" not in outcome.stdout and "ns/oauth2-proxy/" not in outcome.stdout


PARTIAL_V13 = """
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: authservice, namespace: istio-system}
spec:
  selector: {matchLabels: {app: authservice}}
  template:
    metadata: {labels: {app: authservice}}
    spec:
      containers: [{name: authservice, image: gcr.io/arrikto/kubeflow/oidc-authservice:28c59ef}]
---
apiVersion: v1
kind: Service
metadata: {name: authservice, namespace: istio-system}
spec: {selector: {app: authservice}, ports: [{port: 8080}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: authn-filter, namespace: istio-system}
spec:
  workloadSelector: {labels: {istio: ingressgateway}}
  configPatches: [{patch: {value: {uri: "http://authservice.istio-system.svc.cluster.local"}}}]
"""


def test_partial_input_keeps_the_gateway_objects_and_the_namespace():
    # A kpt package with only the auth files: istio-system holds no other workload here,
    # yet the EnvoyFilter belongs to the gateway and the Namespace to Istio.
    outcome = run_small(PARTIAL_V13)
    assert outcome.exit_code == 0, outcome.stderr
    items = load_output(outcome.stdout)["items"]
    assert find(items, "StatefulSet", "authservice")["metadata"]["namespace"] == "kubeflow"
    envoy_filter = find(items, "EnvoyFilter", "authn-filter")
    assert envoy_filter["metadata"]["namespace"] == "istio-system"
    assert (
        envoy_filter["spec"]["configPatches"][0]["patch"]["value"]["uri"]
        == "http://authservice.kubeflow.svc.cluster.local"
    )
    assert find(items, "Namespace", "istio-system")


def test_address_of_a_service_not_in_the_input_is_reported():
    without_service = re.sub(r"---\napiVersion: v1\nkind: Service\n.*?\n---", "---", PARTIAL_V13, flags=re.S)
    outcome = run_small(without_service)
    assert outcome.exit_code == 0, outcome.stderr
    doc = load_output(outcome.stdout)
    assert "authservice.istio-system.svc" in str(find(doc["items"], "EnvoyFilter", "authn-filter"))
    assert [
        r["resourceRef"]["name"] for r in doc["results"] if "still names authservice.istio-system" in r["message"]
    ] == ["authn-filter"]


def test_label_opt_out_replaced_and_existing_port_exclusion_kept():
    outcome = run_small(OAUTH2_PROXY)
    assert outcome.exit_code == 0, outcome.stderr
    doc = load_output(outcome.stdout)
    meta = template(find(doc["items"], "Deployment", "oauth2-proxy"))["metadata"]
    assert meta["labels"]["sidecar.istio.io/inject"] == "true"
    assert meta["annotations"] == {
        "traffic.sidecar.istio.io/excludeOutboundPorts": "8443,443",
        "sidecar.istio.io/inject": "true",
    }
    assert any(r["severity"] == "warning" and "labels" in r["field"]["path"] for r in doc["results"])
    # no policy in the input restricts the auth pods: none is added
    assert not [i for i in doc["items"] if i["kind"] in ("NetworkPolicy", "AuthorizationPolicy")]


def test_sidecar_false_keeps_it_out_and_adds_no_authorization_policy():
    deny_all = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: global-deny-all, namespace: istio-system}\nspec: {}\n"
    config = CONFIG.replace("sidecar: true", "sidecar: false").replace('excludeOutboundPorts: ["443"]', "")
    outcome = run_small(OAUTH2_PROXY, deny_all, config=config)
    assert outcome.exit_code == 0, outcome.stderr
    items = load_output(outcome.stdout)["items"]
    meta = template(find(items, "Deployment", "oauth2-proxy", "kubeflow"))["metadata"]
    assert (
        meta["annotations"]["sidecar.istio.io/inject"] == "false"
        and meta["labels"]["sidecar.istio.io/inject"] == "false"
    )
    assert [i["metadata"]["name"] for i in items if i["kind"] == "AuthorizationPolicy"] == ["global-deny-all"]


def test_already_in_target_namespace_only_enrols():
    in_place = OAUTH2_PROXY.replace("namespace: oauth2-proxy}", "namespace: kubeflow}")
    outcome = run_small(in_place)
    assert outcome.exit_code == 0, outcome.stderr
    items = load_output(outcome.stdout)["items"]
    assert (
        template(find(items, "Deployment", "oauth2-proxy", "kubeflow"))["metadata"]["annotations"][
            "sidecar.istio.io/inject"
        ]
        == "true"
    )
    assert find(items, "Namespace", "oauth2-proxy")  # nothing moved out of it: it stays


def test_workload_selector_reaches_another_auth_service():
    other = OAUTH2_PROXY.replace("registry.corp/quay.io/oauth2-proxy/oauth2-proxy:v7.7.1", "corp/sso-gate:1")
    config = CONFIG + "workload: {kind: Deployment, name: oauth2-proxy}\n"
    assert run_small(other).exit_code == 1  # not found by image
    outcome = run_small(other, config=config)
    assert outcome.exit_code == 0, outcome.stderr
    assert (
        find(load_output(outcome.stdout)["items"], "Deployment", "oauth2-proxy")["metadata"]["namespace"] == "kubeflow"
    )


def test_configmap_config():
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  namespace: kubeflow\n  sidecar: 'true'\n  excludeOutboundPorts: 443,8443\n"
    outcome = run_small(
        OAUTH2_PROXY.replace('annotations: {traffic.sidecar.istio.io/excludeOutboundPorts: "8443"}', ""), config=config
    )
    assert outcome.exit_code == 0, outcome.stderr
    meta = template(find(load_output(outcome.stdout)["items"], "Deployment", "oauth2-proxy"))["metadata"]
    assert meta["annotations"]["traffic.sidecar.istio.io/excludeOutboundPorts"] == "443,8443"


# -- errors --------------------------------------------------------------------------------

CLASH = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: oauth2-proxy, namespace: kubeflow}\nspec: {ports: [{port: 80}]}\n"
)
SECOND = OAUTH2_PROXY.split("---")[0].replace("namespace: oauth2-proxy}", "namespace: sso}")
# How Kubeflow v1.3's authn-filter looks *inside* a kustomize build, before vars are resolved.
VAR_FILTER = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: authn-filter, namespace: istio-system}
spec:
  configPatches:
  - patch:
      value:
        typed_config:
          http_service:
            server_uri:
              uri: http://$(OAUTH2_PROXY_SERVICE).$(OAUTH2_PROXY_NAMESPACE).svc.cluster.local
"""


@pytest.mark.parametrize(
    "docs, config, expected",
    [
        ((OAUTH2_PROXY.split("---")[1],), CONFIG, "no auth service found"),
        ((OAUTH2_PROXY, CLASH), CONFIG, "already has Service kubeflow/oauth2-proxy"),
        ((OAUTH2_PROXY, SECOND), CONFIG, "found several auth services"),
        ((OAUTH2_PROXY,), CONFIG + "namespaces: kubeflow\n", "namespaces: unknown field"),
        (
            (OAUTH2_PROXY,),
            CONFIG.replace("namespace: kubeflow", "namespace: Kube_Flow"),
            "namespace: must be a namespace name (a DNS label: lower-case letters, digits, '-') (got 'Kube_Flow')",
        ),
        ((OAUTH2_PROXY,), CONFIG.replace("namespace: kubeflow", ""), "namespace: required field is missing"),
        (
            (OAUTH2_PROXY,),
            CONFIG.replace('["443"]', '["https"]'),
            "excludeOutboundPorts[0]: must be a port number (1-65535) (got 'https')",
        ),
        (
            (OAUTH2_PROXY,),
            CONFIG.replace('["443"]', "[70000]"),
            "excludeOutboundPorts[0]: must be a port number (1-65535) (got 70000)",
        ),
        (
            (OAUTH2_PROXY,),
            CONFIG.replace("sidecar: true", "sidecar: false"),
            "excludeOutboundPorts only applies with sidecar: true",
        ),
        (
            (OAUTH2_PROXY,),
            CONFIG.replace("sidecar: true", "sidecar: maybe"),
            "sidecar: input should be a valid boolean",
        ),
        ((OAUTH2_PROXY,), CONFIG + "gateway: {labels: {}}\n", "gateway.labels: must name at least one label"),
        ((OAUTH2_PROXY,), None, "no functionConfig"),
        (
            (OAUTH2_PROXY, VAR_FILTER),
            CONFIG,
            "EnvoyFilter istio-system/authn-filter: addresses a Service through kustomize vars",
        ),
    ],
)
def test_errors_leave_the_input_unchanged(docs, config, expected):
    text = resource_list(block(*docs), config)
    outcome = run_function(NAME, text)
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and expected in outcome.stderr, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert load_output(outcome.stdout)["items"] == load_output(text)["items"]
