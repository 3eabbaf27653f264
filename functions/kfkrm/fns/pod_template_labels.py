"""Labels go on pod templates only (spec.template.metadata.labels and the like), never on
selectors: spec.selector is immutable on Deployments and StatefulSets, and kustomize's
commonLabels and kpt's set-labels both rewrite it. Default targets: every workload kind
(Pod, PodTemplate, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
Job, CronJob); include/exclude narrow that down."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..domain.pod_metadata import OptOuts, apply_to_pod_templates
from ..runtime.config import FunctionConfig
from ..runtime.k8svalidation import check_labels
from ..runtime.selectors import Selecting


class Config(Selecting, OptOuts, FunctionConfig):
    KIND = "PodTemplateLabels"
    FROM_CONFIGMAP = "map:labels"

    labels: dict[str, str] = Field(..., description="labels to set on every selected pod template")

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, labels):
        if not labels:
            raise ValueError("must set at least one label")
        return check_labels(labels)


def transform(rl, config: Config) -> str:
    return apply_to_pod_templates(rl, config, "labels", config.labels)
