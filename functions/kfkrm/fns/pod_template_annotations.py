"""Annotations go on pod templates (for example `sidecar.istio.io/inject: "true"` and the
organisation's own). Istio honours a `sidecar.istio.io/inject` pod *label* over the
annotation, and Kubeflow v1.10 sets that label to "false" on many workloads: when this
sets the annotation, a conflicting label on the same template is brought in line and
reported. An explicit upstream opt-out (`sidecar.istio.io/inject: "false"`, label or
annotation) is kept with a warning unless `forceInjection: true`. Default targets: every
workload kind; include/exclude narrow that down."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..domain.pod_metadata import OptOuts, apply_to_pod_templates
from ..runtime.config import FunctionConfig
from ..runtime.k8svalidation import check_annotations
from ..runtime.selectors import Selecting


class Config(Selecting, OptOuts, FunctionConfig):
    KIND = "PodTemplateAnnotations"
    FROM_CONFIGMAP = "map:annotations"

    annotations: dict[str, str] = Field(..., description="annotations to set on every selected pod template")

    @field_validator("annotations")
    @classmethod
    def _valid_annotations(cls, annotations):
        if not annotations:
            raise ValueError("must set at least one annotation")
        return check_annotations(annotations)


def transform(rl, config: Config) -> str:
    return apply_to_pod_templates(rl, config, "annotations", config.annotations)
