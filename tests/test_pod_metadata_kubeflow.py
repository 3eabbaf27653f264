"""PodTemplateLabels and PodTemplateAnnotations on the real rendered Kubeflow manifests."""

import re
from functools import lru_cache

import pytest
import yaml

import yaml_oracle
from helpers import VERSIONS, rendered_items_text, rendered_text, resource_list, run_function, yaml_load

# Written from the Kubernetes API, independently of kfkrm's walker: where each kind keeps its pod template.
TEMPLATE_PATHS = {
    "Deployment": ["spec", "template"],
    "StatefulSet": ["spec", "template"],
    "DaemonSet": ["spec", "template"],
    "ReplicaSet": ["spec", "template"],
    "ReplicationController": ["spec", "template"],
    "Job": ["spec", "template"],
    "CronJob": ["spec", "jobTemplate", "spec", "template"],
    "PodTemplate": ["template"],
    "Pod": [],
}
CORE_GROUPS = {"Pod": "v1", "PodTemplate": "v1", "ReplicationController": "v1"}

BASE = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar as its text, no type guessing
LABELS_CONFIG = """\
apiVersion: kfkrm.dev/v1alpha1
kind: PodTemplateLabels
metadata: {name: corp}
labels:
  corp.example.com/team: ml-platform
  istio-injected: "true"
"""
ANNOTATIONS_CONFIG = """\
apiVersion: kfkrm.dev/v1alpha1
kind: PodTemplateAnnotations
metadata: {name: corp}
annotations:
  sidecar.istio.io/inject: "true"
  corp.example.com/owner: ml-platform
forceInjection: true   # upstream's opt-outs too (kept by default: tests/test_gateway_identity.py)
"""


def _is_workload(obj):
    kind = obj.get("kind")
    if kind not in TEMPLATE_PATHS:
        return False
    api = obj.get("apiVersion", "")
    return api in ("v1",) if kind in CORE_GROUPS else api.split("/")[0] in ("apps", "batch", "extensions")


def _template(obj):
    node = obj
    for key in TEMPLATE_PATHS[obj["kind"]]:
        node = node[key]
    return node


def _split_docs(text):
    """The rendered stream's documents as text, split independently of kfkrm."""
    return [d for d in re.split(r"(?m)^---\n", text) if d.strip()]


@pytest.fixture(scope="module", params=VERSIONS)
def version(request):
    return request.param


@pytest.fixture(scope="module")
def labelled(version):
    out = run_function("pod-template-labels", resource_list(rendered_items_text(version), LABELS_CONFIG))
    assert out.exit_code == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def annotated(version):
    out = run_function("pod-template-annotations", resource_list(rendered_items_text(version), ANNOTATIONS_CONFIG))
    assert out.exit_code == 0, out.stderr
    return out


@lru_cache(maxsize=None)
def _before(version):
    return tuple(yaml.load(d, Loader=BASE) for d in _split_docs(rendered_text(version)))


def _map(template, key):
    value = template.get("metadata", {}).get(key)
    return value if isinstance(value, dict) else None


def _check(version, out, key, wanted):
    import copy

    before = copy.deepcopy(_before(version))
    after = yaml_oracle.load(out.stdout, BASE)["items"]
    assert len(after) == len(before)
    workloads = 0
    for b, a in zip(before, after):
        if _is_workload(b):
            workloads += 1
            meta = _template(a).get("metadata", {})
            for k, v in wanted.items():
                assert meta.get(key, {}).get(k) == v, (b["kind"], b["metadata"]["name"])
            # selectors are never touched
            assert a["spec"].get("selector") == b["spec"].get("selector")
            if b["kind"] == "CronJob":
                assert a["spec"]["jobTemplate"]["spec"].get("selector") == b["spec"]["jobTemplate"]["spec"].get(
                    "selector"
                )
            # nothing else changed but that map (and the sidecar label/annotation it aligns)
            _template(a)["metadata"][key] = {k: v for k, v in _template(a)["metadata"][key].items() if k not in wanted}
            if not _template(a)["metadata"][key] and _map(_template(b), key) is None:
                if key in _template(b).get("metadata", {}):
                    _template(a)["metadata"][key] = _template(b)["metadata"][key]  # e.g. `annotations: null`
                else:
                    del _template(a)["metadata"][key]
            if not _template(a)["metadata"] and "metadata" not in _template(b):
                del _template(a)["metadata"]
            other = "labels" if key == "annotations" else "annotations"
            b_other = _template(b).get("metadata", {}).get(other, {})
            a_other = _template(a).get("metadata", {}).get(other, {})
            if "sidecar.istio.io/inject" in wanted and "sidecar.istio.io/inject" in b_other:
                assert a_other["sidecar.istio.io/inject"] == wanted["sidecar.istio.io/inject"]
                a_other["sidecar.istio.io/inject"] = b_other["sidecar.istio.io/inject"]
            if _map(_template(b), key) is not None:
                for k in wanted:
                    if k in _template(b)["metadata"][key]:
                        _template(a)["metadata"][key][k] = _template(b)["metadata"][key][k]
        assert a == b, (b["kind"], b["metadata"]["name"])
    assert workloads > 40
    return workloads


def test_every_pod_template_labelled_and_nothing_else_changed(version, labelled):
    _check(version, labelled, "labels", {"corp.example.com/team": "ml-platform", "istio-injected": "true"})


def test_every_pod_template_annotated_and_sidecar_labels_aligned(version, annotated):
    _check(
        version, annotated, "annotations", {"sidecar.istio.io/inject": "true", "corp.example.com/owner": "ml-platform"}
    )


def test_v110_sidecar_false_labels_are_reported(annotated, version):
    # Kubeflow v1.10 opts many workloads out with a sidecar.istio.io/inject: "false" pod label.
    opted_out = [
        d
        for d in _split_docs(rendered_text(version))
        if re.search(r'(?m)^      labels:\n(?:        .*\n)*?        sidecar\.istio\.io/inject: "?false"?$', d)
    ]
    warnings = [r for r in yaml_load(annotated.stdout).get("results", []) if r["severity"] == "warning"]
    assert len(warnings) == len(opted_out)
    if version == "v1.10":
        assert len(opted_out) > 5


def test_untouched_items_byte_identical(version, labelled):
    docs = _split_docs(rendered_text(version))
    untouched = [d for d, obj in zip(docs, _before(version)) if not _is_workload(obj)]
    assert len(untouched) > 400
    for doc in untouched:
        entry = "- " + "".join("  " + line if line.strip() else line for line in doc.splitlines(True))[2:]
        assert entry in labelled.stdout


def _items_block(stdout):
    return stdout.split("\nitems:\n", 1)[1].split("\nfunctionConfig:\n", 1)[0] + "\n"


def test_second_run_changes_nothing(labelled, annotated):
    for name, out, config in (
        ("pod-template-labels", labelled, LABELS_CONFIG),
        ("pod-template-annotations", annotated, ANNOTATIONS_CONFIG),
    ):
        items = _items_block(out.stdout)
        again = run_function(name, resource_list(items, config))
        assert again.exit_code == 0
        assert _items_block(again.stdout) == items
        assert "on 0 pod templates" in again.stderr
