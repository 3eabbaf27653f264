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
Every minio reference left in the stream afterwards is a warning naming it.

With `removeBundledObjectStore: true` (deprecated alias: `removeBundledMinio`) the bundled
object store goes, whatever S3 server the Service `minio-service` selects (minio up to KFP 2.14,
SeaweedFS in KFP 2.15; its objects are found by evidence, see domain/object_store.py), and every
other place KFP reaches it follows: the UI's minio client
settings (MINIO_*: KFP's UI reads a non-AWS endpoint through them), the credentials of the API
server, UI and profile controller, the profile controller's `sync.py` (the Secret it copies into
each profile namespace, its per-namespace artifact server, its kfp-launcher ConfigMap), KFP v2's
kfp-launcher `providers` (KFP 2.2 and later) and a `minio://` defaultPipelineRoot, the viewer
controller's unused MINIO_NAMESPACE, and a workflow-controller-configmap still in the stream.
On KFP 2.15 also the profile controller's per-namespace Argo `artifact-repositories`, its bucket
constant, its `minio://` pipeline root, its SeaweedFS access-key and lifecycle calls (see
domain/kfp_sync_script.py), and any env value that addresses a removed Service or reads a removed
Secret (the profile controller's AWS_ENDPOINT_URL, S3_ENDPOINT_URL, AWS_* keys). A `minio-service`
selecting nothing in the input, or KFP addressing `minio-service` with no such Service, is an
error: the store cannot be identified.
The credentials choice (one Secret, or useSDKCreds) is the same one Argo's repository uses."""

from __future__ import annotations

import json
import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..domain import kfp_sync_script, object_store, workload_identity
from ..domain.labelselector import match_labels
from ..runtime import yamlio
from ..runtime.config import FunctionConfig, Model
from ..runtime.k8svalidation import is_dns_label
from ..runtime.kinds import is_core
from ..runtime.paths import field_path
from ..runtime.podtemplates import pod_template
from ..runtime.resourcelist import TOOL_ANNOTATION_PREFIXES
from ..runtime.results import error, info, warn

REPOSITORIES_CONFIGMAP = "artifact-repositories"
DEFAULT_KEY = "default-v1"
DEFAULT_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
ARGO_DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"  # Argo's own default when keyFormat is unset
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
    keyFormat: Optional[str] = Field(
        None,
        description="artifact key format with Argo workflow variables (Argo's default: {{workflow.name}}/{{pod.name}})",
    )
    useSDKCreds: bool = Field(
        False, description="use the AWS SDK's default credentials (e.g. IRSA) instead of a Secret"
    )
    accessKeySecret: Optional[SecretKeyRef] = Field(None, description="Secret key holding the access key")
    secretKeySecret: Optional[SecretKeyRef] = Field(None, description="Secret key holding the secret key")

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, endpoint):
        if "://" in endpoint:
            raise ValueError(
                f"must be host[:port] without a scheme; use insecure: true for plain HTTP (got {endpoint!r})"
            )
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
    target: Literal["namespace", "controller"] = Field(
        ...,
        description="namespace: emit artifact-repositories ConfigMaps in `namespaces`; controller: rewrite "
        "workflow-controller-configmap",
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="namespaces to emit the artifact-repositories ConfigMap in (target: namespace)",
    )
    archiveLogs: bool = Field(True, description="have Argo archive pod logs to the store (KFP's UI reads them there)")
    removeBundledObjectStore: bool = Field(
        False,
        description="remove the object store Kubeflow Pipelines bundles (whatever S3 server the Service "
        "minio-service selects: minio, SeaweedFS) and point every KFP component that used it at this store",
    )
    removeBundledMinio: bool = Field(False, description="deprecated alias of removeBundledObjectStore")

    @property
    def remove_store(self) -> bool:
        return self.removeBundledObjectStore or self.removeBundledMinio

    @model_validator(mode="after")
    def _alias_agrees(self):
        if self.removeBundledMinio and "removeBundledObjectStore" in self.model_fields_set:
            raise ValueError(
                "removeBundledMinio is the deprecated alias of removeBundledObjectStore: "
                "set only removeBundledObjectStore"
            )
        return self

    @field_validator("namespaces")
    @classmethod
    def _valid_namespaces(cls, namespaces):
        for ns in namespaces:
            if not is_dns_label(ns):
                raise ValueError(f"{ns!r} is not a namespace name (a DNS label)")
        return namespaces

    @model_validator(mode="after")
    def _namespaces_for_target(self):
        if self.target == "namespace" and not self.namespaces:
            raise ValueError("namespaces: target: namespace needs at least one namespace")
        if self.target == "controller" and self.namespaces:
            raise ValueError("namespaces: only used with target: namespace")
        return self

    @model_validator(mode="after")
    def _one_secret_for_kfp(self):
        """KFP's profile controller copies one Secret into each profile namespace and KFP v2's
        launcher reads both keys from one Secret: with the minio gone, that Secret is this one."""
        s3 = self.s3
        if not self.remove_store or s3.useSDKCreds:
            return self
        if s3.accessKeySecret.name != s3.secretKeySecret.name:
            raise ValueError(
                "s3: with removeBundledObjectStore, accessKeySecret and secretKeySecret must name one Secret "
                "(KFP copies one Secret into each profile namespace and reads both keys from it)"
            )
        if s3.accessKeySecret.name == object_store.KFP_MINIO_SECRET:
            raise ValueError(
                f"s3: with removeBundledObjectStore, the Secret cannot be {object_store.KFP_MINIO_SECRET}, "
                "the bundled store's, which is removed; name the organisation's own Secret"
            )
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
    controller_cms = [i for i in items if is_core(i, "ConfigMap") and i.name == CONTROLLER_CONFIGMAP]
    if config.target == "controller" and not controller_cms:
        error(
            rl,
            f"target: controller, but there is no ConfigMap {CONTROLLER_CONFIGMAP} in the input "
            "(removed by remove-argo? then use target: namespace)",
            field="target",
        )
        return ""
    found = None
    if config.removeBundledMinio:
        rl.result(
            "removeBundledMinio is deprecated: it is removeBundledObjectStore now (the bundled store is "
            "SeaweedFS from KFP 2.15); rename the field",
            "warning",
            field="removeBundledMinio",
        )
    if config.remove_store:
        found = _remove_bundled_store(rl, items)
        if rl.has_errors:
            return ""
        items = list(rl.mutable_items())
    if config.target == "controller" or (config.remove_store and controller_cms):
        # With the minio gone, a controller ConfigMap still in the stream cannot keep pointing at it.
        for cm in controller_cms:
            data = cm.obj.get("data")
            if not isinstance(data, dict):
                data = cm.obj["data"] = {}
            if data.get("artifactRepository") != repository_text:
                data["artifactRepository"] = repository_text
                info(
                    rl,
                    f"artifactRepository now s3 bucket {config.s3.bucket} at {config.s3.endpoint}",
                    cm,
                    "data.artifactRepository",
                )
            done.append(f"{cm.ref()} artifactRepository")
    if config.target == "namespace":
        for ns in config.namespaces:
            done.append(_namespace_repository(rl, items, ns, repository_text))

    kfp_changes = _point_kfp_at_store(rl, items, config)
    if found is not None:
        kfp_changes += _repoint_kfp_from_minio(rl, items, config, found)
        kfp_changes += _repoint_leftovers(rl, items, config, found)
    _warn_minio_left(rl, config, found)
    if config.s3.useSDKCreds:
        readers = workload_identity.object_store_readers(rl.items)
        warn(
            rl,
            workload_identity.iam_action(readers, config.s3.endpoint),
            field="s3.useSDKCreds",
            key="argo-artifact-repository/workload-identity",
            action=True,
        )
    removed = ""
    if found is not None:
        removed = f"; removed {len(found.remove)} objects of the bundled object store"
    return (
        f"artifact store s3://{config.s3.bucket} at {config.s3.endpoint}: {', '.join(done)}; "
        f"{kfp_changes} KFP settings changed{removed}"
    )


def _namespace_repository(rl, items, namespace: str, repository_text: str) -> str:
    """Set (or add) the artifact-repositories ConfigMap of one namespace."""
    existing = next(
        (i for i in items if is_core(i, "ConfigMap") and i.name == REPOSITORIES_CONFIGMAP and i.namespace == namespace),
        None,
    )
    if existing is None:
        item = rl.add(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": REPOSITORIES_CONFIGMAP,
                    "namespace": namespace,
                    "annotations": {DEFAULT_ANNOTATION: DEFAULT_KEY},
                },
                "data": {DEFAULT_KEY: repository_text},
            }
        )
        info(rl, f"added ({DEFAULT_KEY}, the default artifact repository)", item)
        return f"added {namespace}/{REPOSITORIES_CONFIGMAP}"
    obj = existing.obj
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = {}
    previous_default = annotations.get(DEFAULT_ANNOTATION)
    if previous_default not in (None, DEFAULT_KEY):
        warn(
            rl,
            f"the default artifact repository was key {previous_default!r}; now {DEFAULT_KEY!r}",
            existing,
            field_path(("metadata", "annotations", DEFAULT_ANNOTATION)),
        )
    annotations[DEFAULT_ANNOTATION] = DEFAULT_KEY
    data = obj.get("data")
    if not isinstance(data, dict):
        data = obj["data"] = {}
    data[DEFAULT_KEY] = repository_text
    if existing.changed:
        info(rl, f"set {DEFAULT_KEY} as the default artifact repository", existing, f"data.{DEFAULT_KEY}")
    return f"set {namespace}/{REPOSITORIES_CONFIGMAP}"


def _point_kfp_at_store(rl, items, config: Config) -> int:
    """Point KFP's own object-store settings at the bucket and endpoint; returns how many changed."""
    s3 = config.s3
    secure = "false" if s3.insecure else "true"
    changed = 0
    for item in items:
        if is_core(item, "ConfigMap") and item.name in ("pipeline-install-config", "kfp-launcher"):
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
        changed += _set_env(
            rl,
            item,
            env,
            f"{app}: object-store settings now point at s3 bucket {s3.bucket} on {s3.endpoint}",
            names=config.remove_store,
        )
    for app, seen in found.items():
        if not seen:
            warn(rl, f"no Deployment selecting app: {app} in the input; its object-store settings were not set")
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
            info(rl, f"{key}: {data.get(key)!r} -> {value!r}", item, f"data.{key}")
            data[key] = value
            changed += 1
    if "defaultPipelineRoot" in wanted and not config.s3.host.endswith("amazonaws.com") and not config.remove_store:
        # (with removeBundledObjectStore the launcher's providers are written, or their absence is warned about)
        rl.result(
            f"KFP v2 pipelines write to {wanted['defaultPipelineRoot']} with the AWS defaults: configure the "
            f"kfp-launcher providers for endpoint {config.s3.endpoint}",
            "warning",
            item,
            "data.defaultPipelineRoot",
        )
    return changed


def _selected_app(item) -> Optional[str]:
    match = match_labels(item.obj)
    return match.get("app")


def _set_env(rl, item, values: dict, message: str, drop: tuple = (), names: bool = False) -> int:
    """Set env entries (and drop the `drop` ones) on the containers that already carry KFP's
    object-store settings; with `names`, the result lists the variables changed."""
    changed = 0
    changed_names = []
    markers = ("OBJECTSTORECONFIG_", "MINIO_", "AWS_", "ARGO_ARCHIVE")
    for path, container in pod_template(item).containers():
        before = changed
        env = container.get("env")
        if not isinstance(env, list) or not any(
            isinstance(e, dict) and str(e.get("name", "")).startswith(markers) for e in env
        ):
            continue
        if drop:
            kept = [e for e in env if not (isinstance(e, dict) and e.get("name") in drop)]
            changed += len(env) - len(kept)
            changed_names += [f"-{e.get('name')}" for e in env if isinstance(e, dict) and e.get("name") in drop]
            env[:] = kept
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
            changed_names.append(name)
        if changed > before:
            rl.result(message + (f" ({', '.join(changed_names)})" if names else ""), "info", item, f"{path}.env")
        changed_names = []
    return changed


def _warn_minio_left(rl, config: Config, found: Optional[object_store.BundledStore] = None) -> None:
    """One warning per resource that still refers to the bundled minio, naming where. After a
    removal, a field that still addresses it (a removed Service or Secret, a minio:// root) is
    told apart from one that only names minio in KFP's own setting names."""
    own_secrets = set()
    if not config.s3.useSDKCreds:
        own_secrets = {config.s3.accessKeySecret.name, config.s3.secretKeySecret.name}
    for item in rl.mutable_items():
        if item.raw is not None and "minio" not in item.raw.lower():
            continue
        found_paths = list(_minio_paths(item.obj, (), own_secrets))
        paths = [p for p, _ in found_paths]
        if not paths:
            continue
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        if found is None:
            rl.result(f"still refers to the bundled minio at {', '.join(paths[:3])}{more}", "warning", item, paths[0])
            continue
        addressing = [p for p, v in found_paths if object_store.addresses_in(_code_strings(p, v), found)]
        if addressing:
            rl.result(
                f"still addresses the removed bundled minio at {', '.join(addressing)}", "warning", item, addressing[0]
            )
        else:
            rl.result(
                f"names minio only in KFP's own setting names or code, now carrying the organisation's store: "
                f"{', '.join(paths[:3])}{more}",
                "info",  # nothing to do: the names are KFP's, the values the organisation's
                item,
                paths[0],
            )


def _code_strings(path: str, value: str) -> str:
    """The profile controller's script by its strings (its comments address nothing)."""
    if path.endswith(f'["{PROFILE_CONTROLLER_SCRIPT}"]'):
        strings = kfp_sync_script.string_constants(value)
        if strings is not None:
            return "\n".join(strings)
    return value


def _minio_paths(node, path: tuple, own_secrets: set):
    """(field path, text) of every key or string naming minio."""
    if isinstance(node, dict):
        for key, value in node.items():
            if path == ("metadata", "annotations") and str(key).startswith(TOOL_ANNOTATION_PREFIXES):
                continue  # kustomize's file path `.../deployment_minio.yaml` is not a reference
            if "minio" in str(key).lower():
                yield field_path(path + (str(key),)), str(key) + "\n" + yamlio.dump(value)
            else:
                yield from _minio_paths(value, path + (str(key),), own_secrets)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _minio_paths(value, path + (i,), own_secrets)
    elif isinstance(node, str) and "minio" in node.lower() and node not in own_secrets:
        yield field_path(path), node


# -- removeBundledMinio ------------------------------------------------------------------

PROFILE_CONTROLLER_SCRIPT = "sync.py"
VIEWER_CONTROLLER_APP = "ml-pipeline-viewer-crd"
UNUSED_VIEWER_ENV = "MINIO_NAMESPACE"  # KFP's viewer controller never reads it (1.5.0 to 2.5.0 sources)
VIEWER_TEMPLATE_KEY = "viewer-pod-template.json"
LAUNCHER_PROVIDERS_SINCE = (2, 2)  # kfp-launcher `providers` (KFP PR #10625, first in 2.2.0)


def _remove_bundled_store(rl, items) -> object_store.BundledStore:
    found = object_store.find_bundled_store(items)
    for item, message in found.warnings:
        rl.result(message, "warning", item)
    for service in found.unidentified:
        rl.result(
            f"selects no workload in the input: the object store Kubeflow Pipelines reaches through "
            f"{object_store.KFP_MINIO_SERVICE} cannot be identified, so it cannot be removed; render it into the "
            "input (or drop removeBundledObjectStore)",
            "error",
            service,
            "spec.selector",
        )
    if found.unidentified:
        return found
    if not found.remove:
        addressing = [
            i
            for i in items
            if i.raw is not None
            and (object_store.KFP_MINIO_SERVICE in i.raw or object_store.MINIO_SCHEME in i.raw)
            and not i.is_local_config
        ]
        if addressing:
            more = f" and {len(addressing) - 3} more" if len(addressing) > 3 else ""
            rl.result(
                f"Kubeflow Pipelines still addresses {object_store.KFP_MINIO_SERVICE} (or a minio:// root) in "
                f"{', '.join(i.ref() for i in addressing[:3])}{more}, but no Service {object_store.KFP_MINIO_SERVICE} "
                "with the store behind it is in the input: the bundled object store cannot be identified; "
                "render it into the input",
                "error",
            )
            return found
        rl.result(
            "no bundled object store in the input (no Service "
            f"{object_store.KFP_MINIO_SERVICE} selecting a workload) and nothing addresses it: nothing to remove",
            "info",
        )
        return found
    for item, why in found.remove.values():
        rl.remove([item], why=why)
    return found


def _secret_ref(ref: SecretKeyRef) -> dict:
    return {"secretKeyRef": {"name": ref.name, "key": ref.key}}


def _store_port(s3: S3) -> str:
    return s3.port or ("80" if s3.insecure else "443")


def _minio_client_env(config: Config) -> tuple[dict, tuple]:
    """KFP UI's minio client settings (frontend/server/configs.ts): the UI reads an artifact of a
    non-AWS endpoint with it. The endpoint is MINIO_HOST.MINIO_NAMESPACE unless MINIO_NAMESPACE is empty."""
    s3 = config.s3
    env = {
        "MINIO_HOST": s3.host,
        "MINIO_NAMESPACE": "",
        "MINIO_PORT": _store_port(s3),
        "MINIO_SSL": "false" if s3.insecure else "true",
    }
    drop = ()
    if s3.useSDKCreds:
        drop = ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")
    else:
        env["MINIO_ACCESS_KEY"] = s3.accessKeySecret
        env["MINIO_SECRET_KEY"] = s3.secretKeySecret
    return env, drop


def _env_entry(name: str, value) -> dict:
    if isinstance(value, SecretKeyRef):
        return {"name": name, "valueFrom": _secret_ref(value)}
    return {"name": name, "value": value}


def _kfp_version(items) -> Optional[tuple]:
    for item in items:
        if item.kind == "ConfigMap" and item.name == "pipeline-install-config" and "appVersion" in item.raw:
            match = re.match(r"^v?(\d+)\.(\d+)", str((item.obj.get("data") or {}).get("appVersion") or ""))
            if match:
                return int(match.group(1)), int(match.group(2))
    return None


def launcher_providers(config: Config) -> str:
    """KFP v2's kfp-launcher `providers` (backend/src/v2/config/s3.go): the s3 default session."""
    s3 = config.s3
    default = {"endpoint": ("http://" if s3.insecure else "https://") + s3.endpoint}
    if s3.region:
        default["region"] = s3.region
    default["disableSSL"] = s3.insecure
    if s3.useSDKCreds:
        default["credentials"] = {"fromEnv": True}
    else:
        default["credentials"] = {
            "fromEnv": False,
            "secretRef": {
                "secretName": s3.accessKeySecret.name,
                "accessKeyKey": s3.accessKeySecret.key,
                "secretKeyKey": s3.secretKeySecret.key,
            },
        }
    return yamlio.dump({"s3": {"default": default}})


def _repoint_kfp_from_minio(rl, items, config: Config, found: object_store.BundledStore) -> int:
    """Everything in KFP that reached the bundled minio, now at the organisation's store."""
    s3 = config.s3
    changed = 0
    version = _kfp_version(items)
    providers = launcher_providers(config) if version is None or version >= LAUNCHER_PROVIDERS_SINCE else None
    for item in items:
        if item.kind == "ConfigMap" and item.group == "" and item.name in ("pipeline-install-config", "kfp-launcher"):
            changed += _launcher_settings(rl, item, config, providers if item.name == "kfp-launcher" else None)
    if version is not None and version < LAUNCHER_PROVIDERS_SINCE and version >= (2, 0):
        launcher = next((i for i in items if i.kind == "ConfigMap" and i.name == "kfp-launcher"), None)
        rl.result(
            f"KFP {version[0]}.{version[1]}'s v2 launcher has no providers setting: v2 pipelines reach "
            f"{s3.endpoint} with the AWS SDK's defaults in each pipeline pod",
            "warning",
            launcher,
        )
    for item in items:
        if item.kind == "ConfigMap" and item.group == "" and VIEWER_TEMPLATE_KEY in item.raw:
            changed += _viewer_template(rl, item, config)
    minio_env, minio_drop = _minio_client_env(config)
    api_drop = ("OBJECTSTORECONFIG_ACCESSKEY", "OBJECTSTORECONFIG_SECRETACCESSKEY") if s3.useSDKCreds else ()
    for item in items:
        if item.kind != "Deployment" or item.group not in ("apps", "extensions"):
            continue
        app = _selected_app(item)
        if app == "ml-pipeline" and api_drop:
            changed += _set_env(
                rl,
                item,
                {},
                "ml-pipeline: static keys dropped (useSDKCreds: the SDK's credential chain, e.g. IRSA)",
                drop=api_drop,
                names=True,
            )
        elif app == "ml-pipeline-ui":
            changed += _set_env(
                rl,
                item,
                minio_env,
                f"ml-pipeline-ui: its minio client (non-AWS endpoints) now "
                f"reads s3 bucket {s3.bucket} on {s3.endpoint}",
                drop=minio_drop,
                names=True,
            )
        elif app == VIEWER_CONTROLLER_APP:
            changed += _set_env(
                rl,
                item,
                {},
                f"{VIEWER_CONTROLLER_APP}: {UNUSED_VIEWER_ENV} dropped (the viewer controller never reads it)",
                drop=(UNUSED_VIEWER_ENV,),
                names=True,
            )
        elif "sync.py" in item.raw:
            changed += _profile_controller(rl, item, items, config, providers, found)
    if not s3.useSDKCreds:
        secret = s3.accessKeySecret.name
        present = {i.namespace for i in items if i.kind == "Secret" and i.group == "" and i.name == secret}
        kfp = next(
            (
                i.namespace
                for i in items
                if i.kind == "Deployment" and "ml-pipeline" in i.raw and _selected_app(i) == "ml-pipeline"
            ),
            "kubeflow",
        )
        if kfp not in present:
            warn(
                rl,
                f"Secret {secret} (keys {s3.accessKeySecret.key}, {s3.secretKeySecret.key}) is not in the input: "
                f"the organisation provides it in namespace {kfp}, where KFP's API server, UI and profile "
                "controller read it (the profile controller copies it into each profile namespace)",
                key="argo-artifact-repository/credentials-secret",
                action=True,
            )
    if s3.useSDKCreds and not s3.host.endswith("amazonaws.com"):
        warn(
            rl,
            f"useSDKCreds with a non-AWS endpoint ({s3.endpoint}): KFP's UI reads such a store with its minio "
            "client, which needs keys; name a Secret instead, or expect artifact previews to fail",
            key="argo-artifact-repository/sdk-creds-non-aws",
        )
    return changed


def _viewer_template(rl, item, config: Config) -> int:
    """The TensorBoard viewer's pod template (the UI's VIEWER_TENSORBOARD_POD_TEMPLATE_SPEC_PATH):
    TensorFlow reads an s3:// logdir with S3_ENDPOINT, S3_USE_HTTPS, AWS_REGION and the AWS keys.
    Viewer pods run in the profile namespace, where the profile controller copies the Secret."""
    data = item.obj.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(VIEWER_TEMPLATE_KEY), str):
        return 0
    try:
        template = json.loads(data[VIEWER_TEMPLATE_KEY])
    except ValueError:
        rl.result(
            f"{VIEWER_TEMPLATE_KEY} is not JSON; TensorBoard viewers get no s3 settings",
            "warning",
            item,
            field_path(("data", VIEWER_TEMPLATE_KEY)),
        )
        return 0
    if not isinstance(template, dict):
        return 0
    s3 = config.s3
    wanted = {"S3_ENDPOINT": s3.endpoint, "S3_USE_HTTPS": "0" if s3.insecure else "1"}
    if s3.region:
        wanted["AWS_REGION"] = s3.region
    if not s3.useSDKCreds:
        wanted["AWS_ACCESS_KEY_ID"] = s3.accessKeySecret
        wanted["AWS_SECRET_ACCESS_KEY"] = s3.secretKeySecret
    spec = template.setdefault("spec", {})
    containers = spec.setdefault("containers", [{}])
    if not containers or not isinstance(containers[0], dict):
        return 0
    env = containers[0].setdefault("env", [])
    before = json.dumps(env)
    for name, value in wanted.items():
        entry = _env_entry(name, value)
        index = next((i for i, e in enumerate(env) if isinstance(e, dict) and e.get("name") == name), None)
        if index is None:
            env.append(entry)
        else:
            env[index] = entry
    if json.dumps(env) == before:
        return 0
    data[VIEWER_TEMPLATE_KEY] = json.dumps(template, indent=4)
    rl.result(
        f"TensorBoard viewers read s3 logdirs from {s3.endpoint}: " + ", ".join(wanted),
        "info",
        item,
        field_path(("data", VIEWER_TEMPLATE_KEY)),
    )
    return 1


def _launcher_settings(rl, item, config: Config, providers: Optional[str]) -> int:
    data = item.obj.get("data")
    if not isinstance(data, dict):
        return 0
    wanted = {}
    root = data.get("defaultPipelineRoot")
    if isinstance(root, str) and root.startswith(object_store.MINIO_SCHEME):
        wanted["defaultPipelineRoot"] = f"s3://{config.s3.bucket}/v2/artifacts"
    if providers is not None:
        wanted["providers"] = providers
    changed = 0
    for key, value in wanted.items():
        if data.get(key) != value:
            rl.result(
                f"{key} now names s3 bucket {config.s3.bucket} at {config.s3.endpoint}", "info", item, f"data.{key}"
            )
            data[key] = value
            changed += 1
    return changed


def _profile_controller(
    rl, item, items, config: Config, providers: Optional[str], found: object_store.BundledStore
) -> int:
    """KFP's profile controller: a workload running `sync.py` from a ConfigMap volume."""
    template = pod_template(item)
    if template is None:
        return 0
    runs_script = any(
        any(str(a).endswith("/" + PROFILE_CONTROLLER_SCRIPT) for a in (c.get("command") or []) + (c.get("args") or []))
        for _, c in template.containers()
    )
    if not runs_script:
        return 0
    s3 = config.s3
    changed = 0
    if s3.useSDKCreds:
        changed += _set_env(
            rl,
            item,
            {},
            "profile controller: no object-store keys to copy (useSDKCreds)",
            drop=kfp_sync_script.SECRET_ENV_NAMES,
            names=True,
        )
    else:
        keys = dict(zip(kfp_sync_script.SECRET_ENV_NAMES, (s3.accessKeySecret, s3.secretKeySecret)))
        changed += _set_env(
            rl, item, keys, f"profile controller: copies the keys of Secret {s3.accessKeySecret.name}", names=True
        )
    volumes = [v.get("configMap", {}).get("name") for v in template.spec.get("volumes") or [] if isinstance(v, dict)]
    scripts = [
        i
        for i in items
        if i.kind == "ConfigMap"
        and i.group == ""
        and i.namespace == item.namespace
        and i.name in volumes
        and PROFILE_CONTROLLER_SCRIPT in (i.obj.get("data") or {})
    ]
    if not scripts:
        rl.result(
            f"runs {PROFILE_CONTROLLER_SCRIPT}, but the ConfigMap holding it is not in the input: what it "
            "creates in each profile namespace was not repointed",
            "warning",
            item,
        )
    for cm in scripts:
        changed += _sync_script(rl, cm, config, providers, found)
    return changed


def _sync_script(rl, cm, config: Config, providers: Optional[str], found: object_store.BundledStore) -> int:
    s3 = config.s3
    minio_env, minio_drop = _minio_client_env(config)
    env = {**minio_env, "AWS_S3_ENDPOINT": s3.host, "AWS_SSL": "false" if s3.insecure else "true"}
    if s3.region:
        env["AWS_REGION"] = s3.region
    if not s3.useSDKCreds:
        env["AWS_ACCESS_KEY_ID"] = s3.accessKeySecret
        env["AWS_SECRET_ACCESS_KEY"] = s3.secretKeySecret
    want = kfp_sync_script.SyncRewrite(
        secret=None if s3.useSDKCreds else (s3.accessKeySecret.name, s3.accessKeySecret.key, s3.secretKeySecret.key),
        artifact_env=[_env_entry(k, v) for k, v in env.items()],
        drop_env=minio_drop,
        launcher_providers=providers if kfp_sync_script.LAUNCHER_CONFIGMAP in cm.raw else None,
        bucket=s3.bucket,
        endpoint=s3.endpoint,
        endpoint_url=_endpoint_url(s3),
        insecure=s3.insecure,
        region=s3.region,
        removed_addresses=tuple(sorted(found.addresses)),
    )
    data = cm.obj["data"]
    outcome = kfp_sync_script.rewrite(str(data[PROFILE_CONTROLLER_SCRIPT]), want)
    field = field_path(("data", PROFILE_CONTROLLER_SCRIPT))
    for what in outcome.missing:
        rl.result(
            f"{PROFILE_CONTROLLER_SCRIPT}: could not find {what}; what it creates in profile namespaces "
            "may still use the bundled object store",
            "warning",
            cm,
            field,
        )
    if outcome.text != data[PROFILE_CONTROLLER_SCRIPT]:
        data[PROFILE_CONTROLLER_SCRIPT] = outcome.text
        rl.result(
            f"{PROFILE_CONTROLLER_SCRIPT} (what the profile controller creates in each profile namespace): "
            + "; ".join(outcome.changes),
            "info",
            cm,
            field,
        )
        return len(outcome.changes)
    return 0


def _endpoint_url(s3: S3) -> str:
    return ("http://" if s3.insecure else "https://") + s3.endpoint


def _repoint_leftovers(rl, items, config: Config, found: object_store.BundledStore) -> int:
    """What no KFP-specific rewrite covered (KFP 2.15's profile controller reaches SeaweedFS by
    AWS_ENDPOINT_URL, S3_ENDPOINT_URL and AWS_* keys from the removed Secret): every container env
    value that is an address of a removed Service, and every key read from a removed Secret."""
    if not found.addresses and not found.secrets:
        return 0
    s3 = config.s3
    names = "|".join(re.escape(a) for a in sorted(found.addresses, key=len, reverse=True))
    address = re.compile(rf"^(?P<scheme>https?://)?(?:{names})(?::[0-9]+)?(?P<rest>/.*)?$") if names else None
    changed = 0
    for item in items:
        template = pod_template(item)
        if template is None:
            continue
        for path, container in template.containers():
            env = container.get("env")
            if not isinstance(env, list):
                continue
            kept, what = [], []
            for entry in env:
                if not isinstance(entry, dict):
                    kept.append(entry)
                    continue
                value = entry.get("value")
                ref = _dig_ref(entry)
                match = address.match(value) if address is not None and isinstance(value, str) else None
                if match:
                    new = (_endpoint_url(s3) if match.group("scheme") else s3.endpoint) + (match.group("rest") or "")
                    entry = {**entry, "value": new}
                    what.append(f"{entry.get('name')}={new}")
                elif ref is not None and (item.namespace, ref.get("name")) in found.secrets:
                    if s3.useSDKCreds:
                        what.append(f"-{entry.get('name')}")
                        continue
                    key = s3.secretKeySecret if "secret" in str(ref.get("key", "")).lower() else s3.accessKeySecret
                    entry = {**entry, "valueFrom": _secret_ref(key)}
                    what.append(f"{entry.get('name')} from Secret {key.name} key {key.key}")
                kept.append(entry)
            if what:
                env[:] = kept
                changed += len(what)
                rl.result("no longer reaches the removed object store: " + ", ".join(what), "info", item, f"{path}.env")
    return changed


def _dig_ref(entry: dict) -> Optional[dict]:
    ref = (entry.get("valueFrom") or {}).get("secretKeyRef") if isinstance(entry.get("valueFrom"), dict) else None
    return ref if isinstance(ref, dict) else None
