"""removeBundledObjectStore on Kubeflow Pipelines 2.15 (Kubeflow 1.11), where SeaweedFS, not
minio, serves S3 behind the Service minio-service: tests/data/kfp-2.15-seaweedfs/all.yaml is KFP
2.15.0's own render (see its PROVENANCE). Oracles independent of the function's code:

- the objects that must go, named from KFP 2.15's manifests (third-party/seaweedfs), compared with
  what is gone (and nothing else);
- a plain string scan of the output items for every address of the removed store;
- the rewritten sync.py *executed* (botocore stubbed by a session whose clients fail on any call:
  the organisation's store is not SeaweedFS, so no IAM or lifecycle call may be made), and what it
  asks the cluster to create checked field by field; the unrewritten script, under the same stub,
  does call SeaweedFS's IAM (so the stub can fail);
- the profile's derived policy and the integrity rule on the output; a second run changes nothing.
The three embedded releases are covered by tests/test_remove_bundled_minio.py (same option).
"""

from __future__ import annotations

import base64
import collections
import functools
import http.server
import sys
import types
from pathlib import Path

import pytest
import yaml

from helpers import items_block, load_output, resource_list, run_function, yaml_docs, yaml_load
from kfkrm.runtime.resourcelist import items_from_stream

FIXTURE = Path(__file__).parent / "data" / "kfp-2.15-seaweedfs" / "all.yaml"
BUCKET = "ml-artifacts"
SECRET_S3 = {
    "bucket": BUCKET,
    "endpoint": "objects.corp.example.com:9443",
    "region": "eu-central-1",
    "accessKeySecret": {"name": "corp-s3", "key": "AWS_ACCESS_KEY_ID"},
    "secretKeySecret": {"name": "corp-s3", "key": "AWS_SECRET_ACCESS_KEY"},
}
SDK_S3 = {"bucket": BUCKET, "endpoint": "s3.amazonaws.com", "region": "us-west-2", "useSDKCreds": True}
# Every address of KFP 2.15's store: its Services (minio-service, seaweedfs), Secret and scheme.
ADDRESSING = ("minio-service", "seaweedfs.kubeflow", "seaweedfs:", "mlpipeline-minio-artifact", "minio://")
# kubeflow/pipelines 2.15.0 manifests/kustomize/third-party/seaweedfs/{base/seaweedfs,istio}: every object.
SEAWEEDFS = {
    ("Deployment", "kubeflow", "seaweedfs"),
    ("Service", "kubeflow", "seaweedfs"),
    ("Service", "kubeflow", "minio-service"),
    ("Secret", "kubeflow", "mlpipeline-minio-artifact"),
    ("PersistentVolumeClaim", "kubeflow", "seaweedfs-pvc"),
    ("ServiceAccount", "kubeflow", "seaweedfs"),
    ("NetworkPolicy", "kubeflow", "seaweedfs"),
    ("AuthorizationPolicy", "kubeflow", "seaweedfs-service"),
    ("DestinationRule", "kubeflow", "ml-pipeline-seaweedfs"),
}


@functools.lru_cache(maxsize=None)
def fixture_items() -> str:
    return "".join(item.raw for item in items_from_stream(FIXTURE.read_text()))


def function_config(s3: dict, **extra) -> str:
    config = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "ArgoArtifactRepository",
        "metadata": {"name": "s3"},
        "s3": s3,
        "target": "namespace",
        "namespaces": ["kubeflow"],
        "removeBundledObjectStore": True,
    }
    config.update(extra)
    return yaml.safe_dump(config, sort_keys=False)


@functools.lru_cache(maxsize=None)
def run(mode: str, items: str = ""):
    s3 = SECRET_S3 if mode == "secret" else SDK_S3
    out = run_function("argo-artifact-repository", resource_list(items or fixture_items(), function_config(s3)))
    return out, load_output(out.stdout) if out.exit_code == 0 else None


def items_block_of(stdout: str) -> str:
    start = stdout.index("\nitems:\n") + len("\nitems:\n")
    return stdout[start : stdout.index("\nfunctionConfig:\n", start) + 1]


def key(obj: dict) -> tuple:
    return obj["kind"], (obj.get("metadata") or {}).get("namespace", ""), obj["metadata"]["name"]


@functools.lru_cache(maxsize=None)
def input_docs() -> tuple:
    return tuple(yaml_docs(FIXTURE.read_text()))


@pytest.fixture(params=["secret", "sdk"], scope="module")
def case(request):
    out, parsed = run(request.param)
    assert out.exit_code == 0, out.stderr
    return request.param, out, parsed


def test_the_fixture_is_kfp_2_15_with_seaweedfs_behind_minio_service():
    import hashlib

    provenance = (FIXTURE.parent / "PROVENANCE").read_text()
    assert f"sha256: {hashlib.sha256(FIXTURE.read_bytes()).hexdigest()}" in provenance  # the file it describes
    docs = {key(d): d for d in input_docs()}
    assert SEAWEEDFS <= set(docs)
    assert docs[("ConfigMap", "kubeflow", "pipeline-install-config")]["data"]["appVersion"] == "2.15.0"
    assert docs[("Service", "kubeflow", "minio-service")]["spec"]["selector"] == {
        "app": "seaweedfs",
        "application-crd-id": "kubeflow-pipelines",
    }
    images = [
        c["image"]
        for d in input_docs()
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert not any(i.split("@")[0].rsplit("/", 1)[-1].startswith("minio:") for i in images)  # no minio at all


def test_the_seaweedfs_store_and_nothing_else_goes(case):
    mode, out, parsed = case
    before = {key(d) for d in input_docs()}
    after = {key(i) for i in parsed["items"]}
    assert before - after == SEAWEEDFS
    assert after - before == {("ConfigMap", "kubeflow", "artifact-repositories")}
    text = items_block_of(out.stdout)
    for needle in ADDRESSING:
        assert needle not in text, needle
    removed = [r for r in parsed["results"] if r["message"].startswith("removed:")]
    assert {(r["resourceRef"]["kind"], r["resourceRef"]["namespace"], r["resourceRef"]["name"]) for r in removed} == (
        SEAWEEDFS
    )


def test_the_profile_controller_reaches_the_organisation_store(case):
    mode, out, parsed = case
    controller = next(
        i
        for i in parsed["items"]
        if i["kind"] == "Deployment" and i["metadata"]["name"] == "kubeflow-pipelines-profile-controller"
    )
    env = {e["name"]: e for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    s3 = SECRET_S3 if mode == "secret" else SDK_S3
    assert env["AWS_ENDPOINT_URL"]["value"] == env["S3_ENDPOINT_URL"]["value"] == "https://" + s3["endpoint"]
    if mode == "secret":
        for name, ref in (("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"), ("MINIO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")):
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "corp-s3", "key": ref}
    else:
        assert not [n for n, e in env.items() if "secretKeyRef" in (e.get("valueFrom") or {})]


# -- the rewritten sync.py, executed ---------------------------------------------------------------


class _NoServer:
    def __init__(self, address, handler):
        self.RequestHandlerClass = handler

    def serve_forever(self):
        pass


class _Client:
    """A botocore client that records the call and fails: no call may reach a store."""

    def __init__(self, calls: list, name: str):
        self._calls, self._name = calls, name

    def __getattr__(self, method):
        def call(*args, **kwargs):
            self._calls.append(f"{self._name}.{method}")
            raise RuntimeError(f"{self._name}.{method} called")

        return call


def _botocore(calls: list) -> types.ModuleType:
    session = types.SimpleNamespace(create_client=lambda name, **kw: _Client(calls, name))
    module = types.ModuleType("botocore.session")
    module.get_session = lambda: session
    return module


def script_of(items: list) -> str:
    by = {key(i): i for i in items}
    controller = by[("Deployment", "kubeflow", "kubeflow-pipelines-profile-controller")]
    volume = controller["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    return by[("ConfigMap", "kubeflow", volume)]["data"]["sync.py"]


def sync_hook(script: str, monkeypatch, calls: list):
    parent = types.ModuleType("botocore")
    parent.session = _botocore(calls)
    monkeypatch.setitem(sys.modules, "botocore", parent)
    monkeypatch.setitem(sys.modules, "botocore.session", parent.session)
    monkeypatch.setattr(http.server, "HTTPServer", _NoServer)
    for name, value in {
        "KFP_VERSION": "2.15.0",
        "ARTIFACTS_PROXY_ENABLED": "true",
        "ARTIFACT_RETENTION_DAYS": "-1",
        "MINIO_ACCESS_KEY": "corp-access",
        "MINIO_SECRET_KEY": "corp-secret",
    }.items():
        monkeypatch.setenv(name, value)
    namespace = {"__name__": "sync"}
    exec(compile(script, "sync.py", "exec"), namespace)
    handler = namespace["server_factory"](**namespace["get_settings_from_env"]()).RequestHandlerClass
    return object.__new__(handler)


PARENT = {"metadata": {"name": "team-a", "labels": {"pipelines.kubeflow.org/enabled": "true"}}}


def test_the_unrewritten_script_calls_seaweedfs_iam(monkeypatch):
    """The harness can fail: KFP 2.15's own script makes an access key on SeaweedFS."""
    calls: list = []
    original = script_of(list(input_docs()))
    hook = sync_hook(original, monkeypatch, calls)
    with pytest.raises(RuntimeError, match="iam.create_access_key"):
        hook.sync(PARENT, collections.defaultdict(dict))


def test_rewritten_script_creates_only_what_reaches_the_organisation_store(case, monkeypatch):
    mode, out, parsed = case
    calls: list = []
    hook = sync_hook(script_of(parsed["items"]), monkeypatch, calls)
    desired = hook.sync(PARENT, collections.defaultdict(dict))
    assert calls == []  # no IAM user, no lifecycle policy on the organisation's bucket
    created = desired["attachments"]
    text = yaml.safe_dump(created)
    for needle in ADDRESSING:
        assert needle not in text, needle
    by = {(c["kind"], c["metadata"]["name"]): c for c in created}
    s3 = SECRET_S3 if mode == "secret" else SDK_S3
    launcher = by[("ConfigMap", "kfp-launcher")]["data"]
    assert launcher["defaultPipelineRoot"] == f"s3://{BUCKET}/private-artifacts/team-a/v2/artifacts"
    assert yaml_load(launcher["providers"])["s3"]["default"]["endpoint"] == "https://" + s3["endpoint"]
    repository = by[("ConfigMap", "artifact-repositories")]
    default = yaml_load(repository["data"]["default-namespaced"])["s3"]
    assert (default["endpoint"], default["bucket"], default["insecure"], default["region"]) == (
        s3["endpoint"],
        BUCKET,
        False,
        s3["region"],
    )
    assert default["keyFormat"].startswith("private-artifacts/team-a/{{workflow.name}}/")  # upstream's, kept
    artifact = by[("Deployment", "ml-pipeline-ui-artifact")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in artifact["env"]}
    assert env["MINIO_HOST"] == env["AWS_S3_ENDPOINT"] == s3["endpoint"].partition(":")[0]
    assert env["FRONTEND_SERVER_NAMESPACE"] == "team-a"  # upstream's variable entry kept
    secrets = [c for c in created if c["kind"] == "Secret"]
    if mode == "secret":
        assert default["accessKeySecret"] == {"name": "corp-s3", "key": "AWS_ACCESS_KEY_ID"}
        assert [(s["metadata"]["name"], s["metadata"]["namespace"]) for s in secrets] == [("corp-s3", "team-a")]
        data = {k: base64.b64decode(v).decode() for k, v in secrets[0]["data"].items()}
        assert data == {"AWS_ACCESS_KEY_ID": "corp-access", "AWS_SECRET_ACCESS_KEY": "corp-secret"}
    else:
        assert default.get("useSDKCreds") is True and "accessKeySecret" not in default
        assert secrets == []
    # Readiness: once what it asked for exists (keyed as metacontroller reports attachments), ready.
    observed = collections.defaultdict(dict)
    for c in created:
        observed[f"{c['kind']}.{c['apiVersion']}"][f"team-a/{c['metadata']['name']}"] = c
    assert hook.sync(PARENT, observed)["status"]["kubeflow-pipelines-ready"] == "True"
    assert calls == []


def test_second_run_changes_nothing(case):
    mode, out, parsed = case
    s3 = SECRET_S3 if mode == "secret" else SDK_S3
    again = run_function("argo-artifact-repository", resource_list(items_block_of(out.stdout), function_config(s3)))
    assert again.exit_code == 0, again.stderr
    assert items_block_of(again.stdout) == items_block_of(out.stdout)


def test_profile_policy_and_integrity_pass_on_the_output():
    """The profile removes the store and validates its output with the derived policy (which forbids
    the store's names) and the integrity rule (baseline: the input): nothing new dangles."""
    profile = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "EnterpriseProfile",
        "metadata": {"name": "corp"},
        "argo": {
            "artifactRepository": {"s3": SECRET_S3, "removeBundledObjectStore": True, "namespaces": ["kubeflow"]},
        },
        "validate": True,
    }
    profile["argo"]["artifactRepository"]["target"] = "namespace"
    out = run_function("enterprise-profile", resource_list(fixture_items(), yaml.safe_dump(profile)))
    assert out.exit_code == 0, out.stderr
    # ... and the derived policy fails the input itself on the store's objects (the rule can fail).
    from kfkrm.fns.enterprise_profile import Config, derived_policy

    forbid = derived_policy(Config.model_validate(profile))["forbid"][1]
    policy = {"apiVersion": "kfkrm.dev/v1alpha1", "kind": "EnterprisePolicy", "metadata": {"name": "p"}}
    raw = run_function(
        "enterprise-policy", resource_list(fixture_items(), yaml.safe_dump({**policy, "forbid": forbid}))
    )
    flagged = {r["resourceRef"]["name"] for r in load_output(raw.stdout)["results"] if r["severity"] == "error"}
    assert (
        raw.exit_code == 1 and {"seaweedfs", "minio-service", "seaweedfs-pvc", "mlpipeline-minio-artifact"} <= flagged
    )


# -- when the store cannot be identified ------------------------------------------------------------


def without(*drop: tuple) -> str:
    return items_block(*(yaml.safe_dump(d) for d in input_docs() if key(d) not in drop))


def test_a_minio_service_with_nothing_behind_it_is_an_error():
    out, _ = run("sdk", without(("Deployment", "kubeflow", "seaweedfs")))
    assert out.exit_code == 1 and "Traceback" not in out.stderr
    assert "minio-service" in out.stderr and "cannot be identified" in out.stderr


def test_kfp_addressing_minio_service_without_it_is_an_error():
    out, _ = run(
        "sdk",
        without(("Deployment", "kubeflow", "seaweedfs"), ("Service", "kubeflow", "minio-service")),
    )
    assert out.exit_code == 1 and "Traceback" not in out.stderr
    assert "still addresses minio-service" in out.stderr


def test_the_deprecated_alias_works_and_says_so():
    config = yaml_load(function_config(SDK_S3))
    del config["removeBundledObjectStore"]
    config["removeBundledMinio"] = True
    out = run_function("argo-artifact-repository", resource_list(fixture_items(), yaml.safe_dump(config)))
    assert out.exit_code == 0, out.stderr
    parsed = load_output(out.stdout)
    assert not {("Deployment", "kubeflow", "seaweedfs")} & {key(i) for i in parsed["items"]}
    assert any(
        r["severity"] == "warning" and "removeBundledMinio is deprecated" in r["message"] for r in parsed["results"]
    )
    config["removeBundledObjectStore"] = False
    both = run_function("argo-artifact-repository", resource_list(fixture_items(), yaml.safe_dump(config)))
    assert both.exit_code == 1 and "set only removeBundledObjectStore" in both.stderr
