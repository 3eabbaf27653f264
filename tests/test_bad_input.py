"""Bad input: exit 1, one clear stderr line, no traceback, no mutated output."""

import pytest
import yaml

from helpers import items_block, resource_list, run_cli

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""
GOOD = "apiVersion: kfkrm.dev/v1alpha1\nkind: PodTemplateLabels\nmetadata: {name: t}\nlabels: {team: ml}\n"
ITEMS = items_block(DEPLOYMENT)

CASES = {
    "not-yaml": (
        ["pod-template-labels"],
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [unclosed, {a: b\n",
        "not valid YAML",
    ),
    "not-a-resource-list": (
        ["pod-template-labels"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "not a ResourceList",
    ),
    "items-not-mappings": (
        ["pod-template-labels"],
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- just a string\n- 42\nfunctionConfig:\n  "
        + GOOD.replace("\n", "\n  "),
        "not a mapping",
    ),
    "no-function-config": (["pod-template-labels"], resource_list(ITEMS), "no functionConfig"),
    "no-function-config-dispatch": ([], resource_list(ITEMS), "no functionConfig"),
    "unknown-kind": (
        [],
        resource_list(ITEMS, GOOD.replace("PodTemplateLabels", "PodTemplateLabelz")),
        "unknown functionConfig",
    ),
    "wrong-kind-for-function": (
        ["namespace-injection"],
        resource_list(ITEMS, GOOD),
        "expects kfkrm.dev/v1alpha1 NamespaceInjection",
    ),
    "misspelt-field": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD.replace("labels:", "lables:")),
        "lables: unknown field",
    ),
    "wrong-type": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD.replace("labels: {team: ml}", "labels: [team, ml]")),
        "labels: input should be a valid dictionary",
    ),
    "empty-labels": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD.replace("labels: {team: ml}", "labels: {}")),
        "labels: must set at least one label",
    ),
    "bad-label-value": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD.replace("team: ml", "team: 'not ok!'")),
        "labels: value 'not ok!'",
    ),
    "empty-selector-term": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD + "include: [{}]\n"),
        "include[0]: a selector term must set",
    ),
    "selector-matches-nothing": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD + "include: [{kind: Deploymnet}]\n"),
        "include selects no workload",
    ),
    "broken-item-metadata": (
        ["pod-template-labels"],
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: [unclosed\nfunctionConfig:\n  "
        + GOOD.replace("\n", "\n  "),
        "is not valid YAML",
    ),
    "empty-input": (["pod-template-labels"], "", "the input is empty"),
    "two-documents": (
        ["pod-template-labels"],
        resource_list(ITEMS, GOOD) + "---\n" + resource_list(ITEMS, GOOD),
        "expected one ResourceList document",
    ),
    "missing-namespace": (
        ["namespace-injection"],
        resource_list(
            ITEMS,
            "apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceInjection\nmetadata: {name: n}\nnamespaces: [kubeflow]\n",
        ),
        "Namespace 'kubeflow' is not in the input",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case):
    args, stdin, expected = CASES[case]
    proc = run_cli(args, stdin)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert expected in lines[0], lines[0]
    assert lines[0].startswith("kfkrm")
    out = yaml.safe_load(proc.stdout)
    assert out["kind"] == "ResourceList" and out["apiVersion"] == "config.kubernetes.io/v1"
    assert any(r["severity"] == "error" for r in out["results"])
    # no mutated output: whatever items come back are the input's, untouched
    for item in out["items"] or []:
        if isinstance(item, dict) and item.get("kind") == "Deployment":
            assert "team" not in item["spec"]["template"]["metadata"]["labels"]
    if ITEMS in stdin and case != "two-documents":
        assert ITEMS in proc.stdout  # the input items, byte for byte


def test_unknown_function_name_is_a_usage_error():
    proc = run_cli(["pod-template-lables"], "")
    assert proc.returncode == 2 and "unknown function" in proc.stderr


def test_not_utf8():
    import os
    import subprocess
    import sys

    from helpers import REPO

    proc = subprocess.run(
        [sys.executable, "-m", "kfkrm", "pod-template-labels"],
        input=b"\xff\xfe\x00bad",
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "functions")),
    )
    assert proc.returncode == 1 and b"not UTF-8" in proc.stderr and b"Traceback" not in proc.stderr
