"""`kfkrm images`: the mirror list, on the real rendered manifests and on small input."""

from __future__ import annotations

import json

from helpers import items_block, rendered_path, resource_list, run_cli

CORP = "registry.corp.example.com"
CONFIG = f"""apiVersion: kfkrm.dev/v1alpha1
kind: ImageProxy
metadata: {{name: mirror}}
rules:
- {{from: docker.io, to: {CORP}/dockerhub}}
- {{from: "*", to: {CORP}/proxy}}
"""
POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: python:3.7
    env:
    - {name: HELPER_IMAGE, value: "gcr.io/x/helper:1"}
"""


def rendered(version):
    return str(rendered_path(version))


def test_lists_images_with_their_places_v1_10():
    out = run_cli(["images", rendered("v1.10")], "")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # written down from the manifests: an env var, an arg, a KServe runtime, Istio's hub + tag
    for image, place in [
        (
            "ghcr.io/kubeflow/kfp-driver:2.5.0",
            "Deployment kubeflow/ml-pipeline spec.template.spec.containers[0].env[23].value",
        ),
        (
            "quay.io/argoproj/argoexec:v3.5.14",
            "Deployment kubeflow/workflow-controller spec.template.spec.containers[0].args[3]",
        ),
        (
            "docker.io/kserve/sklearnserver:v0.15.0",
            "ClusterServingRuntime kserve-sklearnserver spec.containers[0].image",
        ),
        (
            "gcr.io/istio-release/proxyv2:1.26.1",
            "ConfigMap istio-system/istio-sidecar-injector data.values (global.hub)",
        ),
    ]:
        assert image in lines
        following = lines[lines.index(image) + 1 :]
        block = following[: next((i for i, line in enumerate(following) if not line.startswith("  ")), len(following))]
        assert any(line.strip().startswith(place) for line in block), (image, block)


def test_mirror_pairs_v1_3_0(tmp_path):
    config = tmp_path / "proxy.yaml"
    config.write_text(CONFIG)
    out = run_cli(["images", "--config", str(config), rendered("v1.3.0")], "")
    assert out.returncode == 0, out.stderr
    pairs = dict(line.split(" -> ") for line in out.stdout.splitlines())
    # KServe keeps the tags beside the repository: both are listed
    assert pairs["docker.io/tensorflow/serving:1.14.0"] == f"{CORP}/dockerhub/tensorflow/serving:1.14.0"
    assert pairs["docker.io/tensorflow/serving:1.14.0-gpu"] == f"{CORP}/dockerhub/tensorflow/serving:1.14.0-gpu"
    assert (
        pairs["gcr.io/ml-pipeline/argoexec:v2.12.9-license-compliance"]
        == f"{CORP}/proxy/gcr.io/ml-pipeline/argoexec:v2.12.9-license-compliance"
    )
    assert pairs["docker.io/istio/proxyv2:1.9.0"] == f"{CORP}/dockerhub/istio/proxyv2:1.9.0"
    assert len(pairs) > 90


def test_resource_list_input_and_json(tmp_path):
    config = tmp_path / "proxy.yaml"
    config.write_text(CONFIG)
    text = resource_list(items_block(POD))
    out = run_cli(["images", "--config", str(config), "--format", "json", "-"], text)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {"source": "docker.io/library/python:3.7", "target": f"{CORP}/dockerhub/library/python:3.7"},
        {"source": "gcr.io/x/helper:1", "target": f"{CORP}/proxy/gcr.io/x/helper:1"},
    ]
    listed = json.loads(run_cli(["images", "--format", "json"], text).stdout)
    assert listed == [
        {"image": "docker.io/library/python:3.7", "locations": ["Pod p spec.containers[0].image"]},
        {"image": "gcr.io/x/helper:1", "locations": ["Pod p spec.containers[0].env[0].value (env HELPER_IMAGE)"]},
    ]


def test_errors_are_one_line(tmp_path):
    missing = run_cli(["images", str(tmp_path / "nope.yaml")], "")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "nope.yaml" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("to: registry.corp.example.com/dockerhub", "to: 'not a registry'"))
    out = run_cli(["images", "--config", str(bad), "-"], POD)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "rules[0].to" in out.stderr
