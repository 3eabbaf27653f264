"""NamespaceRelocation on the three Kubeflow renders, small cases, and bad configs.

The oracle is independent of the function's code: a plain line-by-line regex scan of the
output text for `kubeflow` in the shapes a namespace reference takes, with an explicit
allow-list of the word's other uses, and dangling-reference checks written here (addresses
-> a Service, binding subjects -> a ServiceAccount, webhook services -> a Service).
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache

import pytest

from helpers import items_block, load_output, rendered_items_text, resource_list, run_function, yaml_docs
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import ResourceList

NAME = "namespace-relocation"
RENDERS = ("v1.3.0", "v1.7.0", "v1.10")
CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: NamespaceRelocation
metadata:
  name: ml-platform
namespaces:
  kubeflow: ml-platform
"""

# -- the oracle: `kubeflow` as a namespace reference, line by line --------------------------
REFERENCE_SHAPES = [
    re.compile(r"^\s*(- )?namespace: ['\"]?kubeflow['\"]?\s*$"),  # metadata, subjects, webhook services
    re.compile(r"[\w-]\.kubeflow(\.svc\b|:\d|[\"' ,/)]|$)"),  # Service addresses
    re.compile(r"/ns/kubeflow/"),  # SPIFFE principals
    re.compile(r"serviceaccounts?:kubeflow\b"),  # Kubernetes service account users and groups
    re.compile(r"(^|[\s\"'=:])kubeflow/[a-z0-9*][-a-z0-9.*]*(?=$|[\s\"',])"),  # namespace/name
    re.compile(r"namespace[\"']?\s*[=:]\s*[\"']?kubeflow\b", re.I),  # flags, query strings, embedded YAML/JSON
    re.compile(r"metadata\.name: kubeflow\b"),  # namespace selectors
    re.compile(r"gateway\.kubeflow\."),  # Knative gateway keys
    re.compile(r"^\s*(- )?name: kubeflow\s*$"),  # the Namespace object
    re.compile(r"^\s*- kubeflow\s*$"),  # list entries: exportTo, namespaces, args
    re.compile(r":\s*kubeflow\s*$"),  # any other field holding exactly the name
]
# The word's other uses, each a line pattern and why it is no namespace reference.
ALLOWED = [
    (re.compile(r"^\s*- kubeflow$"), "a CRD category (checked below: only under `categories:`)"),
    (re.compile(r"^\s*control-plane: kubeflow$"), "a label on the Namespace object"),
    (re.compile(r"^\s*(app\.kubernetes\.io/part-of|app\.kubernetes\.io/name|application-crd-id): kubeflow"), "a label"),
    (re.compile(r"image:\s*\S*kubeflow/"), "an image name"),
]


def reference_lines(text: str) -> list[str]:
    """Lines naming `kubeflow` as a namespace, with the allowed non-references dropped."""
    found = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if "kubeflow" not in line or not any(p.search(line) for p in REFERENCE_SHAPES):
            continue
        allowed = [why for p, why in ALLOWED if p.search(line)]
        if allowed and allowed[0].startswith("a CRD category"):
            above = [prev for prev in lines[max(0, n - 4) : n] if not prev.strip().startswith("- ")]
            if above and above[-1].strip() == "categories:":
                continue
        elif allowed:
            continue
        found.append(f"{n}: {line.strip()}")
    return found


def items_text(stdout: str) -> str:
    """The output's items as text (results and functionConfig cut off)."""
    return stdout.split("\nfunctionConfig:", 1)[0].split("\nresults:", 1)[0]


def run_config(config: str, items_text_block: str):
    return run_function(NAME, resource_list(items_text_block, config))


@lru_cache(maxsize=None)
def relocated(version: str):
    return run_config(CONFIG, rendered_items_text(version))


def objects(stdout: str) -> list[dict]:
    return load_output(stdout)["items"]


@lru_cache(maxsize=None)
def output_objects(version: str) -> list[dict]:
    return objects(relocated(version).stdout)


@lru_cache(maxsize=None)
def input_objects(version: str) -> list[dict]:
    return objects(resource_list(rendered_items_text(version)))


# -- what points where: counted here, independently ------------------------------------
ADDRESS = r"(?<![\w.-])([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.{ns}(?:\.svc(?:\.cluster\.local)?)?(?![\w-])(?!\.[a-z])"


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def census(objs: list[dict], ns: str) -> dict:
    """Objects in `ns`, and the references into it, counted by kind of reference."""
    principals, addresses, webhook_services, subjects = [], set(), [], []
    for obj in objs:
        texts = list(strings({k: v for k, v in obj.items() if k != "metadata"}))
        texts += [v for k, v in (obj["metadata"].get("annotations") or {}).items() if isinstance(v, str)]
        for text in texts:
            principals += re.findall(rf"cluster\.local/ns/{ns}/sa/[\w-]+", text)
            if obj["kind"] != "CustomResourceDefinition":
                addresses |= {m.group(0) for m in re.finditer(ADDRESS.format(ns=re.escape(ns)), text)}
        for hook in obj.get("webhooks") or []:
            service = (hook.get("clientConfig") or {}).get("service") or {}
            if service.get("namespace") == ns:
                webhook_services.append(service["name"])
        for subject in obj.get("subjects") or []:
            if subject.get("namespace") == ns:
                subjects.append((subject["kind"], subject["name"]))
    bare = {a.split(".")[0] + "." + ns for a in addresses}
    return {
        "objects": sum(1 for o in objs if o["metadata"].get("namespace") == ns),
        "principals": len(principals),
        "addresses": bare,
        "webhook services": len(webhook_services),
        "subjects": len(subjects),
    }


# -- the renders -------------------------------------------------------------------------


@pytest.mark.parametrize("version", RENDERS)
def test_nothing_is_left_in_kubeflow(version):
    out = relocated(version)
    assert out.exit_code == 0, out.stderr
    text = items_text(out.stdout)
    assert reference_lines(text) == []
    objs = output_objects(version)
    namespaces = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Namespace"}
    assert "kubeflow" not in namespaces and "ml-platform" in namespaces
    before = next(o for o in input_objects(version) if o["kind"] == "Namespace" and o["metadata"]["name"] == "kubeflow")
    assert namespaces["ml-platform"]["metadata"].get("labels") == before["metadata"].get("labels")
    assert census(objs, "kubeflow") == {
        "objects": 0,
        "principals": 0,
        "addresses": set(),
        "webhook services": 0,
        "subjects": 0,
    }


def test_the_issue_counts_on_v1_10_move_over():
    """The issue's census of v1.10 (234 objects, 25 principals, 20 addresses, 25 webhook
    services, 47 binding subjects) is found in `kubeflow` before and in `ml-platform` after.
    Its 20 addresses are 19 Services and Knative's config key `gateway.kubeflow.kubeflow-gateway`."""
    before = census(input_objects("v1.10"), "kubeflow")
    assert (
        before["objects"],
        before["principals"],
        len(before["addresses"]),
        before["webhook services"],
        before["subjects"],
    ) == (234, 25, 19, 25, 47)
    assert "gateway.kubeflow.kubeflow-gateway:" in rendered_items_text("v1.10")
    after = census(output_objects("v1.10"), "ml-platform")
    assert after["objects"] == 234 and after["principals"] == 25 and after["webhook services"] == 25
    assert after["subjects"] == 47
    assert after["addresses"] == {a.replace(".kubeflow", ".ml-platform") for a in before["addresses"]}


@pytest.mark.parametrize("version", RENDERS)
def test_no_reference_is_left_dangling(version):
    """Every address, binding subject and webhook service pointing into ml-platform names
    an object there, unless it named nothing in kubeflow before either."""

    def targets(objs, ns):
        return {(o["kind"], o["metadata"]["name"]) for o in objs if o["metadata"].get("namespace") == ns}

    def pointers(objs, ns):
        found = set()
        for obj in objs:
            for subject in obj.get("subjects") or []:
                if subject.get("namespace") == ns and subject.get("kind") == "ServiceAccount":
                    found.add(("ServiceAccount", subject["name"]))
            for hook in obj.get("webhooks") or []:
                service = (hook.get("clientConfig") or {}).get("service") or {}
                if service.get("namespace") == ns:
                    found.add(("Service", service["name"]))
            if obj["kind"] != "CustomResourceDefinition":
                for text in strings({k: v for k, v in obj.items() if k != "metadata"}):
                    for m in re.finditer(ADDRESS.format(ns=re.escape(ns)), text):
                        found.add(("Service", m.group(1)))
                    for m in re.finditer(rf"/ns/{re.escape(ns)}/sa/([\w-]+)", text):
                        found.add(("ServiceAccount", m.group(1)))
        return found

    def dangling(objs, ns):
        present = targets(objs, ns) | {("Service", n) for k, n in targets(objs, ns) if k == "Gateway"}
        return pointers(objs, ns) - present

    before = dangling(input_objects(version), "kubeflow")
    after = dangling(output_objects(version), "ml-platform")
    assert after == before
    assert len(pointers(output_objects(version), "ml-platform")) > 40


@pytest.mark.parametrize("version", RENDERS)
def test_a_second_run_changes_nothing(version):
    first = relocated(version)
    second = run_function(NAME, first.stdout)
    assert second.exit_code == 0, second.stderr
    assert items_text(second.stdout) == items_text(first.stdout)
    assert "nothing to move" in second.stderr and "rewrote 0 references" in second.stderr


@pytest.mark.parametrize("version", RENDERS)
def test_untouched_items_go_out_byte_identical(version):
    raw_in = {item.raw for item in ResourceList.parse(resource_list(rendered_items_text(version))).items}
    out = ResourceList.parse(relocated(version).stdout)
    for item in out.items:
        if "ml-platform" not in item.raw:
            assert item.raw in raw_in, item.ref()


@pytest.mark.parametrize("version", RENDERS)
def test_kubeflow_is_left_where_it_is_no_namespace(version):
    """API groups, images, labels, object names and CRD categories keep the word."""
    text = items_text(relocated(version).stdout)
    source = rendered_items_text(version)
    for pattern in (
        r"kubeflow\.org",
        r"(?<!/ns)/kubeflow/",
        r"app\.kubernetes\.io/part-of: kubeflow-profile",
        r"name: kubeflow-gateway",
    ):
        assert len(re.findall(pattern, text)) == len(re.findall(pattern, source)), pattern

    def categories(objs):
        return [o["spec"]["names"].get("categories") for o in objs if o["kind"] == "CustomResourceDefinition"]

    assert categories(output_objects(version)) == categories(input_objects(version))


def test_runtime_defaults_are_warned_with_evidence():
    def warnings(version):
        doc = load_output(relocated(version).stdout)
        return [(r["resourceRef"]["name"], r["message"]) for r in doc["results"] if r["severity"] == "warning"]

    v13, v17, v110 = warnings("v1.3.0"), warnings("v1.7.0"), warnings("v1.10")
    assert {n for n, _ in v13} == {"centraldashboard", "tensorboard-controller-controller-manager", "ml-pipeline"}
    assert {n for n, _ in v17} == {"centraldashboard", "profiles-deployment", "ml-pipeline"}
    assert {n for n, _ in v110} == {"pvcviewer-controller-manager", "ml-pipeline"}
    for _, message in v13 + v17 + v110:
        assert "https://github.com/" in message and "falls back to" in message
    assert any("ISTIO_GATEWAY=ml-platform/kubeflow-gateway" in m for _, m in v110)
    assert sum("KFP v2" in m for _, m in v110) == 3 and not any("KFP v2" in m for _, m in v13)


# -- small cases -------------------------------------------------------------------------

BASE = """
apiVersion: v1
kind: Namespace
metadata:
  name: kubeflow
  labels: {kubernetes.io/metadata.name: kubeflow, istio-injection: enabled}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: kubeflow}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: kubeflow}
"""


def run_items(*docs, config=CONFIG):
    return run_config(config, items_block(BASE, *docs))


def output_obj(out, kind, name):
    return next(o for o in load_output(out.stdout)["items"] if o["kind"] == kind and o["metadata"]["name"] == name)


def test_secret_data_is_decoded_rewritten_and_reencoded():
    encoded = base64.b64encode(b"endpoint: http://api.kubeflow.svc:8080\nnamespace: kubeflow\n").decode()
    out = run_items(f"""
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: team}}
data:
  config: {encoded}
  blob: {base64.b64encode(bytes(range(256))).decode()}
stringData:
  url: grpc://api.kubeflow:9090
""")
    assert out.exit_code == 0, out.stderr
    secret = output_obj(out, "Secret", "creds")
    assert (
        base64.b64decode(secret["data"]["config"])
        == b"endpoint: http://api.ml-platform.svc:8080\nnamespace: ml-platform\n"
    )
    assert base64.b64decode(secret["data"]["blob"]) == bytes(range(256))
    assert secret["stringData"]["url"] == "grpc://api.ml-platform:9090"


def test_every_field_shape_is_rewritten():
    out = run_items("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: kubeflow, labels: {app.kubernetes.io/part-of: kubeflow}}
spec:
  selector: {matchLabels: {app: kubeflow}}
  template:
    metadata: {labels: {app: kubeflow}}
    spec:
      containers:
      - name: c
        image: kubeflow/tool:1.0
        args: [--namespace=kubeflow, --lock-namespace, kubeflow, --api=http://api.kubeflow.svc.cluster.local:8080]
        env:
        - {name: POD_NAMESPACE, value: kubeflow}
        - {name: GROUP, value: kubeflow.org}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: hook-kubeflow
  annotations: {cert-manager.io/inject-ca-from: kubeflow/cert}
webhooks:
- name: v.kubeflow.org
  clientConfig: {service: {name: api, namespace: kubeflow, path: /validate}}
  namespaceSelector:
    matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kubeflow, kube-system]}]
  matchConditions:
  - {name: skip, expression: 'request.userInfo.username != "system:serviceaccount:kubeflow:runner"'}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: runner-kubeflow}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: runner, namespace: kubeflow}
- {kind: Group, name: "system:serviceaccounts:kubeflow", apiGroup: rbac.authorization.k8s.io}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: other}
spec:
  rules:
  - from: [{source: {principals: [cluster.local/ns/kubeflow/sa/runner], namespaces: [kubeflow]}}]
    when: [{key: source.namespace, values: [kubeflow]}]
---
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: default, namespace: other}
spec:
  egress: [{hosts: ["kubeflow/*", "./*"]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs, namespace: other}
spec:
  gateways: [kubeflow/kubeflow-gateway]
  exportTo: [kubeflow]
  hosts: ["*"]
  http: [{route: [{destination: {host: api.kubeflow.svc.cluster.local}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-kubeflow, namespace: other}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kubeflow}}}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-istio, namespace: knative-serving}
data:
  gateway.kubeflow.kubeflow-gateway: istio-ingressgateway.istio-system.svc.cluster.local
  ingress: |
    {
      "ingressGateway": "kubeflow/kubeflow-gateway",
      "image": "kubeflow/agent:1.0"
    }
  lock-namespace: kubeflow
""")
    assert out.exit_code == 0, out.stderr
    text = items_text(out.stdout)
    assert reference_lines(text) == []
    ns = output_obj(out, "Namespace", "ml-platform")
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "ml-platform", "istio-injection": "enabled"}
    app = output_obj(out, "Deployment", "app")
    container = app["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "--namespace=ml-platform",
        "--lock-namespace",
        "ml-platform",
        "--api=http://api.ml-platform.svc.cluster.local:8080",
    ]
    assert container["env"] == [
        {"name": "POD_NAMESPACE", "value": "ml-platform"},
        {"name": "GROUP", "value": "kubeflow.org"},
    ]
    assert container["image"] == "kubeflow/tool:1.0"
    assert app["metadata"]["labels"] == {"app.kubernetes.io/part-of": "kubeflow"}
    assert app["spec"]["selector"] == {"matchLabels": {"app": "kubeflow"}}
    hook = output_obj(out, "ValidatingWebhookConfiguration", "hook-kubeflow")
    assert hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "ml-platform/cert"
    assert hook["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["ml-platform", "kube-system"]
    assert "system:serviceaccount:ml-platform:runner" in hook["webhooks"][0]["matchConditions"][0]["expression"]
    assert hook["webhooks"][0]["name"] == "v.kubeflow.org"
    crb = output_obj(out, "ClusterRoleBinding", "runner-kubeflow")
    assert [s.get("namespace", s["name"]) for s in crb["subjects"]] == [
        "ml-platform",
        "system:serviceaccounts:ml-platform",
    ]
    cm = output_obj(out, "ConfigMap", "config-istio")
    assert list(cm["data"]) == ["gateway.ml-platform.kubeflow-gateway", "ingress", "lock-namespace"]
    assert '"ingressGateway": "ml-platform/kubeflow-gateway"' in cm["data"]["ingress"]
    assert '"image": "kubeflow/agent:1.0"' in cm["data"]["ingress"]
    assert cm["data"]["lock-namespace"] == "ml-platform"


def test_an_unknown_shape_is_a_warning_with_its_field_path():
    out = run_items("""
apiVersion: v1
kind: ConfigMap
metadata: {name: odd, namespace: kubeflow}
data:
  targets: "home=kubeflow;other=team"
""")
    assert out.exit_code == 0
    results = load_output(out.stdout)["results"]
    warning = [r for r in results if r["severity"] == "warning"]
    assert len(warning) == 1 and warning[0]["field"]["path"] == "data.targets"
    assert "home=kubeflow" in warning[0]["message"]


def test_runtime_default_warns_only_without_the_override():
    deployment = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: pvcviewer-controller-manager, namespace: kubeflow}}
spec:
  template:
    spec:
      containers:
      - name: manager
        image: ghcr.io/kubeflow/kubeflow/pvcviewer-controller:v1.10.0
{env}
"""
    bare = run_items(deployment.format(env=""))
    warned = [r for r in load_output(bare.stdout)["results"] if r["severity"] == "warning"]
    assert len(warned) == 1 and "pvcviewer_controller.go" in warned[0]["message"]
    assert warned[0]["field"]["path"] == "spec.template.spec.containers[0]"
    env = "        env: [{name: ISTIO_GATEWAY, value: kubeflow/kubeflow-gateway}]"
    fixed = run_items(deployment.format(env=env))
    assert not [r for r in load_output(fixed.stdout)["results"] if r["severity"] == "warning"]
    assert "value: ml-platform/kubeflow-gateway" in items_text(fixed.stdout)


def test_a_clash_in_the_new_namespace_is_an_error_and_changes_nothing():
    clash = "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: ml-platform}\n"
    text = resource_list(items_block(BASE, clash), CONFIG)
    out = run_function(NAME, text)
    assert out.exit_code == 1 and "Service ml-platform/api" in out.stderr
    assert items_text(out.stdout) == items_text(text)


@pytest.mark.parametrize(
    "namespaces, message",
    [
        ("{kubeflow: kubeflow}", "maps to itself"),
        ("{kubeflow: ml-platform, ml-platform: other}", "both moved and a target"),
        ("{}", "at least one"),
        ("{kubeflow: ML_Platform}", "namespace name"),
    ],
)
def test_bad_configs_are_one_line_errors(namespaces, message):
    config = CONFIG.replace("namespaces:\n  kubeflow: ml-platform", f"namespaces: {namespaces}")
    out = run_items(config=config)
    assert out.exit_code == 1 and message in out.stderr and out.stderr.count("\n") == 1


def test_an_absent_namespace_is_an_error():
    out = run_items(config=CONFIG.replace("kubeflow: ml-platform", "team-a: ml-platform"))
    assert out.exit_code == 1 and "namespace team-a is not in the input" in out.stderr


def test_a_configmap_config_maps_namespaces():
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {kubeflow: ml-platform}\n"
    out = run_items(config=config)
    assert out.exit_code == 0 and "moved 3 objects" in out.stderr


# -- through the profile ------------------------------------------------------------------

ISTIO = {"v1.3.0": "1.6", "v1.7.0": "1.16", "v1.10": "1.22"}  # a mesh that serves each render's Istio APIs


def platform_profile(version: str) -> str:
    from helpers import REPO

    profile = (REPO / "fnconfigs" / "enterprise-profile.yaml").read_text()
    profile = profile.replace('istioVersion: "1.6"', f'istioVersion: "{ISTIO[version]}"')
    return profile.replace("\nmesh:\n", "\nplatform:\n  namespace: ml-platform\nmesh:\n", 1)


@lru_cache(maxsize=None)
def profiled(version: str):
    return run_function("enterprise-profile", resource_list(rendered_items_text(version), platform_profile(version)))


@pytest.mark.parametrize("version", RENDERS)
def test_the_profile_relocates_first_and_every_adaptation_follows(version):
    """Every adaptation of fnconfigs/enterprise-profile.yaml, whose sections name `kubeflow`,
    acts on ml-platform: the auth service moves there, the pod templates there get the
    labels, the derived policy passes, and nothing names kubeflow afterwards."""
    out = profiled(version)
    assert out.exit_code == 0, out.stderr
    assert out.stderr.split(" | ")[1].startswith("namespace-relocation: moved")
    assert reference_lines(items_text(out.stdout)) == []
    objs = objects(out.stdout)
    assert census(objs, "kubeflow") == {
        "objects": 0,
        "principals": 0,
        "addresses": set(),
        "webhook services": 0,
        "subjects": 0,
    }
    auth = [
        o
        for o in objs
        if o["kind"] in ("StatefulSet", "Deployment") and o["metadata"]["name"] in ("authservice", "oauth2-proxy")
    ]
    assert [o["metadata"]["namespace"] for o in auth] == ["ml-platform"]
    labelled = [
        o
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet")
        and o["metadata"]["namespace"] == "ml-platform"
        and (o["spec"]["template"]["metadata"].get("labels") or {}).get("corp.example.com/team") == "ml-platform"
    ]
    assert len(labelled) > 20
    assert "kubeflow-gateway" not in {o["metadata"]["name"] for o in objs if o["kind"] == "Gateway"}


@pytest.mark.parametrize("version", RENDERS)
def test_the_profile_with_a_platform_runs_twice_to_the_same_bytes(version):
    """The relocating and rewriting sections are idempotent (the removals are not re-runnable,
    as in test_enterprise_profile)."""
    profile = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
platform: {namespace: ml-platform}
mesh: {namespaces: [kubeflow]}
podTemplates: {labels: {corp.example.com/team: ml}, include: [{namespace: kubeflow}]}
registry: {rules: [{from: "*", to: registry.corp.example.com/proxy}]}
auth: {namespace: kubeflow, excludeOutboundPorts: ["443"]}
"""
    first = run_function("enterprise-profile", resource_list(rendered_items_text(version), profile))
    assert first.exit_code == 0, first.stderr
    second = run_function(
        "enterprise-profile",
        first.stdout.split("\nfunctionConfig:")[0]
        + "\n"
        + "functionConfig:\n"
        + "".join("  " + line + "\n" for line in profile.strip().splitlines()),
    )
    assert second.exit_code == 0, second.stderr
    assert items_text(second.stdout) == items_text(first.stdout)


def test_profile_settings_naming_kubeflow_follow_the_platform():
    from kfkrm.fns.enterprise_profile import Config

    profile = yamlio.load("""
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
platform: {namespace: ml-platform}
mesh: {gateway: istio-system/corp-gateway, hosts: [kubeflow.corp.example.com], namespaces: [kubeflow, team-a]}
podTemplates: {labels: {team: kubeflow}, include: [{namespace: kubeflow}]}
auth: {namespace: kubeflow}
validate: {exemptions: [{kind: StatefulSet, namespace: kubeflow, name: katib-mysql, rule: mesh, reason: db}]}
""")
    steps = {s.name: s.config for s in Config.model_validate(profile).steps}
    assert list(steps)[0] == "namespace-relocation"
    assert steps["namespace-relocation"].namespaces == {"kubeflow": "ml-platform"}
    assert steps["authservice-relocation"].namespace == "ml-platform"
    assert steps["namespace-injection"].namespaces == ["ml-platform", "team-a"]
    assert steps["pod-template-labels"].labels == {"team": "kubeflow"}  # a label value is no namespace
    assert steps["pod-template-labels"].include[0].namespace == "ml-platform"
    assert steps["virtualservice-gateway"].replaceGateways == ["ml-platform/kubeflow-gateway"]  # its default, followed
    assert steps["virtualservice-gateway"].hosts == ["kubeflow.corp.example.com"]
    policy = steps["enterprise-policy"]
    assert policy.meshNamespaces == ["ml-platform", "team-a"] and policy.authService.namespace == "ml-platform"
    assert policy.exemptions[0].namespace == "ml-platform"


# -- the kustomization example --------------------------------------------------------------

ENV = "v1.10/envs/prod-ml-platform"


def _env_chain() -> list[tuple[str, str]]:
    """(function name, config text) of each transformer of the environment, in its order."""
    from helpers import BY_NAME, EXAMPLES

    kinds = {spec.kind: name for name, spec in BY_NAME.items()}
    env = EXAMPLES / ENV
    order = yamlio.load((env / "kustomization.yaml").read_text())["transformers"]
    return [(kinds[yamlio.load((env / f).read_text())["kind"]], (env / f).read_text()) for f in order]


def test_the_prod_environment_chain_puts_kubeflow_in_ml_platform(tmp_path):
    """kustomization-examples/v1.10/envs/prod-ml-platform's transformers, in its order, on the
    rendered v1.10 manifests: nothing names kubeflow afterwards and the render passes the
    environment's own policy."""
    from helpers import EXAMPLES, run_cli

    chain = _env_chain()
    assert chain[0][0] == NAME
    stdout = resource_list(rendered_items_text("v1.10"))
    for name, config in chain:
        out = run_function(name, resource_list(items_text(stdout).split("items:\n", 1)[1] + "\n", config))
        assert out.exit_code == 0, f"{name}: {out.stderr}"
        stdout = out.stdout
    text = items_text(stdout)
    assert reference_lines(text) == []
    docs = objects(stdout)
    assert not [d for d in docs if d["metadata"].get("namespace") == "kubeflow"]
    workloads = [
        d
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"].get("namespace") == "ml-platform"
    ]
    assert len(workloads) > 20
    for d in workloads:
        assert d["spec"]["template"]["metadata"]["labels"]["corp.example.com/environment"] == "prod"
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(text)
    checked = run_cli(["validate", str(rendered), "--config", str(EXAMPLES / ENV / "policy.yaml")], "")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr


def test_the_environment_builds_directly_on_the_embedded_render(tmp_path):
    """`kfkrm build` of the environment itself. Its base is upstream's embedded render, whose
    kustomize vars are resolved already, so kustomize never has to find a moved object again
    (over upstream's source tree it would, and the function stops: see the test below)."""
    from helpers import EXAMPLES, example_render, run_cli

    proc = example_render(ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert reference_lines(proc.stdout) == []
    docs = yaml_docs(proc.stdout)
    assert not [d for d in docs if d["metadata"].get("namespace") == "kubeflow"]
    assert sum(1 for d in docs if d["metadata"].get("namespace") == "ml-platform") > 200
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(proc.stdout)
    checked = run_cli(["validate", str(rendered), "--config", str(EXAMPLES / ENV / "policy.yaml")], "")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr


def test_pending_kustomize_vars_in_a_moving_object_are_an_error():
    out = run_items("""
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: serving-cert, namespace: kubeflow}
spec:
  dnsNames: [$(SERVICE_NAME).$(SERVICE_NAMESPACE).svc]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: kubeflow}
spec:
  template:
    spec:
      containers: [{name: c, image: x, args: [--ns=$(POD_NAMESPACE)]}]
""")
    assert out.exit_code == 1
    assert (
        "Certificate kubeflow/serving-cert: holds kustomize vars not resolved yet ($(SERVICE_NAME), "
        "$(SERVICE_NAMESPACE))" in out.stderr
    )
    assert "(and" not in out.stderr  # $(POD_NAMESPACE) in args is Kubernetes' own expansion


def test_configmap_binary_data_is_decoded_too():
    blob = base64.b64encode(b"http://api.kubeflow.svc:8080").decode()
    out = run_items(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b, namespace: team}}\nbinaryData: {{url: {blob}}}\n"
    )
    assert out.exit_code == 0
    url = output_obj(out, "ConfigMap", "b")["binaryData"]["url"]
    assert base64.b64decode(url) == b"http://api.ml-platform.svc:8080"


@pytest.mark.parametrize(
    "raw, found",
    [
        (
            "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: a\n    namespace: kubeflow\n  spec: {}\n",
            "kubeflow",
        ),
        ("- kind: Service\n  metadata:\n    name: a\n    namespace: 'kubeflow'\n", "kubeflow"),
        ("- kind: RoleBinding\n  metadata:\n    name: a\n  subjects:\n  - name: b\n    namespace: kubeflow\n", None),
        ("- kind: Service\n  metadata: {name: a, namespace: kubeflow}\n", None),
    ],
)
def test_the_metadata_namespace_line_is_found_only_where_it_is(raw, found):
    """The one-line edit a move makes without parsing: only metadata's own namespace line."""
    from kfkrm.domain.namespace_refs import metadata_namespace_value

    span = metadata_namespace_value(raw, "kubeflow")
    assert (raw[span[0] : span[1]] if span else None) == found
