"""ArgoArtifactRepository on the real Kubeflow manifests and on small cases.

The artifact repository it writes is checked against the schema Argo Workflows documents
(ArtifactRepository, S3ArtifactRepository and SecretKeySelector in Argo's API reference,
fields.md / the swagger definitions), transcribed by hand below: not taken from the code.
"""

from __future__ import annotations

import json

import pytest
import yaml

from helpers import (
    items_block,
    key,
    load_output,
    output_item_texts,
    rendered_items_text,
    resource_list,
    run_function,
)
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import ResourceList

NAMESPACE_CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: ArgoArtifactRepository
metadata:
  name: s3-artifacts
s3:
  bucket: ml-artifacts
  endpoint: s3.amazonaws.com
  region: us-west-2
  insecure: false
  keyFormat: "artifacts/{{workflow.name}}/{{pod.name}}"
  useSDKCreds: true
target: namespace
namespaces: [kubeflow]
"""
CONTROLLER_CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: ArgoArtifactRepository
metadata:
  name: s3-artifacts
s3:
  bucket: ml-artifacts
  endpoint: objects.corp.example:9000
  accessKeySecret: {name: mlpipeline-s3-artifact, key: accesskey}
  secretKeySecret: {name: mlpipeline-s3-artifact, key: secretkey}
target: controller
"""

# -- Argo's documented schema -----------------------------------------------------------
SECRET_KEY_SELECTOR = {"name": str, "key": str, "optional": bool}
S3_ARTIFACT_REPOSITORY = {
    "accessKeySecret": SECRET_KEY_SELECTOR,
    "bucket": str,
    "caSecret": SECRET_KEY_SELECTOR,
    "createBucketIfNotPresent": dict,
    "encryptionOptions": dict,
    "endpoint": str,
    "insecure": bool,
    "keyFormat": str,
    "keyPrefix": str,
    "region": str,
    "roleARN": str,
    "secretKeySecret": SECRET_KEY_SELECTOR,
    "sessionTokenSecret": SECRET_KEY_SELECTOR,
    "useSDKCreds": bool,
}
ARTIFACT_REPOSITORY = {
    "archiveLogs": bool,
    "s3": S3_ARTIFACT_REPOSITORY,
    "artifactory": dict,
    "azure": dict,
    "gcs": dict,
    "hdfs": dict,
    "oss": dict,
}


def schema_problems(value, schema, where="") -> list:
    """Type and unknown-field problems of `value` against a hand-written schema."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where or '.'}: expected an object"]
        problems = []
        for k, v in value.items():
            if k not in schema:
                problems.append(f"{where}.{k}: not in Argo's schema")
            else:
                problems += schema_problems(v, schema[k], f"{where}.{k}")
        if schema is SECRET_KEY_SELECTOR and "key" not in value:
            problems.append(f"{where}.key: required")
        return problems
    if not isinstance(value, schema) or (schema is not bool and isinstance(value, bool)):
        return [f"{where}: expected {schema.__name__}, got {value!r}"]
    return []


def argo_reads(text: str) -> dict:
    """Parse a ConfigMap value as Argo does (YAML into Go structs: strings stay strings)."""
    repository = yaml.load(str(text), Loader=yamlio.Loader)
    assert schema_problems(repository, ARTIFACT_REPOSITORY) == []
    return repository


def test_schema_checker_can_fail():
    assert schema_problems({"s3": {"bucket": "b", "endpiont": "x"}}, ARTIFACT_REPOSITORY)
    assert schema_problems({"s3": {"insecure": "false"}}, ARTIFACT_REPOSITORY)
    assert schema_problems({"s3": {"accessKeySecret": {"name": "x"}}}, ARTIFACT_REPOSITORY)


# -- helpers ---------------------------------------------------------------------------
def _env(obj: dict) -> dict:
    out = {}
    for c in obj["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env") or []:
            out[e["name"]] = e.get("value", e.get("valueFrom"))
    return out


def _by_key(doc) -> dict:
    return {key(o): o for o in doc["items"]}


# KFP objects the function must change, read from the manifests (kfp-launcher exists only in v1.10).
EXPECTED_CHANGED = {
    "v1.3.0": {
        ("ConfigMap", "pipeline-install-config"),
        ("Deployment", "ml-pipeline"),
        ("Deployment", "ml-pipeline-ui"),
    },
    "v1.10": {
        ("ConfigMap", "pipeline-install-config"),
        ("Deployment", "ml-pipeline"),
        ("Deployment", "ml-pipeline-ui"),
        ("ConfigMap", "kfp-launcher"),
    },
}


@pytest.fixture(scope="module", params=["v1.3.0", "v1.10"])
def namespace_run(request):
    version = request.param
    text = resource_list(rendered_items_text(version), NAMESPACE_CONFIG)
    return version, text, run_function("argo-artifact-repository", text)


def test_emits_a_valid_artifact_repositories_configmap(namespace_run):
    version, _, outcome = namespace_run
    assert outcome.exit_code == 0, outcome.stderr
    cm = _by_key(load_output(outcome.stdout))[("v1", "ConfigMap", "kubeflow", "artifact-repositories")]
    assert cm["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"] == "default-v1"
    assert set(cm["data"]) == {"default-v1"}
    repo = argo_reads(cm["data"]["default-v1"])
    assert repo == {
        "archiveLogs": True,
        "s3": {
            "bucket": "ml-artifacts",
            "endpoint": "s3.amazonaws.com",
            "region": "us-west-2",
            "insecure": False,
            "keyFormat": "artifacts/{{workflow.name}}/{{pod.name}}",
            "useSDKCreds": True,
        },
    }


def test_points_kfp_at_the_bucket(namespace_run):
    version, _, outcome = namespace_run
    items = _by_key(load_output(outcome.stdout))
    install = items[("v1", "ConfigMap", "kubeflow", "pipeline-install-config")]
    assert install["data"]["bucketName"] == "ml-artifacts"
    api = _env(items[("apps/v1", "Deployment", "kubeflow", "ml-pipeline")])
    assert (
        api["OBJECTSTORECONFIG_HOST"],
        api["OBJECTSTORECONFIG_PORT"],
        api["OBJECTSTORECONFIG_SECURE"],
        api["OBJECTSTORECONFIG_REGION"],
    ) == ("s3.amazonaws.com", "443", "true", "us-west-2")
    assert api["OBJECTSTORECONFIG_BUCKETNAME"] == {
        "configMapKeyRef": {"key": "bucketName", "name": "pipeline-install-config"}
    }
    ui = _env(items[("apps/v1", "Deployment", "kubeflow", "ml-pipeline-ui")])
    assert ui["AWS_S3_ENDPOINT"] == "s3.amazonaws.com" and ui["AWS_REGION"] == "us-west-2" and ui["AWS_SSL"] == "true"
    assert ui["ARGO_ARCHIVE_ARTIFACTORY"] == "s3" and ui["ARGO_ARCHIVE_BUCKETNAME"] == "ml-artifacts"
    assert ui["ARGO_ARCHIVE_LOGS"] == "true"
    assert ui["ARGO_KEYFORMAT"] == "artifacts/{{workflow.name}}/{{pod.name}}"
    assert ui["ARGO_ARCHIVE_PREFIX"] == "artifacts"
    if version == "v1.10":
        for name in ("pipeline-install-config", "kfp-launcher"):
            assert (
                items[("v1", "ConfigMap", "kubeflow", name)]["data"]["defaultPipelineRoot"]
                == "s3://ml-artifacts/v2/artifacts"
            )


def test_only_kfp_settings_change_and_the_rest_is_byte_identical(namespace_run):
    version, text, outcome = namespace_run
    inputs = ResourceList.parse(text).items
    outputs = output_item_texts(outcome.stdout)
    assert len(outputs) == len(inputs) + 1  # the new ConfigMap, at the end
    unchanged = set(outputs)
    changed = {(i.kind, i.name) for i in inputs if i.raw not in unchanged}
    assert changed == EXPECTED_CHANGED[version]
    assert [o for o in outputs if o in {i.raw for i in inputs}] == [i.raw for i in inputs if i.raw in unchanged]
    assert "name: artifact-repositories" in outputs[-1]


def test_every_minio_reference_left_is_a_warning(namespace_run):
    version, _, outcome = namespace_run
    doc = load_output(outcome.stdout)
    # independent scan: every output object whose YAML mentions minio
    expected = {(o["kind"], o["metadata"]["name"]) for o in doc["items"] if "minio" in json.dumps(o).lower()}
    assert ("Deployment", "minio") in expected and ("Secret", "mlpipeline-minio-artifact") in expected
    warned = {
        (r["resourceRef"]["kind"], r["resourceRef"]["name"])
        for r in doc["results"]
        if r["severity"] == "warning" and "bundled minio" in r["message"]
    }
    assert warned == expected


def test_second_run_changes_nothing(namespace_run):
    _, _, outcome = namespace_run
    again = run_function("argo-artifact-repository", outcome.stdout)
    assert again.exit_code == 0, again.stderr
    assert output_item_texts(again.stdout) == [i.raw for i in ResourceList.parse(outcome.stdout).items]
    assert "0 KFP settings changed" in again.stderr


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
def test_controller_target_rewrites_the_bundled_configmap(version):
    outcome = run_function("argo-artifact-repository", resource_list(rendered_items_text(version), CONTROLLER_CONFIG))
    assert outcome.exit_code == 0, outcome.stderr
    items = _by_key(load_output(outcome.stdout))
    repo = argo_reads(
        items[("v1", "ConfigMap", "kubeflow", "workflow-controller-configmap")]["data"]["artifactRepository"]
    )
    assert repo["s3"]["endpoint"] == "objects.corp.example:9000" and repo["s3"]["bucket"] == "ml-artifacts"
    assert repo["s3"]["accessKeySecret"] == {"name": "mlpipeline-s3-artifact", "key": "accesskey"}
    assert ("v1", "ConfigMap", "kubeflow", "artifact-repositories") not in items
    api = _env(items[("apps/v1", "Deployment", "kubeflow", "ml-pipeline")])
    assert api["OBJECTSTORECONFIG_PORT"] == "9000"
    assert api["OBJECTSTORECONFIG_SECRETACCESSKEY"] == {
        "secretKeyRef": {"name": "mlpipeline-s3-artifact", "key": "secretkey"}
    }
    ui = _env(items[("apps/v1", "Deployment", "kubeflow", "ml-pipeline-ui")])
    assert ui["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "mlpipeline-s3-artifact", "key": "accesskey"}}
    assert ui["AWS_S3_PORT"] == "9000"


def test_controller_target_after_remove_argo_is_an_error():
    removed = run_function(
        "remove-argo",
        resource_list(
            rendered_items_text("v1.10"), "apiVersion: kfkrm.dev/v1alpha1\nkind: RemoveArgo\nmetadata: {name: r}\n"
        ),
    )
    text = ResourceList.parse(removed.stdout)
    items_text = "".join(i.raw for i in text.items)
    outcome = run_function("argo-artifact-repository", resource_list(items_text, CONTROLLER_CONFIG))
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and "no ConfigMap workflow-controller-configmap" in outcome.stderr


def test_an_existing_artifact_repositories_configmap_is_updated():
    existing = """apiVersion: v1
kind: ConfigMap
metadata:
  name: artifact-repositories
  namespace: kubeflow
  annotations: {workflows.argoproj.io/default-artifact-repository: old}
data:
  old: |
    s3: {bucket: b, endpoint: minio:9000}
"""
    outcome = run_function("argo-artifact-repository", resource_list(items_block(existing), NAMESPACE_CONFIG))
    assert outcome.exit_code == 0, outcome.stderr
    doc = load_output(outcome.stdout)
    assert len(doc["items"]) == 1
    cm = doc["items"][0]
    assert cm["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"] == "default-v1"
    assert set(cm["data"]) == {"old", "default-v1"}
    argo_reads(cm["data"]["default-v1"])
    assert any(r["severity"] == "warning" and "was key 'old'" in r["message"] for r in doc["results"])


def _config(s3: str, rest: str = "target: namespace\nnamespaces: [kubeflow]\n") -> str:
    return f"apiVersion: kfkrm.dev/v1alpha1\nkind: ArgoArtifactRepository\nmetadata: {{name: x}}\ns3: {s3}\n{rest}"


@pytest.mark.parametrize(
    "config, problem",
    [
        (_config("{bucket: b, endpoint: s3.amazonaws.com}"), "no credentials"),
        (
            _config("{bucket: b, endpoint: 'https://s3.amazonaws.com', useSDKCreds: true}"),
            "s3.endpoint: must be host[:port] without a scheme",
        ),
        (
            _config(
                "{bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true, accessKeySecret: {name: a, key: k}, secretKeySecret: {name: a, key: s}}"
            ),
            "not both",
        ),
        (_config("{bucket: b, endpoint: s3.amazonaws.com, accessKeySecret: {name: a, key: k}}"), "set both"),
        (
            _config("{bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true}", "target: namespace\n"),
            "needs at least one namespace",
        ),
        (_config("{bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true}", "target: everywhere\n"), "target"),
        (_config("{bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true, bukcet: c}"), "s3.bukcet: unknown field"),
        (
            _config(
                "{bucket: b, endpoint: s3.amazonaws.com, useSDKCreds: true}",
                "target: namespace\nnamespaces: [Kubeflow]\n",
            ),
            "not a namespace name",
        ),
    ],
)
def test_bad_config(config, problem):
    text = resource_list(items_block("apiVersion: v1\nkind: Namespace\nmetadata: {name: kubeflow}\n"), config)
    outcome = run_function("argo-artifact-repository", text)
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and problem in outcome.stderr, outcome.stderr
    assert output_item_texts(outcome.stdout) == [i.raw for i in ResourceList.parse(text).items]


def test_tool_annotations_are_not_minio_references():
    """kustomize's own annotations name the source file (`.../deployment_minio.yaml`): not a
    reference to minio, so no warning (found through `kfkrm build`'s per-call route)."""
    items = items_block("""apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: kubeflow
  annotations:
    config.kubernetes.io/path: kubeflow/configmap_minio-settings.yaml
    internal.config.kubernetes.io/path: kubeflow/configmap_minio-settings.yaml
    note: talks to minio
data:
  a: b
""")
    outcome = run_function("argo-artifact-repository", resource_list(items, NAMESPACE_CONFIG))
    warnings = [r for r in load_output(outcome.stdout).get("results") or [] if r["severity"] == "warning"]
    assert [w["field"]["path"] for w in warnings if w.get("resourceRef", {}).get("name") == "settings"] == [
        'metadata.annotations.note'
    ]
