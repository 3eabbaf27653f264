"""`kfkrm footprint` and the EnterprisePolicy footprint rule: what a render does beyond Kubeflow's namespaces.

The counts per class on the three embedded upstream renders are checked against a second,
simpler scan written here with plain PyYAML (not domain/footprint.py), and the numbers the
issue measured by hand (v1.10: 27 webhooks in 17 configurations with failurePolicy Fail and no
namespaceSelector; 9 ClusterRoles aggregated into the cluster's roles, 14 on v1.3.0)."""

from __future__ import annotations

import json
from functools import lru_cache

import pytest
import yaml

from helpers import EMBEDDED_VERSIONS, rendered_path, rendered_text, run_cli, yaml_docs
from kfkrm.cli import footprint as cli
from kfkrm.domain import footprint as fp
from kfkrm.fns import enterprise_policy
from kfkrm.runtime.config import parse_config
from kfkrm.runtime.resourcelist import read_input

VERSIONS = ("v1.3.0", "v1.7.0", "v1.10")
ISTIO_KINDS = {
    "Sidecar",
    "PeerAuthentication",
    "AuthorizationPolicy",
    "RequestAuthentication",
    "EnvoyFilter",
    "Telemetry",
    "WasmPlugin",
    "ProxyConfig",
}
BROAD = {"system:authenticated", "system:unauthenticated", "system:serviceaccounts"}
GATEWAY_PODS = (
    {"app": "istio-ingressgateway", "istio": "ingressgateway"},
    {"app": "cluster-local-gateway", "istio": "cluster-local-gateway"},
)


@lru_cache(maxsize=None)
def docs(version):
    return yaml_docs(rendered_text(version))


@lru_cache(maxsize=None)
def tool(version):
    return cli.findings(rendered_text(version))


def _matches(selector, labels):
    """A LabelSelector against a namespace's labels (the test's own evaluator)."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        have, op, values = e["key"] in labels, e["operator"], e.get("values") or []
        ok = {
            "In": have and labels.get(e["key"]) in values,
            "NotIn": not have or labels.get(e["key"]) not in values,
            "Exists": have,
            "DoesNotExist": not have,
        }[op]
        if not ok:
            return False
    return True


def independent_counts(version):
    """Counts per class, computed from plain dicts."""
    objs = docs(version)
    namespaces = {d["metadata"]["name"] for d in objs if d["kind"] == "Namespace"}
    cluster_kinds = {
        d["spec"]["names"]["kind"]
        for d in objs
        if d["kind"] == "CustomResourceDefinition" and d["spec"].get("scope") == "Cluster"
    }
    builtin_cluster = {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "PriorityClass",
        "StorageClass",
    }
    n = {}

    def add(cls):
        n[cls] = n.get(cls, 0) + 1

    for d in objs:
        kind, meta = d["kind"], d["metadata"]
        labels, ns = meta.get("labels") or {}, meta.get("namespace")
        if kind == "CustomResourceDefinition":
            add("crd")
        elif kind == "ClusterRole":
            agg = [
                k
                for k, v in labels.items()
                if k.startswith("rbac.authorization.k8s.io/aggregate-to-") and str(v) == "true"
            ]
            add("aggregated-clusterrole" if agg else "clusterrole")
        elif kind in ("ClusterRoleBinding", "RoleBinding"):
            subjects = d.get("subjects") or []
            broad = [
                s
                for s in subjects
                if s.get("kind") == "Group"
                and (
                    s["name"] in BROAD
                    or s["name"].startswith("system:serviceaccounts:")
                    and s["name"].split(":")[2] not in namespaces
                )
            ]
            if broad:
                add("broad-binding")
            elif kind == "ClusterRoleBinding":
                add("clusterrolebinding")
            elif ns not in namespaces:
                add("foreign-namespace")
        elif kind == "PriorityClass" and d.get("globalDefault") is True:
            add("default-priorityclass")
        elif kind == "APIService":
            add("apiservice")
        elif kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for hook in d.get("webhooks") or []:
                sel = hook.get("namespaceSelector")
                if not sel or _matches(sel, {}) or _matches(sel, {"istio-injection": "enabled"}):
                    add("webhook")
        elif kind in ISTIO_KINDS and "istio.io" in d["apiVersion"]:
            spec = d.get("spec") or {}
            sel = (spec.get("selector") or {}).get("matchLabels") or (spec.get("workloadSelector") or {}).get("labels")
            login = (
                kind == "RequestAuthentication"
                or kind == "AuthorizationPolicy"
                and spec.get("action") in ("CUSTOM", "DENY")
                or kind == "EnvoyFilter"
                and "ext_authz" in yaml.safe_dump(spec)
            )
            if ns == "istio-system" and not sel:
                add("mesh-wide-istio")
            elif sel and login and any(all(pod.get(k) == v for k, v in sel.items()) for pod in GATEWAY_PODS):
                add("gateway-login")
            elif ns not in namespaces:
                add("foreign-namespace")
        elif kind == "Namespace":
            pass
        elif kind in builtin_cluster or kind in cluster_kinds:
            add("cluster-scoped")
        elif ns not in namespaces:
            add("foreign-namespace")
    return n


@pytest.mark.parametrize("version", VERSIONS)
def test_counts_per_class_agree_with_an_independent_scan(version):
    assert version in EMBEDDED_VERSIONS
    tool_counts = {}
    for f in tool(version):
        tool_counts[f.cls] = tool_counts.get(f.cls, 0) + 1
    assert tool_counts == independent_counts(version)


@pytest.mark.parametrize(
    ("version", "fail_no_selector", "configurations", "aggregated"), [("v1.10", 27, 17, 9), ("v1.3.0", 13, 9, 14)]
)
def test_the_numbers_the_issue_measured(version, fail_no_selector, configurations, aggregated):
    hooks = [f for f in tool(version) if f.cls == "webhook"]
    strict = [f for f in hooks if f.details["failurePolicy"] == "Fail" and not f.details["namespaceSelector"]]
    assert len(strict) == fail_no_selector
    assert len({f.item.name for f in strict}) == configurations
    assert len([f for f in tool(version) if f.cls == "aggregated-clusterrole"]) == aggregated


def test_v1_10_details_spark_operator_and_login_objects():
    by_part = {f.details.get("webhook"): f for f in tool("v1.10") if f.cls == "webhook"}
    spark = by_part["mutate--v1-pod.sparkoperator.k8s.io"]
    assert spark.details["objectSelector"] == {
        "matchLabels": {"sparkoperator.k8s.io/launched-by-spark-operator": "true"}
    }
    assert "pods" in spark.reason and "failurePolicy Fail" in spark.reason
    login = sorted(f.item.name for f in tool("v1.10") if f.cls == "gateway-login")
    assert login == ["dex-jwt", "istio-ingressgateway-oauth2-proxy", "istio-ingressgateway-require-jwt"]
    assert [f.item.name for f in tool("v1.7.0") if f.cls == "gateway-login"] == ["authn-filter"]


def _stream(*docs):
    return "---\n".join(yaml.safe_dump(d) for d in docs)


NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}}


def test_small_cases_each_class():
    text = _stream(
        NS,
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "p"},
            "value": 5,
            "globalDefault": True,
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "s", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "x",
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "b", "namespace": "kubeflow"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "name": "system:authenticated"}],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1beta1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "old"},
            "webhooks": [{"name": "a.x", "rules": [{"operations": ["CREATE"], "resources": ["pods"]}]}],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "scoped"},
            "webhooks": [
                {
                    "name": "in.x",
                    "namespaceSelector": {"matchLabels": {"app.kubernetes.io/part-of": "kubeflow-profile"}},
                },
                {
                    "name": "out.x",
                    "namespaceSelector": {"matchExpressions": [{"key": "control-plane", "operator": "DoesNotExist"}]},
                },
            ],
        },
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "Sidecar",
            "metadata": {"name": "default", "namespace": "istio-system"},
            "spec": {"egress": [{"hosts": ["./*"]}]},
        },
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "EnvoyFilter",
            "metadata": {"name": "authn", "namespace": "gw"},
            "spec": {
                "workloadSelector": {"labels": {"istio": "acme-gateway"}},
                "configPatches": [{"patch": {"value": {"name": "envoy.filters.http.ext_authz"}}}],
            },
        },
    )
    found = {(f.cls, f.item.name): f for f in cli.findings(text)}
    assert set(found) == {
        ("default-priorityclass", "p"),
        ("default-storageclass", "s"),
        ("broad-binding", "b"),
        ("webhook", "old"),
        ("webhook", "scoped"),
        ("mesh-wide-istio", "default"),
        ("gateway-login", "authn"),
    }
    assert found[("webhook", "old")].details["failurePolicy"] == "Ignore"  # v1beta1's default
    assert found[("webhook", "scoped")].details["webhook"] == "out.x"
    assert found[("broad-binding", "b")].details["broadSubjects"] == ["Group system:authenticated"]


def test_cli_json_and_baseline():
    """One run end to end (v1.10 against v1.7.0's baseline); the layout and the selection checked
    against the in-process findings."""
    v110, v17 = str(rendered_path("v1.10")), str(rendered_path("v1.7.0"))
    new = run_cli(["footprint", v110, "--baseline", v17, "--json"], "")
    assert new.returncode == 0, new.stderr
    data = json.loads(new.stdout)
    assert data["version"] == 1 and data["newSinceBaseline"] is True
    assert sum(data["counts"].values()) == len(data["findings"])
    assert set(data["findings"][0]) == {
        "class",
        "apiVersion",
        "kind",
        "namespace",
        "name",
        "field",
        "reason",
        "details",
    }
    names = {(f["class"], f["name"]) for f in data["findings"]}
    old_names = {(f.cls, f.item.kind, f.item.name) for f in tool("v1.7.0")}
    # an object with no finding of the same class in v1.7.0 is new, whatever else changed
    assert {(f.cls, f.item.name) for f in tool("v1.10") if (f.cls, f.item.kind, f.item.name) not in old_names} <= names
    assert ("webhook", "spark-operator-webhook") in names and ("crd", "sparkapplications.sparkoperator.k8s.io") in names
    assert ("crd", "notebooks.kubeflow.org") not in names  # in both releases
    assert fp.new_findings(tool("v1.10"), cli.findings(rendered_text("v1.10"))) == []  # a second parse: same keys
    bad = run_cli(["footprint", "/nonexistent.yaml"], "")
    assert bad.returncode == 1 and bad.stderr.startswith("kfkrm footprint: error: /nonexistent.yaml") and not bad.stdout


def test_policy_footprint_rule_fails_on_anything_not_approved():
    """Approve v1.7.0's footprint object by object; v1.10 then fails on exactly the objects not approved."""
    terms = {(f.item.kind, f.item.name) for f in tool("v1.7.0")}
    raw = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "EnterprisePolicy",
        "metadata": {"name": "approved"},
        "footprint": {"allow": [{"kind": k, "name": n} for k, n in sorted(terms)]},
    }
    config = parse_config(enterprise_policy.Config, raw, "enterprise-policy")
    ok = enterprise_policy.check(read_input(rendered_text("v1.7.0")), config)
    assert ok.failures == [] and ok.checked["footprint"] == len(tool("v1.7.0"))
    report = enterprise_policy.check(read_input(rendered_text("v1.10")), config)
    flagged = {(v.item.kind, v.item.name) for v in report.failures}
    assert flagged == {(f.item.kind, f.item.name) for f in tool("v1.10")} - terms
    assert {v.rule for v in report.failures} == {"footprint"}
    assert all(v.message.endswith("not in footprint.allow") for v in report.failures)


def test_docs_page_shows_v1_10_table():
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "footprint.md").read_text()
    assert cli.table(tool("v1.10")).strip() in page
