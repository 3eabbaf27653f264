"""Which ServiceAccounts read Kubeflow Pipelines' object store: the identities a cloud IAM
binding (IRSA, GKE Workload Identity, Azure workload identity) must name when the store is
reached with the SDK's credential chain (argo-artifact-repository's `useSDKCreds`).

Found by evidence in the render, the same on Kubeflow v1.3.0, v1.7.0 and v1.10:

* a workload whose containers carry the object store's address or bucket in their env
  (KFP's API server: OBJECTSTORECONFIG_HOST/BUCKETNAME; KFP's UI: MINIO_NAMESPACE with
  MINIO_ACCESS_KEY, or MINIO_HOST / AWS_S3_ENDPOINT after argo-artifact-repository) runs as
  a reader: `ml-pipeline` and `ml-pipeline-ui` in Kubeflow's namespace. Keys alone (the
  profile controller's MINIO_ACCESS_KEY, which it only copies into profile namespaces) and
  the namespace alone (v1.3/v1.7's ml-pipeline-viewer-crd, which starts viewer pods) do not count.
* KFP runs workflows as DEFAULTPIPELINERUNNERSERVICEACCOUNT (pipeline-install-config:
  `default-editor`) in each profile namespace: Argo's executor and KFP's v2 launcher write
  artifacts with it.
* the profile controller's sync.py creates ml-pipeline-ui-artifact and
  ml-pipeline-visualizationserver in each profile namespace with `serviceAccountName:
  default-editor`; the artifact server reads the store.

Profile namespaces and their `default-editor` are created at run time by Kubeflow's profile
controller, not by the render: their binding is the Profile's `plugins`
(AwsIamForServiceAccount `awsIamRole`, WorkloadIdentity `gcpServiceAccount`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..runtime.podtemplates import has_pod_template, pod_template

# Env names that say where the store is; a client with keys and the store's namespace is one too.
_STORE_ENV = re.compile(r"^(OBJECTSTORECONFIG_(HOST|BUCKETNAME)|MINIO_HOST|AWS_S3_ENDPOINT|ARGO_ARCHIVE_BUCKETNAME)$")
_MINIO_CLIENT = {"MINIO_NAMESPACE", "MINIO_ACCESS_KEY"}
RUNNER_KEY = "DEFAULTPIPELINERUNNERSERVICEACCOUNT"
_SYNC_SA = re.compile(r'"serviceAccountName"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class Reader:
    namespace: str  # "" for "each profile namespace" (created at run time)
    service_account: str
    why: str

    def ref(self) -> str:
        where = self.namespace or "<each profile namespace>"
        return f"{where}/{self.service_account}"


def object_store_readers(items) -> list[Reader]:
    """The ServiceAccounts that read the object store, in the render's namespaces and in profile namespaces."""
    found: dict[tuple[str, str], list[str]] = {}
    for item in items:
        if item.is_local_config:
            continue
        if has_pod_template(item) and any(m in (item.raw or "") for m in ("OBJECTSTORECONFIG_", "MINIO_", "AWS_S3")):
            tpl = pod_template(item)
            if tpl is None:
                continue
            names = {
                e.get("name")
                for _, c in tpl.containers()
                for e in c.get("env") or []
                if isinstance(e, dict) and isinstance(e.get("name"), str)
            }
            if any(_STORE_ENV.match(n) for n in names) or _MINIO_CLIENT <= names:
                spec = tpl.spec if isinstance(tpl.spec, dict) else {}
                sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
                found.setdefault((item.namespace, str(sa)), []).append(f"{item.kind} {item.name}")
        elif item.kind == "ConfigMap" and item.group == "":
            data = item.obj.get("data") if (RUNNER_KEY in (item.raw or "") or "sync.py" in (item.raw or "")) else None
            if not isinstance(data, dict):
                continue
            runner = data.get(RUNNER_KEY)
            if isinstance(runner, str) and runner:
                found.setdefault(("", runner), []).append(f"KFP's workflows ({RUNNER_KEY} in ConfigMap {item.name})")
            sync = data.get("sync.py")
            if isinstance(sync, str) and "ml-pipeline-ui-artifact" in sync:
                for sa in sorted(set(_SYNC_SA.findall(sync))):
                    found.setdefault(("", sa), []).append(f"ml-pipeline-ui-artifact (ConfigMap {item.name} sync.py)")
    ordered = sorted(found.items(), key=lambda kv: (not kv[0][0], kv[0]))  # the render's own first
    return [Reader(ns, sa, ", ".join(whys)) for (ns, sa), whys in ordered]


def iam_action(readers: list[Reader], endpoint: str) -> str:
    """The to-do entry for `useSDKCreds`: which identities need the cloud IAM binding."""
    in_render = [r.ref() for r in readers if r.namespace]
    profile = sorted({r.service_account for r in readers if not r.namespace})
    parts = []
    if in_render:
        parts.append(
            ", ".join(in_render) + " (annotate them: service-account-annotations, or the profile's serviceAccounts)"
        )
    if profile:
        parts.append(
            f"{', '.join(profile)} in each profile namespace (created by Kubeflow's profile controller: the Profile's "
            "plugins, AwsIamForServiceAccount awsIamRole or WorkloadIdentity gcpServiceAccount)"
        )
    who = "; ".join(parts) if parts else "no reader found in the input"
    return f"useSDKCreds: bind a cloud identity that may read and write the bucket on {endpoint} to {who}"
