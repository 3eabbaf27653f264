"""Points Argo workflows and Kubeflow Pipelines at the organisation's S3 artifact store
instead of the minio that Kubeflow bundles.

Argo side, by `target`: `namespace` emits Argo's per-namespace `artifact-repositories`
ConfigMap (key `default-v1`, made the default by the
`workflows.argoproj.io/default-artifact-repository` annotation) in each of `namespaces`,
for an external Argo; `controller` rewrites `artifactRepository` in
workflow-controller-configmap (the bundled Argo's, or your own in the stream).

KFP side, wherever Kubeflow wires the bundled minio: `bucketName` in pipeline-install-config
(the API server reads its bucket from it), the API server's OBJECTSTORECONFIG_* settings,
the UI's AWS_* settings (it reads s3 artifacts with them) and its log archive settings
(ARGO_ARCHIVE_*, ARGO_KEYFORMAT) so the UI finds the logs where Argo writes them, and
an empty KFP v2 `defaultPipelineRoot`, which would mean the bundled minio.
Every minio reference left in the stream afterwards is a warning naming it."""
from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..runtime import yamlio
from ..runtime.config import FunctionConfig, Model
from ..runtime.paths import field_path
from ..runtime.podtemplates import pod_template
from ..runtime.resourcelist import TOOL_ANNOTATION_PREFIXES

EXAMPLE = """
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
  useSDKCreds: true          # e.g. IRSA; or name the Secret:
  # accessKeySecret: {name: mlpipeline-s3-artifact, key: accesskey}
  # secretKeySecret: {name: mlpipeline-s3-artifact, key: secretkey}
target: namespace            # or controller: rewrite artifactRepository in workflow-controller-configmap
namespaces: [kubeflow]
"""

REPOSITORIES_CONFIGMAP = "artifact-repositories"
DEFAULT_KEY = "default-v1"
DEFAULT_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
ARGO_DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"  # Argo's own default when keyFormat is unset
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:(?P<port>[0-9]{1,5}))?$")
# A keyFormat that KFP 1.x UIs can follow: ARGO_ARCHIVE_PREFIX/<workflow>/<pod>.
_PREFIX_KEY_FORMAT = re.compile(r"^(?P<prefix>[^{}]+)/\{\{workflow\.name\}\}/\{\{pod\.name\}\}$")


class SecretKeyRef(Model):
    name: str = Field(..., description="Secret name (in each workflow namespace)")
    key: str = Field(..., description="key within the Secret")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name):
        if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", name):
            raise ValueError(f"{name!r} is not a Secret name (lower-case DNS subdomain)")
        return name


class S3(Model):
    bucket: str = Field(..., min_length=1, description="bucket name")
    endpoint: str = Field(..., description="host[:port] of the S3 service, no scheme, e.g. s3.amazonaws.com")
    region: Optional[str] = Field(None, description="bucket region")
    insecure: bool = Field(False, description="plain HTTP instead of TLS")
    keyFormat: Optional[str] = Field(None, description="artifact key format with Argo workflow variables (Argo's default: {{workflow.name}}/{{pod.name}})")
    useSDKCreds: bool = Field(False, description="use the AWS SDK's default credentials (e.g. IRSA) instead of a Secret")
    accessKeySecret: Optional[SecretKeyRef] = Field(None, description="Secret key holding the access key")
    secretKeySecret: Optional[SecretKeyRef] = Field(None, description="Secret key holding the secret key")

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, endpoint):
        if "://" in endpoint:
            raise ValueError(f"must be host[:port] without a scheme; use insecure: true for plain HTTP (got {endpoint!r})")
        if not _HOST_PORT.match(endpoint):
            raise ValueError(f"must be host[:port], e.g. s3.amazonaws.com (got {endpoint!r})")
        return endpoint

    @model_validator(mode="after")
    def _credentials(self):
        secrets = [self.accessKeySecret, self.secretKeySecret]
        if any(secrets) and not all(secrets):
            raise ValueError("s3: accessKeySecret and secretKeySecret go together; set both")
        if self.useSDKCreds and any(secrets):
            raise ValueError("s3: set either useSDKCreds: true or accessKeySecret/secretKeySecret, not both")
        if not self.useSDKCreds and not any(secrets):
            raise ValueError("s3: no credentials; set useSDKCreds: true, or accessKeySecret and secretKeySecret")
        return self

    @property
    def host(self) -> str:
        return _HOST_PORT.match(self.endpoint).group("host")

    @property
    def port(self) -> Optional[str]:
        return _HOST_PORT.match(self.endpoint).group("port")


class Config(FunctionConfig):
    KIND = "ArgoArtifactRepository"

    s3: S3 = Field(..., description="the S3 artifact store")
    target: Literal["namespace", "controller"] = Field(..., description="namespace: emit artifact-repositories ConfigMaps in `namespaces`; controller: rewrite workflow-controller-configmap")
    namespaces: list[str] = Field(default_factory=list, description="namespaces to emit the artifact-repositories ConfigMap in (target: namespace)")
    archiveLogs: bool = Field(True, description="have Argo archive pod logs to the store (KFP's UI reads them there)")

    @field_validator("namespaces")
    @classmethod
    def _valid_namespaces(cls, namespaces):
        for ns in namespaces:
            if not _DNS_LABEL.match(ns):
                raise ValueError(f"{ns!r} is not a namespace name (a DNS label)")
        return namespaces

    @model_validator(mode="after")
    def _namespaces_for_target(self):
        if self.target == "namespace" and not self.namespaces:
            raise ValueError("namespaces: target: namespace needs at least one namespace")
        if self.target == "controller" and self.namespaces:
            raise ValueError("namespaces: only used with target: namespace")
        return self


def artifact_repository(config: Config) -> dict:
    """The ArtifactRepository object Argo documents: archiveLogs and an s3 block."""
    s3 = config.s3
    block = {"bucket": s3.bucket, "endpoint": s3.endpoint}
    if s3.region:
        block["region"] = s3.region
    block["insecure"] = s3.insecure
    if s3.keyFormat:
        block["keyFormat"] = s3.keyFormat
    if s3.useSDKCreds:
        block["useSDKCreds"] = True
    else:
        block["accessKeySecret"] = {"name": s3.accessKeySecret.name, "key": s3.accessKeySecret.key}
        block["secretKeySecret"] = {"name": s3.secretKeySecret.name, "key": s3.secretKeySecret.key}
    return {"archiveLogs": config.archiveLogs, "s3": block}


def transform(rl, config: Config) -> str:
    items = list(rl.mutable_items())
    repository_text = yamlio.dump(artifact_repository(config))
    done = []
    if config.target == "controller":
        controller_cms = [i for i in items if i.kind == "ConfigMap" and i.group == "" and i.name == CONTROLLER_CONFIGMAP]
        if not controller_cms:
            rl.result(f"target: controller, but there is no ConfigMap {CONTROLLER_CONFIGMAP} in the input "
                      "(removed by remove-argo? then use target: namespace)", "error", field="target")
            return ""
        for cm in controller_cms:
            data = cm.obj.get("data")
            if not isinstance(data, dict):
                data = cm.obj["data"] = {}
            if data.get("artifactRepository") != repository_text:
                data["artifactRepository"] = repository_text
                rl.result(f"artifactRepository now s3 bucket {config.s3.bucket} at {config.s3.endpoint}", "info", cm, "data.artifactRepository")
            done.append(f"{cm.ref()} artifactRepository")
    else:
        for ns in config.namespaces:
            done.append(_namespace_repository(rl, items, ns, repository_text))

    kfp_changes = _point_kfp_at_store(rl, items, config)
    _warn_minio_left(rl, config)
    return (f"artifact store s3://{config.s3.bucket} at {config.s3.endpoint}: {', '.join(done)}; "
            f"{kfp_changes} KFP settings changed")


def _namespace_repository(rl, items, namespace: str, repository_text: str) -> str:
    """Set (or add) the artifact-repositories ConfigMap of one namespace."""
    existing = next((i for i in items if i.kind == "ConfigMap" and i.group == "" and i.name == REPOSITORIES_CONFIGMAP
                     and i.namespace == namespace), None)
    if existing is None:
        item = rl.add({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": REPOSITORIES_CONFIGMAP, "namespace": namespace,
                         "annotations": {DEFAULT_ANNOTATION: DEFAULT_KEY}},
            "data": {DEFAULT_KEY: repository_text},
        })
        rl.result(f"added ({DEFAULT_KEY}, the default artifact repository)", "info", item)
        return f"added {namespace}/{REPOSITORIES_CONFIGMAP}"
    obj = existing.obj
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = {}
    previous_default = annotations.get(DEFAULT_ANNOTATION)
    if previous_default not in (None, DEFAULT_KEY):
        rl.result(f"the default artifact repository was key {previous_default!r}; now {DEFAULT_KEY!r}", "warning", existing,
                  field_path(("metadata", "annotations", DEFAULT_ANNOTATION)))
    annotations[DEFAULT_ANNOTATION] = DEFAULT_KEY
    data = obj.get("data")
    if not isinstance(data, dict):
        data = obj["data"] = {}
    data[DEFAULT_KEY] = repository_text
    if existing.changed:
        rl.result(f"set {DEFAULT_KEY} as the default artifact repository", "info", existing, f"data.{DEFAULT_KEY}")
    return f"set {namespace}/{REPOSITORIES_CONFIGMAP}"


def _point_kfp_at_store(rl, items, config: Config) -> int:
    """Point KFP's own object-store settings at the bucket and endpoint; returns how many changed."""
    s3 = config.s3
    secure = "false" if s3.insecure else "true"
    changed = 0
    for item in items:
        if item.kind == "ConfigMap" and item.name in ("pipeline-install-config", "kfp-launcher") and item.group == "":
            changed += _kfp_configmap(rl, item, config)
    api_env = {
        "OBJECTSTORECONFIG_HOST": s3.host,
        "OBJECTSTORECONFIG_PORT": s3.port or ("80" if s3.insecure else "443"),
        "OBJECTSTORECONFIG_SECURE": secure,
    }
    ui_env = {
        "AWS_S3_ENDPOINT": s3.host,
        "AWS_SSL": secure,
        "ARGO_ARCHIVE_LOGS": "true" if config.archiveLogs else "false",
        "ARGO_ARCHIVE_ARTIFACTORY": "s3",
        "ARGO_ARCHIVE_BUCKETNAME": s3.bucket,
        "ARGO_KEYFORMAT": s3.keyFormat or ARGO_DEFAULT_KEY_FORMAT,
    }
    if s3.port:
        ui_env["AWS_S3_PORT"] = s3.port
    prefix = _PREFIX_KEY_FORMAT.match(s3.keyFormat or ARGO_DEFAULT_KEY_FORMAT)
    if prefix:
        ui_env["ARGO_ARCHIVE_PREFIX"] = prefix.group("prefix")  # KFP 1.x UIs: <prefix>/<workflow>/<pod>
    if s3.region:
        api_env["OBJECTSTORECONFIG_REGION"] = s3.region
        ui_env["AWS_REGION"] = s3.region
    if not s3.useSDKCreds:
        api_env["OBJECTSTORECONFIG_ACCESSKEY"] = s3.accessKeySecret
        api_env["OBJECTSTORECONFIG_SECRETACCESSKEY"] = s3.secretKeySecret
        ui_env["AWS_ACCESS_KEY_ID"] = s3.accessKeySecret
        ui_env["AWS_SECRET_ACCESS_KEY"] = s3.secretKeySecret
    found = {"ml-pipeline": False, "ml-pipeline-ui": False}
    for item in items:
        if item.kind != "Deployment" or "ml-pipeline" not in item.raw:
            continue
        app = _selected_app(item)
        if app not in found:
            continue
        found[app] = True
        env = api_env if app == "ml-pipeline" else ui_env
        changed += _set_env(rl, item, env, f"{app}: object-store settings now point at s3 bucket {s3.bucket} on {s3.endpoint}")
    for app, seen in found.items():
        if not seen:
            rl.result(f"no Deployment selecting app: {app} in the input; its object-store settings were not set", "warning")
    return changed


def _kfp_configmap(rl, item, config: Config) -> int:
    data = item.obj.get("data")
    if not isinstance(data, dict):
        return 0
    wanted = {}
    if item.name == "pipeline-install-config" and "bucketName" in data:
        wanted["bucketName"] = config.s3.bucket
    if "defaultPipelineRoot" in data and not data["defaultPipelineRoot"]:
        # Empty means KFP v2's default, minio://<bucket>/v2/artifacts on the bundled minio.
        wanted["defaultPipelineRoot"] = f"s3://{config.s3.bucket}/v2/artifacts"
    changed = 0
    for key, value in wanted.items():
        if data.get(key) != value:
            rl.result(f"{key}: {data.get(key)!r} -> {value!r}", "info", item, f"data.{key}")
            data[key] = value
            changed += 1
    if "defaultPipelineRoot" in wanted and not config.s3.host.endswith("amazonaws.com"):
        rl.result(f"KFP v2 pipelines write to {wanted['defaultPipelineRoot']} with the AWS defaults: configure the "
                  f"kfp-launcher providers for endpoint {config.s3.endpoint}", "warning", item, "data.defaultPipelineRoot")
    return changed


def _selected_app(item) -> Optional[str]:
    match = ((item.obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return match.get("app")


def _set_env(rl, item, values: dict, message: str) -> int:
    """Set env entries on the containers that already carry KFP's object-store settings."""
    changed = 0
    markers = ("OBJECTSTORECONFIG_", "MINIO_", "AWS_", "ARGO_ARCHIVE")
    for path, container in pod_template(item).containers():
        before = changed
        env = container.get("env")
        if not isinstance(env, list) or not any(isinstance(e, dict) and str(e.get("name", "")).startswith(markers) for e in env):
            continue
        for name, value in values.items():
            entry = {"name": name}
            if isinstance(value, SecretKeyRef):
                entry["valueFrom"] = {"secretKeyRef": {"name": value.name, "key": value.key}}
            else:
                entry["value"] = value
            index = next((i for i, e in enumerate(env) if isinstance(e, dict) and e.get("name") == name), None)
            if index is None:
                env.append(entry)
            elif env[index] != entry:
                env[index] = entry
            else:
                continue
            changed += 1
        if changed > before:
            rl.result(message, "info", item, f"{path}.env")
    return changed


def _warn_minio_left(rl, config: Config) -> None:
    """One warning per resource that still refers to the bundled minio, naming where."""
    own_secrets = set()
    if not config.s3.useSDKCreds:
        own_secrets = {config.s3.accessKeySecret.name, config.s3.secretKeySecret.name}
    for item in rl.mutable_items():
        if item.raw is not None and "minio" not in item.raw.lower():
            continue
        paths = list(_minio_paths(item.obj, (), own_secrets))
        if paths:
            more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            rl.result(f"still refers to the bundled minio at {', '.join(paths[:3])}{more}", "warning", item, paths[0])


def _minio_paths(node, path: tuple, own_secrets: set):
    if isinstance(node, dict):
        for key, value in node.items():
            if path == ("metadata", "annotations") and str(key).startswith(TOOL_ANNOTATION_PREFIXES):
                continue  # kustomize's file path `.../deployment_minio.yaml` is not a reference
            if "minio" in str(key).lower():
                yield field_path(path + (str(key),))
            else:
                yield from _minio_paths(value, path + (str(key),), own_secrets)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _minio_paths(value, path + (i,), own_secrets)
    elif isinstance(node, str) and "minio" in node.lower() and node not in own_secrets:
        yield field_path(path)
