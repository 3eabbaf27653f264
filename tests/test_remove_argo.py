"""RemoveArgo on the real Kubeflow manifests and on small hand-made cases.

The expected removals are hand-written from reading the rendered manifests and the Argo
install that KFP vendors (apps|applications/pipeline/upstream/third-party/argo): they are
not derived from the function.
"""

from __future__ import annotations

import pytest

from helpers import (
    items_block,
    key,
    load_output,
    output_item_texts,
    rendered_items_text,
    resource_list,
    run_function,
)
from kfkrm.runtime.resourcelist import ResourceList

CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: RemoveArgo
metadata:
  name: external-argo
"""

_CRDS_V13 = ["clusterworkflowtemplates", "cronworkflows", "workfloweventbindings", "workflows", "workflowtemplates"]
_CRDS_V110 = _CRDS_V13 + ["workflowartifactgctasks", "workflowtaskresults", "workflowtasksets"]
_COMMON = [
    ("ServiceAccount", "kubeflow", "argo"),
    ("Role", "kubeflow", "argo-role"),
    ("RoleBinding", "kubeflow", "argo-binding"),
    ("ClusterRoleBinding", "", "argo-binding"),
    ("ClusterRole", "", "argo-cluster-role"),
    ("ClusterRole", "", "argo-aggregate-to-admin"),
    ("ClusterRole", "", "argo-aggregate-to-edit"),
    ("ClusterRole", "", "argo-aggregate-to-view"),
    ("ConfigMap", "kubeflow", "workflow-controller-configmap"),
    ("Deployment", "kubeflow", "workflow-controller"),
]
# v1.3.0 (KFP 1.5, Argo v2.12.9): 5 CRDs + the common 10 + the metrics Service = 16.
# v1.10 (KFP 2.5, Argo v3.5.14): 8 CRDs + the common 10 + the PriorityClass = 19; Argo 3.5's
# base no longer ships the workflow-controller-metrics Service.
EXPECTED_REMOVED = {
    "v1.3.0": sorted(
        [("CustomResourceDefinition", "", f"{p}.argoproj.io") for p in _CRDS_V13]
        + _COMMON
        + [("Service", "kubeflow", "workflow-controller-metrics")]
    ),
    "v1.10": sorted(
        [("CustomResourceDefinition", "", f"{p}.argoproj.io") for p in _CRDS_V110]
        + _COMMON
        + [("PriorityClass", "", "workflow-controller")]
    ),
}
# KFP objects that must stay (read from the manifests): among them every KFP role that grants
# access to argoproj.io workflows.
MUST_STAY = {
    "v1.3.0": [
        ("Deployment", "kubeflow", "ml-pipeline-scheduledworkflow"),
        ("Deployment", "kubeflow", "ml-pipeline-persistenceagent"),
        ("CustomResourceDefinition", "", "scheduledworkflows.kubeflow.org"),
        ("Role", "kubeflow", "pipeline-runner"),
        ("ClusterRole", "", "ml-pipeline-persistenceagent-role"),
        ("ClusterRole", "", "ml-pipeline-scheduledworkflow-role"),
        ("ClusterRole", "", "ml-pipeline"),
        ("Secret", "kubeflow", "mlpipeline-minio-artifact"),
    ],
    "v1.10": [
        ("Deployment", "kubeflow", "ml-pipeline-scheduledworkflow"),
        ("Deployment", "kubeflow", "ml-pipeline-persistenceagent"),
        ("CustomResourceDefinition", "", "scheduledworkflows.kubeflow.org"),
        ("Role", "kubeflow", "pipeline-runner"),
        ("ClusterRole", "", "ml-pipeline-persistenceagent-role"),
        ("ClusterRole", "", "ml-pipeline-scheduledworkflow-role"),
        ("ClusterRole", "", "aggregate-to-kubeflow-pipelines-edit"),
        ("Secret", "kubeflow", "mlpipeline-minio-artifact"),
    ],
}


def _kns(obj: dict) -> tuple:
    _, kind, ns, name = key(obj)
    return (kind, ns or "", name)


def _input_items(version: str) -> list:
    return ResourceList.parse(resource_list(rendered_items_text(version), CONFIG)).items


@pytest.fixture(scope="module", params=["v1.3.0", "v1.10"])
def real_run(request):
    version = request.param
    outcome = run_function("remove-argo", resource_list(rendered_items_text(version), CONFIG))
    return version, outcome


def test_removes_exactly_the_bundled_argo(real_run):
    version, outcome = real_run
    assert outcome.exit_code == 0, outcome.stderr
    before = [_kns(i.header) for i in _input_items(version)]
    after = [_kns(o) for o in load_output(outcome.stdout)["items"]]
    removed = sorted(set(before) - set(after))
    assert removed == EXPECTED_REMOVED[version]
    assert len(after) == len(before) - len(EXPECTED_REMOVED[version])
    assert f"removed {len(EXPECTED_REMOVED[version])} objects" in outcome.stderr


def test_every_removed_object_is_reported(real_run):
    version, outcome = real_run
    results = load_output(outcome.stdout)["results"]
    reported = sorted(
        (r["resourceRef"]["kind"], r["resourceRef"].get("namespace", ""), r["resourceRef"]["name"])
        for r in results
        if r["severity"] == "info" and r["message"].startswith("removed")
    )
    assert reported == EXPECTED_REMOVED[version]


def test_kfp_objects_stay(real_run):
    version, outcome = real_run
    after = {_kns(o): o for o in load_output(outcome.stdout)["items"]}
    for wanted in MUST_STAY[version]:
        assert wanted in after, wanted
    # An independent scan: every role granting argoproj.io access that is not on the
    # hand-written list is KFP's and stays.
    expected_gone = set(EXPECTED_REMOVED[version])
    for item in _input_items(version):
        if (
            item.kind in ("Role", "ClusterRole")
            and "argoproj.io" in item.raw
            and _kns(item.header) not in expected_gone
        ):
            assert _kns(item.header) in after, item.ref()


def test_untouched_items_are_byte_identical(real_run):
    version, outcome = real_run
    expected_gone = set(EXPECTED_REMOVED[version])
    kept_inputs = [i.raw for i in _input_items(version) if _kns(i.header) not in expected_gone]
    assert output_item_texts(outcome.stdout) == kept_inputs


def test_warns_what_the_external_argo_must_provide(real_run):
    version, outcome = real_run
    warnings = " | ".join(r["message"] for r in load_output(outcome.stdout)["results"] if r["severity"] == "warning")
    assert "instanceID" in warnings
    assert {"v1.3.0": "v2.12.9", "v1.10": "v3.5.14"}[version] in warnings
    assert {"v1.3.0": "KFP 1.5.0", "v1.10": "KFP 2.5.0"}[version] in warnings
    assert "artifact repository" in warnings
    assert "mlpipeline-minio-artifact" in warnings and "every namespace" in warnings
    if version == "v1.3.0":
        assert "containerRuntimeExecutor docker" in warnings
    assert "4 warnings" in outcome.stderr


def test_second_run_finds_nothing_to_remove_and_changes_nothing(real_run):
    version, outcome = real_run
    again = run_function("remove-argo", outcome.stdout)
    assert again.exit_code == 0, again.stderr
    assert "nothing to remove" in again.stderr
    infos = [r for r in load_output(again.stdout)["results"] if r["message"].startswith("nothing to remove")]
    assert [r["severity"] for r in infos] == ["info"]
    assert output_item_texts(again.stdout) == output_item_texts(outcome.stdout)


def test_keep_crds_keeps_only_the_crds():
    version = "v1.10"
    config = CONFIG + "keepCRDs: true\n"
    outcome = run_function("remove-argo", resource_list(rendered_items_text(version), config))
    assert outcome.exit_code == 0, outcome.stderr
    after = {_kns(o) for o in load_output(outcome.stdout)["items"]}
    for removed in EXPECTED_REMOVED[version]:
        assert (removed in after) == (removed[0] == "CustomResourceDefinition"), removed


# -- small cases ---------------------------------------------------------------------

CONTROLLER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: wfc, namespace: ml}
spec:
  selector: {matchLabels: {app: workflow-controller}}
  template:
    metadata: {labels: {app: workflow-controller}}
    spec:
      serviceAccountName: wf-sa
      containers:
      - name: c
        image: example.com/argoproj/workflow-controller:v3.4.0
        args: [--configmap, wf-config]
""".lstrip()
SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: wf-sa, namespace: ml}\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wf-config, namespace: ml}\ndata: {}\n"
OTHER_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: workflow-controller-configmap, namespace: ml}\ndata: {}\n"


def _binding(name: str, role: str, subjects: str) -> str:
    return (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        f"metadata: {{name: {name}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n"
        f"subjects: {subjects}\n"
    )


def _role(name: str, rules: str, labels: str = "{}") -> str:
    return f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}, labels: {labels}}}\nrules: {rules}\n"


def _run(*docs, config=CONFIG):
    outcome = run_function("remove-argo", resource_list(items_block(*docs), config))
    return outcome, load_output(outcome.stdout)


def _names(doc) -> set:
    return {(o["kind"], o["metadata"]["name"]) for o in doc["items"]}


def test_follows_the_controller_to_its_own_objects_whatever_their_names():
    argo_sa = "[{kind: ServiceAccount, name: wf-sa, namespace: ml}]"
    outcome, doc = _run(
        CONTROLLER,
        SA,
        CM,
        OTHER_CM,
        _binding("wf-bind", "wf-role", argo_sa),
        _role("wf-role", "[{apiGroups: [''], resources: [pods], verbs: [get]}]"),
    )
    assert outcome.exit_code == 0, outcome.stderr
    # the ConfigMap named by --configmap goes; the default-named one is not the controller's
    assert _names(doc) == {("ConfigMap", "workflow-controller-configmap")}
    assert "removed 5 objects" in outcome.stderr


def _warned(doc) -> set:
    return {r["resourceRef"]["name"] for r in doc["results"] if r["severity"] == "warning" and "resourceRef" in r}


def test_ambiguous_objects_are_kept_with_a_warning():
    mixed = "[{kind: ServiceAccount, name: wf-sa, namespace: ml}, {kind: User, name: alice}]"
    argo_crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: applications.argoproj.io}\nspec: {group: argoproj.io}\n"
    outcome, doc = _run(CONTROLLER, SA, _binding("mixed", "r", mixed), _role("r", "[]"), argo_crd)
    assert outcome.exit_code == 0, outcome.stderr
    kept = _names(doc)
    assert ("ClusterRoleBinding", "mixed") in kept and ("ClusterRole", "r") in kept
    assert ("CustomResourceDefinition", "applications.argoproj.io") in kept
    assert ("Deployment", "wfc") not in kept and ("ServiceAccount", "wf-sa") not in kept
    assert {"mixed", "applications.argoproj.io"} <= _warned(doc)


def test_a_service_account_shared_with_another_workload_is_kept_with_a_warning():
    sharer = CONTROLLER.replace("name: wfc", "name: other").replace("app: workflow-controller", "app: other")
    outcome, doc = _run(
        CONTROLLER, SA, sharer, _binding("b", "r", "[{kind: ServiceAccount, name: wf-sa, namespace: ml}]")
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert _names(doc) == {("ServiceAccount", "wf-sa"), ("Deployment", "other"), ("ClusterRoleBinding", "b")}
    assert "wf-sa" in _warned(doc)


def test_aggregate_role_with_other_groups_is_not_argos():
    agg = "{rbac.authorization.k8s.io/aggregate-to-edit: 'true'}"
    only_argo = _role(
        "argo-edit", "[{apiGroups: [argoproj.io], resources: [workflows, cronworkflows/finalizers], verbs: [get]}]", agg
    )
    kfp_like = _role(
        "kfp-edit", "[{apiGroups: [argoproj.io, kubeflow.org], resources: [workflows], verbs: [get]}]", agg
    )
    not_aggregated = _role("argo-reader", "[{apiGroups: [argoproj.io], resources: [workflows], verbs: [get]}]")
    outcome, doc = _run(CONTROLLER, only_argo, kfp_like, not_aggregated)
    assert outcome.exit_code == 0, outcome.stderr
    assert _names(doc) == {("ClusterRole", "kfp-edit"), ("ClusterRole", "argo-reader")}


def test_no_argo_is_an_error_and_changes_nothing():
    text = resource_list(items_block(SA, CM), CONFIG)
    outcome = run_function("remove-argo", text)
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and "no bundled Argo Workflows found" in outcome.stderr
    assert output_item_texts(outcome.stdout) == [i.raw for i in ResourceList.parse(text).items]


@pytest.mark.parametrize(
    "config, problem",
    [
        (CONFIG + "keepCRD: true\n", "keepCRD: unknown field"),
        (CONFIG + "keepCRDs: maybe\n", "keepCRDs"),
        (
            "apiVersion: kfkrm.dev/v1alpha1\nkind: RemoveIstio\nmetadata: {name: x}\n",
            "expects kfkrm.dev/v1alpha1 RemoveArgo",
        ),
    ],
)
def test_bad_config(config, problem):
    text = resource_list(items_block(CONTROLLER, SA), config)
    outcome = run_function("remove-argo", text)
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and problem in outcome.stderr
    assert output_item_texts(outcome.stdout) == [i.raw for i in ResourceList.parse(text).items]


def test_configmap_config():
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {keepCRDs: 'true'}\n"
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: workflows.argoproj.io}\n"
    )
    outcome, doc = _run(CONTROLLER, crd, config=config)
    assert outcome.exit_code == 0, outcome.stderr
    assert _names(doc) == {("CustomResourceDefinition", "workflows.argoproj.io")}
