"""Reading and writing ResourceLists: layouts the orchestrators send, fidelity, results."""

import yaml

from helpers import items_block, load_output, resource_list, run_function

DEPLOYMENT = """\
# a comment kept with the item
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # trailing comment
  namespace: kubeflow
  annotations:
    config.kubernetes.io/index: '3'
    config.kubernetes.io/path: 'apps/web.yaml'
    internal.config.kubernetes.io/path: 'apps/web.yaml'
    internal.config.kubernetes.io/seqindent: 'wide'
    internal.kpt.dev/upstream-identifier: 'apps|Deployment|kubeflow|web'
    config.k8s.io/id: '7'
    kustomize.config.k8s.io/id: |
      group: apps
      kind: Deployment
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx
          env:
            - {name: MODE, value: "0777"}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: traps
  namespace: kubeflow
data:
  switch: on
  mode: 0777
  date: 2021-01-29
"""

LABELS = """\
apiVersion: kfkrm.dev/v1alpha1
kind: PodTemplateLabels
metadata:
  name: t
labels:
  team: ml
"""


def test_unchanged_items_come_back_as_the_same_text():
    items = items_block(CONFIGMAP, DEPLOYMENT)
    out = run_function("pod-template-labels", resource_list(items, LABELS))
    assert out.exit_code == 0, out.stderr
    configmap_entry = items_block(CONFIGMAP)
    assert configmap_entry in out.stdout  # byte for byte, `on` and `0777` unquoted


def test_changed_item_keeps_every_annotation_and_value():
    out = run_function("pod-template-labels", resource_list(items_block(DEPLOYMENT), LABELS))
    assert out.exit_code == 0, out.stderr
    before = yaml.load(DEPLOYMENT, Loader=yaml.BaseLoader)  # every scalar as its text
    after = yaml.load(out.stdout, Loader=yaml.BaseLoader)["items"][0]
    assert after["metadata"] == before["metadata"]
    assert after["spec"]["template"]["metadata"]["labels"] == {"app": "web", "team": "ml"}
    after["spec"]["template"]["metadata"]["labels"].pop("team")
    assert after == before
    assert list(after.keys()) == list(before.keys())


def test_accepts_v1alpha1_and_list_and_writes_v1():
    items = items_block(DEPLOYMENT)
    for api_version in ("config.kubernetes.io/v1alpha1", "config.kubernetes.io/v1"):
        out = run_function("pod-template-labels", resource_list(items, LABELS, api_version))
        assert out.exit_code == 0, out.stderr
        assert out.stdout.startswith("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n")
    text = (
        resource_list(items, LABELS)
        .replace("kind: ResourceList", "kind: List")
        .replace("config.kubernetes.io/v1", "v1", 1)
    )
    out = run_function("pod-template-labels", text)
    assert out.exit_code == 0, out.stderr
    assert load_output(out.stdout)["items"][0]["spec"]["template"]["metadata"]["labels"]["team"] == "ml"


def test_empty_items_still_written():
    out = run_function(
        "pod-template-labels",
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n"
        + "".join("  " + line + "\n" for line in LABELS.splitlines()),
    )
    assert out.exit_code == 0, out.stderr
    assert load_output(out.stdout)["items"] == []


def test_wide_sequence_indent_and_comment_first_entries():
    # kpt sends `- # comment` entries; other tools indent the list under items:
    wide = "".join(
        "  " + line + "\n" if line.strip() else "\n" for line in items_block(CONFIGMAP, DEPLOYMENT).splitlines()
    )
    out = run_function("pod-template-labels", resource_list(wide, LABELS))
    assert out.exit_code == 0, out.stderr
    doc = load_output(out.stdout)
    assert [i["kind"] for i in doc["items"]] == ["ConfigMap", "Deployment"]
    assert doc["items"][1]["spec"]["template"]["metadata"]["labels"]["team"] == "ml"
    assert doc["items"][0]["data"]["switch"] == "on"


def test_flow_style_input_is_still_understood():
    text = yaml.safe_dump(
        {
            "apiVersion": "config.kubernetes.io/v1",
            "kind": "ResourceList",
            "items": [yaml.safe_load(DEPLOYMENT)],
            "functionConfig": yaml.safe_load(LABELS),
        },
        default_flow_style=True,
    )
    out = run_function("pod-template-labels", text)
    assert out.exit_code == 0, out.stderr
    assert load_output(out.stdout)["items"][0]["spec"]["template"]["metadata"]["labels"]["team"] == "ml"


def test_results_carry_severity_resource_ref_field_and_file():
    out = run_function("pod-template-labels", resource_list(items_block(DEPLOYMENT), LABELS))
    results = load_output(out.stdout)["results"]
    assert results and all(r["severity"] in ("info", "warning", "error") for r in results)
    r = results[0]
    assert r["resourceRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "kubeflow"}
    assert r["field"]["path"] == "spec.template.metadata.labels"
    assert r["file"] == {"path": "apps/web.yaml", "index": 3}


def test_local_config_items_are_never_mutated():
    local = DEPLOYMENT.replace(
        "    config.k8s.io/id: '7'\n", "    config.k8s.io/id: '7'\n    config.kubernetes.io/local-config: 'true'\n"
    )
    kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n"
    items = items_block(local, kptfile)
    out = run_function("pod-template-labels", resource_list(items, LABELS))
    assert out.exit_code == 0, out.stderr
    assert items in out.stdout


def test_kustomize_function_annotations_on_the_config_are_accepted():
    config = LABELS.replace(
        "  name: t\n",
        "  name: t\n  annotations:\n    config.kubernetes.io/local-config: 'true'\n    config.kubernetes.io/function: |\n      container:\n        image: kfkrm:latest\n",
    )
    out = run_function("pod-template-labels", resource_list(items_block(DEPLOYMENT), config))
    assert out.exit_code == 0, out.stderr


def test_runtime_writes_local_config_back_even_if_a_function_changed_it():
    from kfkrm.runtime.resourcelist import ResourceList

    local = DEPLOYMENT.replace(
        "    config.k8s.io/id: '7'\n", "    config.k8s.io/id: '7'\n    config.kubernetes.io/local-config: \"true\"\n"
    )
    kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n"
    items = items_block(local, kptfile, CONFIGMAP)
    rl = ResourceList.parse(resource_list(items, LABELS))
    for item in rl.items:
        item.obj["metadata"]["name"] = "changed"  # a buggy function
    out = rl.emit()
    assert items_block(local, kptfile) in out
    assert "name: changed" in out  # the ordinary ConfigMap did change
