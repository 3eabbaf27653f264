"""`kfkrm validate`: the CI step after `kustomize build`. On the raw upstream output it must
list what an organisation expects to be told (public images, wildcard hosts, gateways,
bundled Argo and Istio, the auth service's place), with counts that an independent scanner
in this file derives from the rendered manifests."""

from __future__ import annotations

import json
from functools import lru_cache

import pytest

from helpers import REPO, items_block, rendered_path, rendered_text, resource_list, run_cli, yaml_docs

POLICY = REPO / "fnconfigs" / "enterprise-policy.yaml"
CORP = "registry.corp.example.com/"

# -- an independent scanner (PyYAML's C loader, own path table, own injection rule) ----------

TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}


@lru_cache(maxsize=None)
def objects(version: str) -> list[dict]:
    return yaml_docs(rendered_text(version))


def ref(obj) -> tuple:
    md = obj["metadata"]
    return obj["kind"], f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"]


def templates(version):
    for obj in objects(version):
        if obj["kind"] in TEMPLATE_PATHS and obj["apiVersion"] in ("apps/v1", "batch/v1", "v1"):
            node = obj
            for key in TEMPLATE_PATHS[obj["kind"]]:
                node = node[key]
            yield obj, ".".join(TEMPLATE_PATHS[obj["kind"]]), node


def public_container_images(version) -> set:
    found = set()
    for obj, path, tpl in templates(version):
        for field in ("initContainers", "containers"):
            for i, c in enumerate(tpl["spec"].get(field) or []):
                if not c["image"].startswith(CORP):
                    found.add(ref(obj) + (f"{path}.spec.{field}[{i}].image",))
    return found


def uninjected_kubeflow_templates(version) -> set:
    ns_labels = next(
        o["metadata"].get("labels") or {}
        for o in objects(version)
        if o["kind"] == "Namespace" and o["metadata"]["name"] == "kubeflow"
    )
    found = set()
    for obj, _, tpl in templates(version):
        if obj["metadata"].get("namespace") != "kubeflow":
            continue
        md = tpl.get("metadata") or {}
        label = (md.get("labels") or {}).get("sidecar.istio.io/inject")
        annotation = (md.get("annotations") or {}).get("sidecar.istio.io/inject")
        decided = label if label is not None else annotation
        on = decided == "true" if decided is not None else ns_labels.get("istio-injection") == "enabled"
        if not on:
            found.add(ref(obj))
    return found


def virtualservice_counts(version) -> tuple[int, int]:
    """(gateway references other than mesh, wildcard hosts): none names istio-system/corp-gateway upstream."""
    gateways = hosts = 0
    for obj in objects(version):
        if obj["kind"] != "VirtualService":
            continue
        spec = obj["spec"]
        lists = [spec.get("gateways") or []] + [
            m.get("gateways") or [] for h in spec.get("http") or [] for m in h.get("match") or []
        ]
        gateways += sum(1 for refs in lists for g in refs if g != "mesh")
        hosts += spec.get("hosts", []).count("*")
    return gateways, hosts


# By hand from the manifests: the auth service's own objects in its namespace, and the
# places naming its address (v1.3.0's authn-filter EnvoyFilter; v1.10's mesh config
# extensionProviders and its own VirtualService's destination).
AUTH = {
    "v1.3.0": 5 + 2,  # StatefulSet, Service, PVC, ConfigMap, Secret; uri and cluster of authn-filter
    "v1.10": 8
    + 2,  # Deployment, Service, ServiceAccount, Secret, 3 ConfigMaps, VirtualService; istio mesh config, VS host
}
# v1.10 on Istio 1.6: oauth2-proxy's CUSTOM AuthorizationPolicy (action, provider) and dex-jwt's outputClaimToHeaders.
ISTIO_1_6 = {"v1.3.0": 0, "v1.10": 3}
EMBEDDED_PLACES = [
    ("ConfigMap", "kubeflow/inferenceservice-config"),
    ("ConfigMap", "istio-system/istio-sidecar-injector"),
    ("ConfigMap", "knative-serving/config-deployment"),
]


def validate(*args, stdin=""):
    return run_cli(["validate", *args], stdin)


def count_table(stdout: str) -> dict[str, int]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "violations in" in line)
    return {line.split()[0]: int(line.split()[1]) for line in lines[start + 1 :] if line.startswith("  ")}


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
def test_raw_upstream_output_lists_what_an_organisation_expects_with_counts(version):
    path = str(rendered_path(version))
    text = validate(path, "--config", str(POLICY))
    assert text.returncode == 1, text.stderr
    counts = count_table(text.stdout)
    as_json = validate(path, "--config", str(POLICY), "--format", "json")
    report = json.loads(as_json.stdout)
    assert report["counts"] == counts
    by_rule: dict[str, set] = {}
    for v in report["violations"]:
        r = v["resource"]
        name = f"{r['namespace']}/{r['name']}" if r and r["namespace"] else (r or {}).get("name")
        by_rule.setdefault(v["rule"], set()).add(((r or {}).get("kind"), name, v["field"]))

    containers = public_container_images(version)
    registry_in_containers = {v for v in by_rule["registry"] if v[0] in TEMPLATE_PATHS and v[2].endswith(".image")}
    assert containers <= by_rule["registry"]
    assert len(registry_in_containers) == len(containers)
    embedded = {v[:2] for v in by_rule["registry"] - containers}
    assert set(EMBEDDED_PLACES) <= embedded
    assert counts["registry"] > len(containers)

    uninjected = uninjected_kubeflow_templates(version)
    assert ("Deployment", "kubeflow/katib-mysql") in uninjected  # exempted by the policy
    assert counts["mesh"] == len(uninjected) - 1
    assert {v[:2] for v in by_rule["mesh"]} == uninjected - {("Deployment", "kubeflow/katib-mysql")}
    assert [(v["rule"], v["resource"]["name"]) for v in report["exempted"]] == [("mesh", "katib-mysql")]

    gateways, hosts = virtualservice_counts(version)
    assert (counts["gateway"], counts["host"]) == (gateways, hosts)
    assert by_rule["forbid"] == {
        ("Deployment", "kubeflow/workflow-controller", None),
        ("Deployment", "istio-system/istiod", None),
    }
    assert counts["auth"] == AUTH[version]
    assert counts.get("istio", 0) == ISTIO_1_6[version]
    assert f"platform-rules: {sum(counts.values())} violations in {len(objects(version))} resources" in text.stdout


def test_table_has_a_row_per_violation_with_rule_resource_field_message(tmp_path):
    stream = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kubeflow}
spec:
  template:
    spec:
      containers: [{name: c, image: "nginx:1.25"}]
---
apiVersion: v1
kind: Namespace
metadata: {name: kubeflow, labels: {istio-injection: enabled}}
"""
    out = validate("-", "--config", str(POLICY), stdin=stream)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["RULE", "RESOURCE", "FIELD", "MESSAGE"]
    row = lines[1].split()
    assert row[:4] == ["registry", "Deployment", "kubeflow/web", "spec.template.spec.containers[0].image"]
    assert "nginx:1.25" in lines[1]
    assert count_table(out.stdout) == {"registry": 1, "auth": 1}  # and no auth service in this input
    assert "exemptions[0] exempts nothing" in out.stderr


def test_a_clean_stream_and_a_resourcelist_both_pass_with_exit_0(tmp_path):
    stream = """apiVersion: v1
kind: Namespace
metadata: {name: kubeflow, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kubeflow}
spec:
  template:
    spec:
      containers: [{name: c, image: "registry.corp.example.com/nginx:1.25"}]
"""
    config = tmp_path / "policy.yaml"
    config.write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\n"
        "allowedRegistries: [registry.corp.example.com]\nmeshNamespaces: [kubeflow]\n"
    )
    out = validate("--config", str(config), stdin=stream)
    assert (out.returncode, out.stdout, out.stderr) == (0, "p: no violations in 2 resources\n", "")
    rl_file = tmp_path / "rl.yaml"
    rl_file.write_text(resource_list(items_block(stream)))
    out = validate(str(rl_file), "--config", str(config))
    assert (out.returncode, out.stdout) == (0, "p: no violations in 2 resources\n")


@pytest.mark.parametrize(
    "args, stdin, expected",
    [
        ([], "", "the following arguments are required: --config"),
        (["/nonexistent.yaml", "--config", str(POLICY)], "", "No such file or directory"),
        (["--config", "/nonexistent-policy.yaml"], "kind: Namespace\n", "--config /nonexistent-policy.yaml"),
        (
            ["--config", str(POLICY)],
            "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: a, namespace: kubeflow}\nspec: {template: [x\n",
            "item Deployment kubeflow/a is not valid YAML",
        ),
        (["--config", str(POLICY)], "just: a mapping\n", "not a ResourceList"),
        (["--config", str(POLICY), "--format", "xml"], "", "invalid choice: 'xml'"),
    ],
)
def test_usage_and_input_errors_exit_2_with_one_message(args, stdin, expected):
    out = validate(*args, stdin=stdin)
    assert out.returncode == 2, out
    assert expected in out.stderr, out.stderr
    assert out.stdout == ""


def test_an_invalid_policy_exits_2_naming_the_field(tmp_path):
    config = tmp_path / "policy.yaml"
    config.write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\nmeshNamespaces: [kubeflow]\n"
        "exemptions:\n- {name: katib-mysql, rule: mesh}\n"
    )
    out = validate("--config", str(config), stdin="kind: Namespace\napiVersion: v1\nmetadata: {name: a}\n")
    assert out.returncode == 2
    assert out.stderr == (
        "kfkrm validate: error: functionConfig EnterprisePolicy: exemptions[0].reason: required field is missing\n"
    )
