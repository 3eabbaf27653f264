"""Annotations on ServiceAccounts: workload identity.

A cloud IAM binding names a Kubernetes ServiceAccount through an annotation on it:
`eks.amazonaws.com/role-arn` (EKS, IRSA), `iam.gke.io/gcp-service-account` (GKE Workload
Identity), `azure.workload.identity/client-id` (AKS). With argo-artifact-repository's
`useSDKCreds`, KFP's components reach the object store with such an identity instead of
keys. Default targets: every ServiceAccount in the input; `include`/`exclude` narrow that
down (the ServiceAccounts that read the object store on each release are listed in
docs/functions/service-account-annotations.md). An annotation that already has another
value is overwritten and reported; an include term that selects no ServiceAccount is an
error (a typo must not pass as success)."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..runtime.config import FunctionConfig
from ..runtime.k8svalidation import check_annotations
from ..runtime.kinds import is_core
from ..runtime.paths import field_path
from ..runtime.results import error, info, warn
from ..runtime.selectors import Selecting, select


class Config(Selecting, FunctionConfig):
    KIND = "ServiceAccountAnnotations"
    FROM_CONFIGMAP = "map:annotations"

    annotations: dict[str, str] = Field(
        ..., description="annotations to set on every selected ServiceAccount (e.g. eks.amazonaws.com/role-arn)"
    )

    @field_validator("annotations")
    @classmethod
    def _valid_annotations(cls, annotations):
        if not annotations:
            raise ValueError("must set at least one annotation")
        return check_annotations(annotations)


def transform(rl, config: Config) -> str:
    accounts = [i for i in rl.mutable_items() if is_core(i, "ServiceAccount")]
    for n, term in enumerate(config.include):
        if not list(select(accounts, [term])):
            error(
                rl,
                f"include[{n}] selects no ServiceAccount in the input; nothing would be annotated",
                field=f"include[{n}]",
            )
    if rl.has_errors:
        return ""
    selected = list(select(accounts, config.include, config.exclude))
    changed = 0
    for item in selected:
        metadata = item.obj.setdefault("metadata", {})
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = {}
        touched = False
        for key, value in config.annotations.items():
            old = annotations.get(key)
            if old == value:
                continue
            annotations[key] = value
            touched = True
            where = field_path(("metadata", "annotations", key))
            if old is None:
                info(rl, f"set {key}: {value}", item, where)
            else:
                info(rl, f"{key}: {old!r} -> {value!r}", item, where)
        changed += touched
    if not selected:
        warn(rl, "no ServiceAccount selected in the input; nothing annotated")
    up_to_date = len(selected) - changed
    return f"annotated {changed} ServiceAccounts ({up_to_date} of {len(selected)} selected already up to date)"
