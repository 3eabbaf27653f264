"""removeBundledObjectStore (ArgoArtifactRepository and the profile's argo.artifactRepository) on the
three real Kubeflow renders, with oracles independent of the function's own code:

- a plain string scan of the output items for every name that addresses the bundled minio;
- the objects that must go, found by name in the input (every object of the bundled minio is
  named `minio*` or `*-minio*` in every release), compared with what is gone;
- KFP's settings read field by field from the parsed output, configMapKeyRefs resolved;
- the profile controller's sync.py *executed*: its sync hook is called for a profile
  namespace and what it asks the cluster to create is checked;
- a reference check of our own: no Secret, ConfigMap, claim, ServiceAccount or Service
  address in the output (sync.py's creations included) names a removed object;
- a second run changes nothing.
"""

from __future__ import annotations

import collections
import functools
import http.server
import json
import re

import pytest
import yaml

from helpers import load_output, rendered_items_text, resource_list, run_function, yaml_load

RELEASES = ("v1.3.0", "v1.7.0", "v1.10")
BUCKET = "ml-artifacts"
SECRET_S3 = {
    "bucket": BUCKET,
    "endpoint": "objects.corp.example.com:9443",
    "region": "eu-central-1",
    "accessKeySecret": {"name": "corp-s3", "key": "AWS_ACCESS_KEY_ID"},
    "secretKeySecret": {"name": "corp-s3", "key": "AWS_SECRET_ACCESS_KEY"},
}
SDK_S3 = {"bucket": BUCKET, "endpoint": "s3.amazonaws.com", "region": "us-west-2", "useSDKCreds": True}
ADDRESSING = ("minio-service", "minio-service.kubeflow", "mlpipeline-minio-artifact", "minio://")


def function_config(s3: dict, remove: bool = True, target: str = "namespace") -> str:
    config = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "ArgoArtifactRepository",
        "metadata": {"name": "s3"},
        "s3": s3,
        "target": target,
    }
    if target == "namespace":
        config["namespaces"] = ["kubeflow"]
    if remove:
        config["removeBundledObjectStore"] = True
    return yaml.safe_dump(config, sort_keys=False)


def profile_config(s3: dict, external: bool = False) -> str:
    """The bundled Argo kept (target: controller) unless `external` (then RemoveArgo runs, and a
    second run fails by RemoveArgo's design: nothing left to remove)."""
    repository = {"s3": s3, "removeBundledObjectStore": True}
    if external:
        repository["namespaces"] = ["kubeflow"]
    return yaml.safe_dump(
        {
            "apiVersion": "kfkrm.dev/v1alpha1",
            "kind": "EnterpriseProfile",
            "metadata": {"name": "corp"},
            "argo": {"external": external, "artifactRepository": repository},
            "validate": True,
        },
        sort_keys=False,
    )


_RUNS: dict = {}


def run(release: str, config: str):
    if (release, config) not in _RUNS:
        _RUNS[(release, config)] = run_function(
            "enterprise-profile" if "EnterpriseProfile" in config else "argo-artifact-repository",
            resource_list(rendered_items_text(release), config),
        )
    return _RUNS[(release, config)]


def items_text(stdout: str) -> str:
    """The output without its results: results name what was removed, on purpose."""
    return stdout.split("\nresults:\n", 1)[0]


def by_key(items) -> dict:
    return {(i["kind"], (i.get("metadata") or {}).get("namespace", ""), i["metadata"]["name"]): i for i in items}


@functools.lru_cache(maxsize=None)
def input_keys(release: str) -> frozenset:
    return frozenset(by_key(load_output(resource_list(rendered_items_text(release)))["items"]))


_PARSED: dict = {}


def parsed(out) -> dict:
    """The output ResourceList parsed once per run (a v1.10 parse costs seconds)."""
    if id(out) not in _PARSED:
        _PARSED[id(out)] = (out, load_output(out.stdout))
    return _PARSED[id(out)][1]


def deployment(items, app: str) -> dict:
    found = [
        i
        for i in items
        if i["kind"] == "Deployment" and (i["spec"]["selector"].get("matchLabels") or {}).get("app") == app
    ]
    assert len(found) == 1, app
    return found[0]


def env_of(items, app: str) -> dict:
    """name -> resolved value (configMapKeyRef resolved, secretKeyRef as ('secret', name, key))."""
    configmaps = {
        (i["metadata"].get("namespace"), i["metadata"]["name"]): i.get("data") or {}
        for i in items
        if i["kind"] == "ConfigMap"
    }
    dep = deployment(items, app)
    out = {}
    for e in dep["spec"]["template"]["spec"]["containers"][0].get("env") or []:
        source = e.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            out[e["name"]] = configmaps.get((dep["metadata"]["namespace"], ref["name"]), {}).get(ref["key"])
        elif "secretKeyRef" in source:
            out[e["name"]] = ("secret", source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
        else:
            out[e["name"]] = e.get("value", source or None)
    return out


CASES = [(r, m) for r in RELEASES for m in ("secret", "sdk")]


@pytest.fixture(params=CASES, ids=[f"{r}-{m}" for r, m in CASES], scope="module")
def case(request):
    release, mode = request.param
    s3 = SECRET_S3 if mode == "secret" else SDK_S3
    return release, s3, run(release, profile_config(s3))


def test_no_object_and_no_address_of_the_bundled_minio_is_left(case):
    release, s3, out = case
    assert out.exit_code == 0, out.stderr
    text = items_text(out.stdout)
    for needle in ADDRESSING:
        assert needle not in text, f"{needle} still in the output items ({release})"
    before = dict.fromkeys(input_keys(release))
    after = by_key(parsed(out)["items"])
    minio_named = {k for k in before if re.search(r"(^|-)minio", k[2])}
    assert minio_named and not (minio_named & set(after))
    assert {k for k in minio_named if k[0] in ("Deployment", "Service", "Secret", "PersistentVolumeClaim")} == {
        ("Deployment", "kubeflow", "minio"),
        ("Service", "kubeflow", "minio-service"),
        ("Secret", "kubeflow", "mlpipeline-minio-artifact"),
        ("PersistentVolumeClaim", "kubeflow", "minio-pvc"),
    }
    assert set(before) - set(after) == minio_named  # and nothing else
    controller = after[("ConfigMap", "kubeflow", "workflow-controller-configmap")]
    assert yaml_load(controller["data"]["artifactRepository"])["s3"]["bucket"] == BUCKET


@pytest.mark.parametrize("release", ["v1.10"])
def test_with_the_bundled_argo_removed_too(release):
    out = run(release, profile_config(SDK_S3, external=True))
    assert out.exit_code == 0, out.stderr
    for needle in ADDRESSING:
        assert needle not in items_text(out.stdout)
    after = by_key(parsed(out)["items"])
    repositories = after[("ConfigMap", "kubeflow", "artifact-repositories")]
    assert yaml_load(repositories["data"]["default-v1"])["s3"]["useSDKCreds"] is True
    assert ("Deployment", "kubeflow", "workflow-controller") not in after


def test_kfp_names_the_organisation_store_field_by_field(case):
    release, s3, out = case
    items = parsed(out)["items"]
    host, _, port = s3["endpoint"].partition(":")
    api = env_of(items, "ml-pipeline")
    assert api["OBJECTSTORECONFIG_HOST"] == host
    assert api["OBJECTSTORECONFIG_PORT"] == (port or "443")
    assert api["OBJECTSTORECONFIG_SECURE"] == "true"
    assert api["OBJECTSTORECONFIG_BUCKETNAME"] == BUCKET
    assert api["OBJECTSTORECONFIG_REGION"] == s3["region"]
    ui = env_of(items, "ml-pipeline-ui")
    assert ui["AWS_S3_ENDPOINT"] == host and ui["ARGO_ARCHIVE_BUCKETNAME"] == BUCKET
    # KFP's UI reads a non-AWS endpoint with its minio client: MINIO_HOST.MINIO_NAMESPACE unless the latter is empty
    assert ui["MINIO_HOST"] == host and ui["MINIO_NAMESPACE"] == "" and ui["MINIO_PORT"] == (port or "443")
    assert ui["MINIO_SSL"] == "true" and ui["AWS_REGION"] == s3["region"]
    if "useSDKCreds" in s3:
        for env in (api, ui):
            store_keys = [
                k for k, v in env.items() if isinstance(v, tuple) and k.startswith(("OBJECTSTORE", "MINIO", "AWS"))
            ]
            assert not store_keys, "no static keys with useSDKCreds"
    else:
        secret = s3["accessKeySecret"]["name"]
        assert api["OBJECTSTORECONFIG_ACCESSKEY"] == ("secret", secret, "AWS_ACCESS_KEY_ID")
        assert ui["MINIO_SECRET_KEY"] == ("secret", secret, "AWS_SECRET_ACCESS_KEY")
        assert ui["AWS_ACCESS_KEY_ID"] == ("secret", secret, "AWS_ACCESS_KEY_ID")
    configmaps = by_key(items)
    ui_config = configmaps[("ConfigMap", "kubeflow", "ml-pipeline-ui-configmap")]["data"]
    viewer = json.loads(ui_config["viewer-pod-template.json"])
    viewer_env = {e["name"]: e.get("value", e.get("valueFrom")) for e in viewer["spec"]["containers"][0]["env"]}
    assert viewer["spec"]["serviceAccountName"] == "default-editor" and viewer_env["S3_ENDPOINT"] == s3["endpoint"]
    assert ("AWS_ACCESS_KEY_ID" in viewer_env) == ("useSDKCreds" not in s3)
    install = configmaps[("ConfigMap", "kubeflow", "pipeline-install-config")]["data"]
    assert install["bucketName"] == BUCKET
    launcher = configmaps.get(("ConfigMap", "kubeflow", "kfp-launcher"))
    if release == "v1.3.0":
        assert launcher is None and "defaultPipelineRoot" not in install  # KFP 1.5: no v2 launcher
        return
    assert launcher["data"]["defaultPipelineRoot"] == install["defaultPipelineRoot"] == f"s3://{BUCKET}/v2/artifacts"
    if release == "v1.10":  # KFP 2.5: providers (since 2.2) carry endpoint, region and credentials
        default = yaml_load(launcher["data"]["providers"])["s3"]["default"]
        assert default["endpoint"] == "https://" + s3["endpoint"] and default["region"] == s3["region"]
        if "useSDKCreds" in s3:
            assert default["credentials"] == {"fromEnv": True}
        else:
            assert default["credentials"]["secretRef"] == {
                "secretName": "corp-s3",
                "accessKeyKey": "AWS_ACCESS_KEY_ID",
                "secretKeyKey": "AWS_SECRET_ACCESS_KEY",
            }
    else:
        assert "providers" not in launcher["data"]  # KFP 2.0.0-alpha.7 has no such setting: a warning says so
        assert any("no providers setting" in r["message"] for r in parsed(out)["results"])


# -- the profile controller's sync.py, executed -----------------------------------------------


class _NoServer:
    """Stands in for http.server.HTTPServer while sync.py is loaded: records the handler."""

    def __init__(self, address, handler):
        self.RequestHandlerClass = handler

    def serve_forever(self):
        pass


def sync_creations(items, monkeypatch, with_keys: bool, default_root) -> tuple[list, object]:
    """What the profile controller's sync hook asks for in a profile namespace (and the hook)."""
    controller = deployment(items, "kubeflow-pipelines-profile-controller")
    volume = controller["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    script = by_key(items)[("ConfigMap", "kubeflow", volume)]["data"]["sync.py"]
    monkeypatch.setattr(http.server, "HTTPServer", _NoServer)
    monkeypatch.setenv("KFP_VERSION", "0.0.0-test")
    monkeypatch.setenv("DISABLE_ISTIO_SIDECAR", "false")
    for name in ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        if with_keys:
            monkeypatch.setenv(name, "key-" + name)
        else:
            monkeypatch.delenv(name, raising=False)  # with useSDKCreds the controller has none
    if default_root:
        monkeypatch.setenv("KFP_DEFAULT_PIPELINE_ROOT", default_root)
    namespace = {"__name__": "sync"}
    exec(compile(script, "sync.py", "exec"), namespace)
    if "server_factory" in namespace:
        handler = namespace["server_factory"](**namespace["get_settings_from_env"]()).RequestHandlerClass
    else:
        handler = namespace["Controller"]
    hook = object.__new__(handler)
    parent = {"metadata": {"name": "team-a", "labels": {"pipelines.kubeflow.org/enabled": "true"}}}
    desired = hook.sync(parent, collections.defaultdict(list))
    return desired.get("attachments", desired.get("children")), (hook, parent)


def test_profile_controller_creates_nothing_that_reaches_minio(case, monkeypatch):
    release, s3, out = case
    items = parsed(out)["items"]
    install = by_key(items)[("ConfigMap", "kubeflow", "pipeline-install-config")]["data"]
    sdk = "useSDKCreds" in s3
    created, (hook, parent) = sync_creations(items, monkeypatch, not sdk, install.get("defaultPipelineRoot"))
    text = yaml.safe_dump(created)
    for needle in ADDRESSING:
        assert needle not in text
    secrets = [c for c in created if c["kind"] == "Secret"]
    if sdk:
        assert secrets == []
    else:
        assert [(s["metadata"]["name"], sorted(s["data"])) for s in secrets] == [
            ("corp-s3", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
        ]
    host = s3["endpoint"].partition(":")[0]
    artifact = next(
        c for c in created if c["kind"] == "Deployment" and c["metadata"]["name"] == "ml-pipeline-ui-artifact"
    )
    container = artifact["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["MINIO_HOST"] == host and env["MINIO_NAMESPACE"] == "" and env["AWS_S3_ENDPOINT"] == host
    refs = {v["secretKeyRef"]["name"] for v in env.values() if isinstance(v, dict) and "secretKeyRef" in v}
    assert refs == (set() if sdk else {"corp-s3"})
    launchers = [c for c in created if c["kind"] == "ConfigMap" and c["metadata"]["name"] == "kfp-launcher"]
    if release != "v1.3.0":
        assert launchers[0]["data"]["defaultPipelineRoot"] == f"s3://{BUCKET}/v2/artifacts"
        assert ("providers" in launchers[0]["data"]) == (release == "v1.10")
    # Readiness: once what it asked for exists, the controller reports ready (no Secret expected with SDK creds).
    observed = collections.defaultdict(list)
    for c in created:
        observed[f"{c['kind']}.{c['apiVersion']}"].append(c)
    status = hook.sync(parent, observed)["status"]
    assert status["kubeflow-pipelines-ready"] == "True"


# -- nothing dangling ---------------------------------------------------------------------------


def references(obj, namespace: str):
    """(kind, namespace, name) of every Secret, ConfigMap, claim and ServiceAccount an object names."""
    if isinstance(obj, dict):
        for field, kind in (
            ("secretKeyRef", "Secret"),
            ("secretRef", "Secret"),
            ("configMapKeyRef", "ConfigMap"),
            ("configMapRef", "ConfigMap"),
            ("persistentVolumeClaim", "PersistentVolumeClaim"),
        ):
            ref = obj.get(field)
            if isinstance(ref, dict):
                yield kind, namespace, ref.get("name") or ref.get("claimName")
        if isinstance(obj.get("secret"), dict) and obj["secret"].get("secretName"):
            yield "Secret", namespace, obj["secret"]["secretName"]
        if isinstance(obj.get("configMap"), dict) and obj["configMap"].get("name"):
            yield "ConfigMap", namespace, obj["configMap"]["name"]
        if isinstance(obj.get("serviceAccountName"), str):
            yield "ServiceAccount", namespace, obj["serviceAccountName"]
        for value in obj.values():
            yield from references(value, namespace)
    elif isinstance(obj, list):
        for value in obj:
            yield from references(value, namespace)


def strings(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)
    elif isinstance(obj, str):
        yield obj


def test_nothing_points_at_a_removed_object(case):
    release, s3, out = case
    before = dict.fromkeys(input_keys(release))
    items = parsed(out)["items"]
    removed = set(before) - set(by_key(items))
    assert removed
    removed_services = [k for k in removed if k[0] == "Service"]
    addresses = [f"{n}.{ns}" for _, ns, n in removed_services] + [n for _, _, n in removed_services]
    for item in items:
        namespace = (item.get("metadata") or {}).get("namespace", "")
        dangling = [r for r in references(item, namespace) if r in removed]
        assert not dangling, (item["kind"], item["metadata"]["name"], dangling)
        for s in strings(item):
            for address in addresses:
                pattern = rf"(^|[^-\w]){re.escape(address)}($|[^-\w])"
                assert address not in s or not re.search(pattern, s), (item["metadata"]["name"], address)


def test_second_run_changes_nothing(case):
    release, s3, out = case
    again = run_function("enterprise-profile", resource_list(items_block_of(out.stdout), profile_config(s3)))
    assert again.exit_code == 0, again.stderr
    assert items_block_of(again.stdout) == items_block_of(out.stdout)


def items_block_of(stdout: str) -> str:
    """The `items:` block of a ResourceList as kfkrm prints it (items, then functionConfig)."""
    start = stdout.index("\nitems:\n") + len("\nitems:\n")
    return stdout[start : stdout.index("\nfunctionConfig:\n", start) + 1]


# -- evidence, config and policy on small cases ---------------------------------------------------

MINIO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: minio, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: minio}}
  template:
    metadata: {labels: {app: minio}}
    spec:
      containers:
      - {name: minio, image: registry.corp.example.com/proxy/minio/minio:RELEASE.2019, args: [server, /data],
         env: [{name: MINIO_ACCESS_KEY, valueFrom: {secretKeyRef: {name: mlpipeline-minio-artifact, key: accesskey}}}]}
      volumes: [{name: data, persistentVolumeClaim: {claimName: minio-pvc}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: minio-pvc, namespace: kubeflow}
---
apiVersion: v1
kind: Secret
metadata: {name: mlpipeline-minio-artifact, namespace: kubeflow}
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: minio-service, namespace: kubeflow}
spec: {selector: {app: minio}, ports: [{port: 9000}]}
"""
OTHER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: other, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other, tier: store}}
    spec:
      containers: [{name: c, image: busybox}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: minio-pvc}}]
"""
POLICIES = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: minio-only, namespace: kubeflow}
spec: {podSelector: {matchExpressions: [{key: app, operator: In, values: [minio]}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all-stores, namespace: kubeflow}
spec: {podSelector: {matchExpressions: [{key: app, operator: In, values: [minio, other]}]}}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: everyone, namespace: kubeflow}
spec: {rules: [{}]}
"""


def small_run(*docs: str, s3: dict = SDK_S3):
    from helpers import items_block

    return run_function("argo-artifact-repository", resource_list(items_block(*docs), function_config(s3)))


def test_evidence_decides_what_goes():
    out = small_run(MINIO, SERVICE, OTHER, POLICIES)
    assert out.exit_code == 0, out.stderr
    kept = {i["metadata"]["name"] for i in load_output(out.stdout)["items"]}
    # minio, its Service, Secret and minio-only policy go; the claim another workload mounts, the policy
    # that also picks other pods, and the one with no selector stay.
    assert kept == {"other", "minio-pvc", "all-stores", "everyone", "artifact-repositories"}
    warnings = [r for r in load_output(out.stdout)["results"] if r["severity"] == "warning"]
    assert any(r["resourceRef"]["name"] == "minio-pvc" and "also mounted" in r["message"] for r in warnings)


def test_a_minio_kfp_does_not_address_is_kept_with_a_warning():
    out = small_run(MINIO)
    assert out.exit_code == 0, out.stderr
    assert {i["metadata"]["name"] for i in load_output(out.stdout)["items"]} >= {"minio", "minio-pvc"}
    results = load_output(out.stdout)["results"]
    assert any(r["severity"] == "warning" and "no Service minio-service selects it" in r["message"] for r in results)


@pytest.mark.parametrize(
    "s3, problem",
    [
        ({**SECRET_S3, "secretKeySecret": {"name": "other-secret", "key": "k"}}, "must name one Secret"),
        (
            {
                **SECRET_S3,
                "accessKeySecret": {"name": "mlpipeline-minio-artifact", "key": "a"},
                "secretKeySecret": {"name": "mlpipeline-minio-artifact", "key": "s"},
            },
            "the bundled store's, which is removed",
        ),
    ],
)
def test_credentials_that_kfp_cannot_follow_are_errors(s3, problem):
    out = small_run(MINIO, SERVICE, s3=s3)
    assert out.exit_code == 1 and problem in out.stderr and "Traceback" not in out.stderr
    assert out.stdout.count("kind: Deployment") == 1  # the input unchanged


def test_without_the_flag_nothing_is_removed():
    from helpers import items_block

    out = run_function(
        "argo-artifact-repository", resource_list(items_block(MINIO, SERVICE), function_config(SDK_S3, remove=False))
    )
    assert out.exit_code == 0
    assert {i["metadata"]["name"] for i in load_output(out.stdout)["items"]} >= {"minio", "minio-service", "minio-pvc"}


def test_the_derived_policy_forbids_the_bundled_minio():
    from helpers import items_block
    from kfkrm.fns.enterprise_profile import Config, derived_policy

    def forbid(remove: bool) -> list:
        profile = yaml_load(profile_config(SDK_S3))
        profile["argo"]["artifactRepository"]["removeBundledObjectStore"] = remove
        profile["validate"] = {"forbid": [{"kind": "Marker"}]}  # a policy needs some rule
        return [t for t in derived_policy(Config.model_validate(profile))["forbid"][1] if t != {"kind": "Marker"}]

    assert forbid(False) == []
    terms = forbid(True)
    assert {t["name"] for t in terms} == {
        "minio",
        "minio-service",
        "mlpipeline-minio-artifact",
        "minio-pvc",
        "seaweedfs",  # KFP 2.15's store (tests/test_remove_bundled_object_store.py)
        "seaweedfs-pvc",
    }
    # The policy fails the unadapted input on every bundled minio object: the terms can fail ...
    policy = {
        "apiVersion": "kfkrm.dev/v1alpha1",
        "kind": "EnterprisePolicy",
        "metadata": {"name": "p"},
        "forbid": terms,
    }
    raw = run_function("enterprise-policy", resource_list(items_block(MINIO, SERVICE), yaml.safe_dump(policy)))
    assert raw.exit_code == 1
    assert {"minio", "minio-service", "minio-pvc", "mlpipeline-minio-artifact"} <= {
        r["resourceRef"]["name"] for r in load_output(raw.stdout)["results"] if r["severity"] == "error"
    }
    # ... and the profile, which removes them before validating, passes it.
    config = yaml_load(profile_config(SDK_S3))
    config["argo"]["artifactRepository"]["target"] = "namespace"
    config["argo"]["artifactRepository"]["namespaces"] = ["kubeflow"]
    removed = run_function("enterprise-profile", resource_list(items_block(MINIO, SERVICE), yaml.safe_dump(config)))
    assert removed.exit_code == 0, removed.stderr


def test_golden_example_remove_minio():
    """examples/argo-artifact-repository-remove-minio (v1.10's minio wiring, unchanged), as the
    golden-example driver runs it; its items hold no address of the bundled minio."""
    from helpers import REPO, items_block

    case = REPO / "examples" / "argo-artifact-repository-remove-minio"
    out = run_function(
        "argo-artifact-repository",
        resource_list(items_block((case / "resources.yaml").read_text()), (case / "fn-config.yaml").read_text()),
    )
    assert (out.exit_code, out.stderr) == (0, (case / ".expected" / "stderr.txt").read_text())
    assert out.stdout == (case / ".expected" / "output.yaml").read_text()
    for needle in ADDRESSING:
        assert needle not in items_text(out.stdout)
