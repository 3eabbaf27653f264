"""`kfkrm upgrade-plan`: v1.3.0 -> v1.7.0 and v1.7.0 -> v1.10 under one profile that works on every release.

The oracles are the test's own: a small diff of the adapted outputs read with PyYAML (workload
selectors, CRD served and storage versions), a hand transcription of the migration guide's
removals for the API versions these releases use, and `kfkrm images` run on the two adapted
outputs. Each release is adapted once (cached) and the plans are computed from those outputs."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from helpers import rendered_items_text, rendered_path, resource_list, run_cli, run_function, yaml_load
from kfkrm.cli import upgrade_plan
from kfkrm.domain import kubernetes_apis
from kfkrm.fns import enterprise_profile
from kfkrm.runtime import yamlio
from kfkrm.runtime.config import parse_config
from kfkrm.runtime.resourcelist import read_input

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

PROFILE_TEXT = re.search(
    r'PROFILE = """(.*?)"""', (Path(__file__).parent / "test_platform_acceptance.py").read_text(), re.S
).group(1)
PAIRS = (("v1.3.0", "v1.7.0"), ("v1.7.0", "v1.10"))
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def profile_text():
    return PROFILE_TEXT.replace("validate: true", "validate: false")


@lru_cache(maxsize=None)
def profile():
    return parse_config(enterprise_profile.Config, yamlio.load(profile_text()), "enterprise-profile")


@lru_cache(maxsize=None)
def adapted_text(version):
    outcome = run_function("enterprise-profile", resource_list(rendered_items_text(version), profile_text()))
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.stdout


@lru_cache(maxsize=None)
def adapted_items(version):
    return [i for i in read_input(adapted_text(version)).items if not i.is_local_config]


@lru_cache(maxsize=None)
def adapted_objects(version):
    return [o for o in yaml_load(adapted_text(version))["items"]]


@lru_cache(maxsize=None)
def the_plan(old, new, kubernetes=None):
    minor = kubernetes_apis.parse_minor(kubernetes) if kubernetes else None
    return upgrade_plan.plan(adapted_items(old), adapted_items(new), profile(), minor)


def _key(o):
    group = o["apiVersion"].rpartition("/")[0]
    group = "apps" if group == "extensions" and o["kind"] in WORKLOADS else group
    return (group, o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"])


def own_selector_changes(old, new):
    before = {_key(o): o for o in adapted_objects(old) if o["kind"] in WORKLOADS}
    changed = set()
    for o in adapted_objects(new):
        if o["kind"] not in WORKLOADS or _key(o) not in before:
            continue
        p = before[_key(o)]
        sel_p = p["spec"].get("selector") or {"matchLabels": p["spec"]["template"]["metadata"]["labels"]}
        if sel_p != o["spec"].get("selector"):
            changed.add((o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]))
    return changed


def _versions(crd):
    spec = crd["spec"]
    if spec.get("versions"):
        served = {v["name"] for v in spec["versions"] if v.get("served")}
        storage = [v["name"] for v in spec["versions"] if v.get("storage")][0]
    else:
        served, storage = {spec["version"]}, spec["version"]
    return served, storage


def own_crd_changes(old, new):
    before = {
        o["metadata"]["name"]: _versions(o) for o in adapted_objects(old) if o["kind"] == "CustomResourceDefinition"
    }
    out = set()
    for o in adapted_objects(new):
        name = o["metadata"]["name"]
        if o["kind"] != "CustomResourceDefinition" or name not in before:
            continue
        (served_o, storage_o), (served_n, storage_n) = before[name], _versions(o)
        out |= {(name, "served-removed", v) for v in served_o - served_n}
        out |= {(name, "served-added", v) for v in served_n - served_o}
        if storage_o != storage_n:
            out.add((name, "storage-changed", storage_n))
    return out


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_every_changed_workload_selector_is_a_blocker(old, new):
    plan = the_plan(old, new)
    found = {(b["kind"], b["namespace"], b["name"]) for b in plan["blockers"] if b["field"] == "spec.selector"}
    assert found == own_selector_changes(old, new)
    assert all("--cascade=orphan" in b["remedy"] for b in plan["blockers"] if b["field"] == "spec.selector")


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_every_crd_version_change_is_listed(old, new):
    plan = the_plan(old, new)
    found = {
        (c["name"], c["change"], c["crdVersion"])
        for c in plan["crds"]
        if c["change"] in ("served-removed", "served-added", "storage-changed")
    }
    expected = own_crd_changes(old, new)
    assert found == expected and expected  # both pairs change CRD versions
    # a dropped storage version is a blocker for kubectl apply
    dropped = {c["name"] for c in plan["crds"] if c["change"] == "stored-version-dropped"}
    assert dropped <= {b["name"] for b in plan["blockers"] if b["field"] == "spec.versions"}


def test_v1_3_to_v1_7_selectors_known_by_hand():
    """Katib's Deployments changed their selector to katib.kubeflow.org/component in v1.5 (seen in the renders)."""
    found = {b["name"] for b in the_plan("v1.3.0", "v1.7.0")["blockers"] if b["field"] == "spec.selector"}
    assert {"katib-controller", "katib-db-manager", "katib-ui"} <= found


# The migration guide's removals for the API versions v1.3.0 and v1.7.0 use, transcribed by hand.
REMOVED_BY_1_25 = {
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io/v1beta1", "Role"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"),
    ("policy/v1beta1", "PodDisruptionBudget"),
    ("batch/v1beta1", "CronJob"),
}
REMOVED_BY_1_31 = REMOVED_BY_1_25 | {("autoscaling/v2beta2", "HorizontalPodAutoscaler")}


@pytest.mark.parametrize(
    ("old", "new", "version", "removed", "side"),
    [
        ("v1.3.0", "v1.7.0", "1.25", REMOVED_BY_1_25, "old"),
        ("v1.7.0", "v1.10", "1.31", REMOVED_BY_1_31, "old"),
        ("v1.3.0", "v1.7.0", "1.31", REMOVED_BY_1_31, "new"),
    ],
)
def test_api_removals_list_every_removed_version_the_release_uses(old, new, version, removed, side):
    release = old if side == "old" else new
    used = {
        (o["apiVersion"], o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"])
        for o in adapted_objects(release)
        if (o["apiVersion"], o["kind"]) in removed
    }
    assert used  # each release uses some
    listed = the_plan(old, new, version)["apiRemovals"][side]
    assert {(r["apiVersion"], r["kind"], r["namespace"], r["name"]) for r in listed} == used


def test_removal_table_boundaries():
    r = kubernetes_apis.removal
    assert r("autoscaling/v2beta2", "HorizontalPodAutoscaler", (1, 25)) is None
    assert r("autoscaling/v2beta2", "HorizontalPodAutoscaler", (1, 26)).use == "autoscaling/v2"
    assert r("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", (1, 21)) is None
    assert r("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", (1, 22)) is not None
    assert r("extensions/v1beta1", "Deployment", (1, 16)) is not None
    assert r("extensions/v1beta1", "Ingress", (1, 21)) is None
    assert r("storage.k8s.io/v1beta1", "CSIStorageCapacity", (1, 26)) is None
    assert r("storage.k8s.io/v1beta1", "CSIStorageCapacity", (1, 27)) is not None
    assert r("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", (1, 29)) is not None
    assert r("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", (1, 31)) is None
    assert r("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", (1, 32)) is not None
    assert r("apps/v1", "Deployment", (1, 40)) is None
    assert {m.removed for m in kubernetes_apis.REMOVALS} == {
        (1, 16),
        (1, 22),
        (1, 25),
        (1, 26),
        (1, 27),
        (1, 29),
        (1, 32),
    }


def test_policy_kubernetes_version_rule():
    from kfkrm.fns import enterprise_policy

    raw = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "EnterprisePolicy",
        "metadata": {"name": "k"},
        "kubernetesVersion": "1.25",
    }
    config = parse_config(enterprise_policy.Config, raw, "enterprise-policy")
    report = enterprise_policy.check(read_input(adapted_text("v1.3.0")), config)
    flagged = {(v.item.api_version, v.item.kind, v.item.name) for v in report.failures}
    assert flagged == {
        (o["apiVersion"], o["kind"], o["metadata"]["name"])
        for o in adapted_objects("v1.3.0")
        if (o["apiVersion"], o["kind"]) in REMOVED_BY_1_25
    }
    assert {v.field for v in report.failures} == {"apiVersion"}


def test_cli_v1_7_to_v1_10_images_to_mirror_are_the_difference_of_kfkrm_images(tmp_path):
    """End to end once: the command adapts both renders itself; its images to mirror are exactly
    `kfkrm images` of the new adapted output minus that of the old one."""
    config = tmp_path / "profile.yaml"
    config.write_text(profile_text())
    out = run_cli(
        ["upgrade-plan", str(rendered_path("v1.7.0")), str(rendered_path("v1.10")), "--config", str(config), "--json"],
        "",
    )
    assert out.returncode == 1, out.stderr  # v1.10 drops knative's DomainMapping v1alpha1 storage version
    plan = json.loads(out.stdout)
    images = {}
    for version in ("v1.7.0", "v1.10"):
        path = tmp_path / f"{version}.yaml"
        path.write_text(adapted_text(version))
        listed = run_cli(["images", str(path), "--format", "json"], "")
        images[version] = {entry["image"] for entry in json.loads(listed.stdout)}
    assert plan["imagesToMirror"] == sorted(images["v1.10"] - images["v1.7.0"])
    assert plan["imagesToMirror"]
    assert plan == json.loads(json.dumps(the_plan("v1.7.0", "v1.10")))  # the command computes what plan() does
    bad = run_cli(["upgrade-plan", "/nonexistent", str(rendered_path("v1.10")), "--config", str(config)], "")
    assert bad.returncode == 2 and bad.stderr.startswith("kfkrm upgrade-plan: error: OLD /nonexistent")


def _item(doc):
    return read_input(yaml.safe_dump(doc)).items[0]


def test_small_blockers_each_with_a_remedy():
    from kfkrm.domain import upgrade

    def pair(kind, api, old_spec, new_spec, top=None):
        o = {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "ns"}, **(top or {})}
        n = json.loads(json.dumps(o))
        o.update(old_spec)
        n.update(new_spec)
        return upgrade.blockers(_item(o), _item(n))

    pvc = pair(
        "PersistentVolumeClaim",
        "v1",
        {"spec": {"resources": {"requests": {"storage": "10Gi"}}}},
        {"spec": {"resources": {"requests": {"storage": "20Gi"}}}},
    )
    assert pvc == []  # an increase is allowed
    shrink = pair(
        "PersistentVolumeClaim",
        "v1",
        {"spec": {"resources": {"requests": {"storage": "10Gi"}}}},
        {"spec": {"resources": {"requests": {"storage": "5Gi"}}}},
    )
    assert [b.field for b in shrink] == ["spec.resources.requests.storage"]
    sts = pair(
        "StatefulSet",
        "apps/v1",
        {"spec": {"serviceName": "a", "replicas": 1}},
        {"spec": {"serviceName": "b", "replicas": 3}},
    )
    assert [b.field for b in sts] == ["spec.serviceName"]
    cm = pair("ConfigMap", "v1", {"immutable": True, "data": {"a": "1"}}, {"immutable": True, "data": {"a": "2"}})
    assert [b.field for b in cm] == ["data"]
    svc = pair("Service", "v1", {"spec": {"clusterIP": "None"}}, {"spec": {}})
    assert [b.field for b in svc] == ["spec.clusterIP"]
    rb = pair(
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        {"roleRef": {"kind": "Role", "name": "a"}},
        {"roleRef": {"kind": "Role", "name": "b"}},
    )
    assert [b.field for b in rb] == ["roleRef"]
    job = pair(
        "Job",
        "batch/v1",
        {"spec": {"template": {"spec": {"restartPolicy": "Never"}}}},
        {"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}},
    )
    assert [b.field for b in job] == ["spec.template"]
    assert all(b.remedy for b in pvc + shrink + sts + cm + svc + rb + job)


@pytest.mark.parametrize(("value", "message"), [(1.3, "quote the version"), ("one.two", "not a Kubernetes version")])
def test_policy_kubernetes_version_config_errors(value, message):
    from kfkrm.fns import enterprise_policy
    from kfkrm.runtime.config import ConfigError

    raw = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "EnterprisePolicy",
        "metadata": {"name": "k"},
        "kubernetesVersion": value,
    }
    with pytest.raises(ConfigError, match=message):
        parse_config(enterprise_policy.Config, raw, "enterprise-policy")


def test_security_delta_v1_7_to_v1_10():
    """v1.10's login policies land on the organisation's gateway (labels istio: acme-gw, from the
    profile's gatewayWorkload): new footprint; the Spark operator's pod webhook is new too."""
    sec = the_plan("v1.7.0", "v1.10")["security"]
    login = {(f["namespace"], f["name"]) for f in sec["newFootprint"] if f["class"] == "gateway-login"}
    assert login == {
        ("istio-ingress", "istio-ingressgateway-oauth2-proxy"),
        ("istio-ingress", "istio-ingressgateway-require-jwt"),
        ("istio-ingress", "dex-jwt"),
    }
    hooks = {f["details"]["webhook"] for f in sec["newFootprint"] if f["class"] == "webhook"}
    assert "mutate--v1-pod.sparkoperator.k8s.io" in hooks
    widened = {w["name"]: w["granted"] for w in sec["rbacWidened"]}
    assert "pipelines.kubeflow.org/runs: create" in widened["ml-pipeline-scheduledworkflow-role"]
