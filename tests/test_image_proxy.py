"""ImageProxy on the real Kubeflow manifests and on small cases.

The acceptance check uses a scanner of its own (below), not the function's finder: it
looks at every string of every output object, and inside ConfigMap values at the text.
"""

from __future__ import annotations

import json
import re
from functools import partial

import pytest
import yaml

from helpers import VERSIONS, items_block, load_output, rendered_items_text, resource_list, run_function
from kfkrm.runtime.resourcelist import ResourceList

CORP = "registry.corp.example.com"
CATCH_ALL = f"""
apiVersion: kfkrm.dev/v1alpha1
kind: ImageProxy
metadata: {{name: internal}}
rules:
- {{from: "*", to: {CORP}/proxy}}
allowedRegistries: [{CORP}]
"""

# -- an independent scanner --------------------------------------------------------------
# Public registry hosts at the start of a reference: not preceded by a name character or
# "/", so "registry.corp.example.com/proxy/gcr.io/x" does not count.
PUBLIC = re.compile(
    r"(?<![\w./-])(?:docker\.io|index\.docker\.io|(?:[a-z]+\.)?gcr\.io|ghcr\.io|quay\.io|public\.ecr\.aws"
    r"|registry\.k8s\.io|mcr\.microsoft\.com|nvcr\.io)/[\w./-]+"
)
# An image key in JSON or YAML text, with its value.
IMAGE_IN_TEXT = re.compile(r"""["']?\b(?:image|\w*Image|\w*_IMAGE)["']?\s*:\s*["']?([^\s"',}]+)""")
DOC_KEYS = {"_example"}  # documentation only: Knative checksums it, nothing reads it


IMAGE_KEY = re.compile(r"image", re.I)
NOT_IMAGE_KEY = re.compile(r"pull|version|policy|secret|allow", re.I)
SHORT_REF = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w.-]+)?$")


def public_references(obj: dict) -> list[tuple[str, str]]:
    """(where, text) of every public image reference in a resource, by looking at text:
    public registry hosts anywhere, and Docker Hub short names where a key, an env name or
    a flag says image."""
    problems = []
    crd = obj.get("kind") == "CustomResourceDefinition"

    def short_name(path, value):
        if isinstance(value, str) and SHORT_REF.match(value) and not value.startswith(CORP):
            problems.append((path, value))

    def visit(node, path, key=None):
        if isinstance(node, dict):
            name = node.get("name")
            if isinstance(name, str) and IMAGE_KEY.search(name) and not NOT_IMAGE_KEY.search(name) and "value" in node:
                short_name(path + ".value", node["value"])  # an env var named *_IMAGE
            for k, v in node.items():
                if path == ".data" and k in DOC_KEYS:
                    continue
                if not crd and IMAGE_KEY.search(str(k)) and not NOT_IMAGE_KEY.search(str(k)) and "\n" not in str(v):
                    short_name(f"{path}.{k}", v)
                visit(v, f"{path}.{k}", k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if i and isinstance(node[i - 1], str) and re.match(r"^--[\w-]*image$", node[i - 1]):
                    short_name(f"{path}[{i}]", v)  # --executor-image X
                if isinstance(v, str) and re.match(r"^--[\w-]*image=", v):
                    short_name(f"{path}[{i}]", v.split("=", 1)[1])
                visit(v, f"{path}[{i}]", key)
        elif isinstance(node, str):
            problems.extend((path, m.group(0)) for m in PUBLIC.finditer(node))
            if "\n" in node and '"hub"' not in node:  # embedded text; Istio's bare names are completed by its hub
                for m in IMAGE_IN_TEXT.finditer(node):
                    if "/" in m.group(1):
                        short_name(path, m.group(1))

    visit(obj, "")
    return problems


run = partial(run_function, "image-proxy")


def output_objects(stdout):
    return load_output(stdout)["items"]


# -- the real manifests --------------------------------------------------------------------


@pytest.fixture(scope="module", params=VERSIONS)
def proxied(request):
    version = request.param
    text = resource_list(rendered_items_text(version), CATCH_ALL)
    out = run(text)
    return version, text, out, load_output(out.stdout)


def test_no_public_reference_remains(proxied):
    version, text, out, doc = proxied
    assert out.exit_code == 0, out.stderr
    before = [p for obj in load_output(text)["items"] for p in public_references(obj)]
    assert len(before) > 100, "the scanner must find Kubeflow's public images in the input"
    left = [(o["kind"], o["metadata"]["name"], where, ref) for o in doc["items"] for where, ref in public_references(o)]
    assert left == []


# Places outside container image fields, written down from reading the manifests.
EXPECTED_EMBEDDED = {
    "v1.3.0": [
        ("Deployment", "workflow-controller", "spec.template.spec.containers[0].args[3]"),
        ("Deployment", "mpi-operator", "spec.template.spec.containers[0].args[4]"),
        ("Deployment", "broker-controller", "spec.template.spec.containers[0].env[4].value"),
        ("Deployment", "eventing-controller", "spec.template.spec.containers[0].env[6].value"),
        ("Deployment", "imc-controller", "spec.template.spec.containers[0].env[4].value"),
        ("ConfigMap", "inferenceservice-config", "data.predictors"),
        ("ConfigMap", "inferenceservice-config", "data.explainers"),
        ("ConfigMap", "katib-config", "data.suggestion"),
        ("ConfigMap", "trial-template", "data.pytorchJobTemplate"),
        ("ConfigMap", "jupyter-web-app-config-4db6k4dh68", 'data["spawner_ui_config.yaml"]'),
        ("ConfigMap", "config-deployment", "data.queueSidecarImage"),
        ("ConfigMap", "pipeline-install-config", "data.cacheImage"),
        ("ConfigMap", "mpi-operator-config", "data.kubectl-delivery-image"),
        ("ConfigMap", "istio-sidecar-injector", "data.values"),
        ("ConfigMap", "kubeflow-pipelines-profile-controller-code-c2cd68d9k4", 'data["sync.py"]'),
        ("Image", "queue-proxy", "spec.image"),
    ],
    "v1.10": [
        ("Deployment", "workflow-controller", "spec.template.spec.containers[0].args[3]"),
        ("Deployment", "cert-manager", "spec.template.spec.containers[0].args[3]"),
        ("Deployment", "ml-pipeline", "spec.template.spec.containers[0].env[23].value"),
        ("Deployment", "ml-pipeline", "spec.template.spec.containers[0].env[24].value"),
        ("Deployment", "volumes-web-app-deployment", "spec.template.spec.containers[0].env[4].value"),
        ("ConfigMap", "inferenceservice-config", "data.localModel"),
        ("ConfigMap", "katib-config", 'data["katib-config.yaml"]'),
        ("ConfigMap", "trial-templates", "data.enasCPUTemplate"),
        ("ConfigMap", "jupyter-web-app-config-9c2fbg2gdc", 'data["spawner_ui_config.yaml"]'),
        ("ConfigMap", "config-deployment", "data.queue-sidecar-image"),
        ("ConfigMap", "pipeline-install-config", "data.cacheImage"),
        ("ConfigMap", "tensorboard-controller-config-7hd244gf2d", "data.TENSORBOARD_IMAGE"),
        ("ConfigMap", "istio-sidecar-injector", "data.values"),
        ("ConfigMap", "values", "data.merged-values"),
        ("ConfigMap", "kubeflow-pipelines-profile-controller-code-gbd8f5ckgk", 'data["sync.py"]'),
        ("Image", "queue-proxy", "spec.image"),
        ("ClusterStorageContainer", "default", "spec.container.image"),
        ("ClusterServingRuntime", "kserve-mlserver", "spec.containers[0].image"),
        ("ClusterServingRuntime", "kserve-huggingfaceserver-multinode", "spec.workerSpec.containers[0].image"),
    ],
}


def test_each_embedded_place_is_reported(proxied):
    version, _, out, doc = proxied
    reported = {
        (r["resourceRef"]["kind"], r["resourceRef"]["name"], r["field"]["path"])
        for r in doc["results"]
        if r["severity"] == "info"
    }
    missing = [p for p in EXPECTED_EMBEDDED[version] if p not in reported]
    assert missing == []
    assert not [r for r in doc["results"] if r["severity"] != "info"]


def test_untouched_items_are_byte_identical(proxied):
    version, text, out, _ = proxied
    inputs = ResourceList.parse(text).items
    outputs = ResourceList.parse(out.stdout).items
    assert [i.ref() for i in inputs] == [o.ref() for o in outputs]
    changed = [i for i, o in zip(inputs, outputs) if i.raw != o.raw]
    # only items that held a public image changed (and none is left: the test above)
    assert [i.ref() for i in changed if not public_references(i.obj)] == []
    assert len(changed) > 50


def test_second_run_changes_nothing(proxied):
    _, _, out, _ = proxied
    again = run(out.stdout)
    assert again.exit_code == 0, again.stderr
    first = ResourceList.parse(out.stdout).items
    second = ResourceList.parse(again.stdout).items
    assert [i.raw for i in first] == [i.raw for i in second]
    assert "rewrote 0 image references" in again.stderr


def test_embedded_values_keep_their_format(proxied):
    version, text, out, _ = proxied
    inputs = {i.ref(): i for i in ResourceList.parse(text).items}
    for o in ResourceList.parse(out.stdout).items:
        if o.kind != "ConfigMap" or o.raw == inputs[o.ref()].raw:
            continue
        before, after = inputs[o.ref()].obj["data"], o.obj["data"]
        for key, value in after.items():
            old = before[key]
            # same lines, and a line differs only by the registry put in front of a reference
            assert len(old.splitlines()) == len(value.splitlines()), key
            for a, b in zip(old.splitlines(), value.splitlines()):
                if a != b:
                    assert re.sub(CORP + r"/proxy/(docker\.io/(library/)?)?", "", b) == a.replace("docker.io/", ""), (
                        key,
                        a,
                        b,
                    )
            if key.endswith(".py"):
                compile(value, key, "exec")
            elif value.lstrip().startswith("{"):
                json.loads(value)


# -- small cases ------------------------------------------------------------------------------


def deployment(*images, env=None, args=None):
    containers = "".join(f"      - name: c{i}\n        image: {img}\n" for i, img in enumerate(images))
    extra = ""
    if env:
        extra += "        env:\n" + "".join(f"        - name: {k}\n          value: {v}\n" for k, v in env.items())
    if args:
        extra += "        args:\n" + "".join(f"        - {a}\n" for a in args)
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: kubeflow
spec:
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata: {{labels: {{app: a}}}}
    spec:
      initContainers:
      - name: init
        image: busybox
      containers:
{containers}{extra}"""


def config(rules, extra=""):
    body = "".join(f"- {{from: {json.dumps(f)}, to: {t}}}\n" for f, t in rules)
    return f"apiVersion: kfkrm.dev/v1alpha1\nkind: ImageProxy\nmetadata: {{name: t}}\nrules:\n{body}{extra}"


def images_of(stdout):
    obj = output_objects(stdout)[0]
    spec = obj["spec"]["template"]["spec"]
    return [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]


def test_whole_components_and_normalisation():
    text = resource_list(
        items_block(
            deployment(
                "docker.io.evil.example/x:1",
                "gcr.io/ml-pipeline-test/x:1",
                "gcr.io/ml-pipeline/api:2",
                "kubeflow/x:3",
                "nginx",
                "index.docker.io/library/redis:7",
                "localhost:5000/y:1",
            )
        ),
        config([("docker.io", f"{CORP}/hub"), ("gcr.io/ml-pipeline", f"{CORP}/kfp")]),
    )
    out = run(text)
    assert out.exit_code == 0, out.stderr
    assert images_of(out.stdout) == [
        f"{CORP}/hub/library/busybox",
        "docker.io.evil.example/x:1",
        "gcr.io/ml-pipeline-test/x:1",
        f"{CORP}/kfp/api:2",
        f"{CORP}/hub/kubeflow/x:3",
        f"{CORP}/hub/library/nginx",
        f"{CORP}/hub/library/redis:7",
        "localhost:5000/y:1",
    ]


def test_tags_and_digests_kept_exactly_first_rule_wins():
    digest = "sha256:" + "ab" * 32
    text = resource_list(
        items_block(deployment(f"gcr.io/a/b:v1@{digest}", f"quay.io/c@{digest}")),
        config([("gcr.io/a", f"{CORP}/first"), ("gcr.io", f"{CORP}/second"), ("*", f"{CORP}/proxy")]),
    )
    out = run(text)
    assert images_of(out.stdout)[1:] == [f"{CORP}/first/b:v1@{digest}", f"{CORP}/proxy/quay.io/c@{digest}"]


def test_image_already_under_a_target_is_left_alone():
    text = resource_list(
        items_block(deployment(f"{CORP}/proxy/gcr.io/x:1", f"{CORP}/hub/library/nginx")),
        config([("docker.io", f"{CORP}/hub"), ("*", f"{CORP}/proxy")]),
    )
    out = run(text)
    assert images_of(out.stdout)[1:] == [f"{CORP}/proxy/gcr.io/x:1", f"{CORP}/hub/library/nginx"]


def test_env_and_args_only_where_the_name_says_image():
    text = resource_list(
        items_block(
            deployment(
                "app:1",
                env={
                    "METRICS_DOMAIN": "knative.dev/eventing",
                    "PING_IMAGE": "gcr.io/k/ping:1",
                    "HOME_URL": "gcr.io/not/an-image",
                },
                args=[
                    "--executor-image",
                    "quay.io/argoproj/argoexec:v3",
                    "--kubectl-delivery-image=mpioperator/kd:latest",
                    "--server",
                    "quay.io/not/an-image:1",
                ],
            )
        ),
        config([("*", f"{CORP}/proxy")]),
    )
    out = run(text)
    c = output_objects(out.stdout)[0]["spec"]["template"]["spec"]["containers"][0]
    assert [e["value"] for e in c["env"]] == [
        "knative.dev/eventing",
        f"{CORP}/proxy/gcr.io/k/ping:1",
        "gcr.io/not/an-image",
    ]
    assert c["args"] == [
        "--executor-image",
        f"{CORP}/proxy/quay.io/argoproj/argoexec:v3",
        f"--kubectl-delivery-image={CORP}/proxy/docker.io/mpioperator/kd:latest",
        "--server",
        "quay.io/not/an-image:1",
    ]


def test_embedded_false_touches_only_container_fields():
    text = resource_list(
        items_block(deployment("app:1", env={"PING_IMAGE": "gcr.io/k/ping:1"})),
        config([("*", f"{CORP}/proxy")], "embedded: false\n"),
    )
    out = run(text)
    c = output_objects(out.stdout)[0]["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == f"{CORP}/proxy/docker.io/library/app:1" and c["env"][0]["value"] == "gcr.io/k/ping:1"


CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: kubeflow}
data:
  cacheImage: 'gcr.io/google-containers/busybox'
  url: gcr.io/not-an-image
  predictors: |
    {
        "tensorflow": {
            "image": "tensorflow/serving",
            "defaultImageVersion": "1.14.0",
            "imagePullPolicy": "IfNotPresent"
        }
    }
  spawner.yaml: |
    # the default image: tensorflow/serving
    image:
      value: gcr.io/a/b:1
      options: [gcr.io/a/b:1, gcr.io/a/c:1]
    imagePullPolicy: {value: IfNotPresent}
  _example: |
    image: gcr.io/documented/only:1
"""


def test_configmap_values_rewritten_in_their_own_format():
    out = run(resource_list(items_block(CONFIGMAP), config([("*", f"{CORP}/proxy")])))
    assert out.exit_code == 0, out.stderr
    data = output_objects(out.stdout)[0]["data"]
    assert data["cacheImage"] == f"{CORP}/proxy/gcr.io/google-containers/busybox"
    assert "cacheImage: 'registry.corp" in out.stdout  # quoting kept
    assert data["url"] == "gcr.io/not-an-image"
    assert data["predictors"] == CONFIGMAP_PREDICTORS.replace(
        "tensorflow/serving", f"{CORP}/proxy/docker.io/tensorflow/serving"
    )
    assert yaml.safe_load(data["spawner.yaml"])["image"] == {
        "value": f"{CORP}/proxy/gcr.io/a/b:1",
        "options": [f"{CORP}/proxy/gcr.io/a/b:1", f"{CORP}/proxy/gcr.io/a/c:1"],
    }
    assert data["spawner.yaml"].startswith("# the default image: tensorflow/serving\n")
    assert data["_example"] == "image: gcr.io/documented/only:1\n"
    fields = sorted(r["field"]["path"] for r in load_output(out.stdout)["results"])
    assert fields == [
        "data.cacheImage",
        "data.predictors",
        'data["spawner.yaml"]',
        'data["spawner.yaml"]',
        'data["spawner.yaml"]',
    ]


CONFIGMAP_PREDICTORS = yaml.safe_load(CONFIGMAP)["data"]["predictors"]


def test_text_also_outside_image_fields_is_a_warning_not_a_rewrite():
    cm = """apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data:
  conf: |
    {"image": "gcr.io/a/b", "mirrorOf": "gcr.io/a/b"}
"""
    out = run(resource_list(items_block(cm), config([("*", f"{CORP}/proxy")])))
    assert out.exit_code == 0
    assert output_objects(out.stdout)[0]["data"]["conf"] == '{"image": "gcr.io/a/b", "mirrorOf": "gcr.io/a/b"}\n'
    assert [r["severity"] for r in load_output(out.stdout)["results"]] == ["warning"]


ISTIO_VALUES = """apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: |-
    {"global": {"hub": "gcr.io/istio-release", "tag": "1.26.1", "proxy": {"image": "proxyv2"}}}
"""


def test_istio_hub_rewritten_when_sound():
    out = run(resource_list(items_block(ISTIO_VALUES), config([("gcr.io", f"{CORP}/gcr")])))
    values = json.loads(output_objects(out.stdout)[0]["data"]["values"])
    assert values["global"]["hub"] == f"{CORP}/gcr/istio-release" and values["global"]["proxy"]["image"] == "proxyv2"


def test_istio_hub_split_by_rules_is_a_warning_naming_what_to_set():
    out = run(
        resource_list(
            items_block(ISTIO_VALUES),
            config([("gcr.io/istio-release/proxyv2", f"{CORP}/istio-proxy"), ("gcr.io", f"{CORP}/gcr")]),
        )
    )
    assert out.exit_code == 0
    assert json.loads(output_objects(out.stdout)[0]["data"]["values"])["global"]["hub"] == "gcr.io/istio-release"
    [warning] = [r for r in load_output(out.stdout)["results"] if r["severity"] == "warning"]
    assert warning["field"]["path"] == "data.values" and f"{CORP}/istio-proxy:1.26.1" in warning["message"]


def test_allowed_registries_error_names_resource_and_field():
    text = resource_list(
        items_block(deployment("gcr.io/a/b:1", "nginx:1")),
        config([("docker.io", f"{CORP}/hub")], f"allowedRegistries: [{CORP}]\n"),
    )
    out = run(text)
    assert out.exit_code == 1
    assert (
        out.stderr.count("\n") == 1
        and "spec.template.spec.containers[0].image" in out.stderr
        and "gcr.io/a/b:1" in out.stderr
    )
    doc = load_output(out.stdout)
    assert doc["items"] == load_output(text)["items"]  # the input, unchanged
    [error] = [r for r in doc["results"] if r["severity"] == "error"]
    assert error["resourceRef"]["name"] == "app"


@pytest.mark.parametrize(
    "rules, expected",
    [
        ("rules:\n- {to: registry.corp.example.com/x}\n", "rules[0].from: required field is missing"),
        ("rules:\n- {from: docker.io}\n", "rules[0].to: required field is missing"),
        ("rules:\n- {from: docker.io, to: 'https://registry.corp.example.com'}\n", "rules[0].to"),
        ("rules:\n- {from: docker.io, to: corp/proxy}\n", "rules[0].to"),
        ("rules:\n- {from: docker.io, to: 'registry.corp.example.com/x:tag'}\n", "rules[0].to"),
        ("rules:\n- {from: 'gcr.io/x:1', to: registry.corp.example.com/x}\n", "rules[0].from"),
        (
            "rules:\n- {from: docker.io, to: registry.corp.example.com/a}\n- {from: docker.io, to: registry.corp.example.com/b}\n",
            "duplicates rules[0].from",
        ),
        (
            "rules:\n- {from: kubeflow, to: registry.corp.example.com/a}\n- {from: docker.io/kubeflow, to: registry.corp.example.com/b}\n",
            "duplicates rules[0].from",
        ),
        ("rules: []\n", "rules: must hold at least one rule"),
        (
            "rules:\n- {from: '*', to: registry.corp.example.com/a}\n- {from: gcr.io, to: registry.corp.example.com/b}\n",
            "must be the last rule",
        ),
        (
            "rules:\n- {from: '*', to: registry.corp.example.com/a}\nallowedRegistries: ['http://x']\n",
            "allowedRegistries",
        ),
        ("rules:\n- {from: '*', to: registry.corp.example.com/a}\nembeded: true\n", "embeded: unknown field"),
    ],
)
def test_bad_config(rules, expected):
    text = resource_list(
        items_block(deployment("nginx")),
        "apiVersion: kfkrm.dev/v1alpha1\nkind: ImageProxy\nmetadata: {name: t}\n" + rules,
    )
    out = run(text)
    assert out.exit_code == 1
    assert out.stderr.count("\n") == 1 and expected in out.stderr, out.stderr
    assert load_output(out.stdout)["items"] == load_output(text)["items"]
