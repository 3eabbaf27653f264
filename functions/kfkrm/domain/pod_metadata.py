"""What PodTemplateLabels and PodTemplateAnnotations share: select, walk, set, report.

Upstream opts some workloads out of the mesh on purpose with an explicit
`sidecar.istio.io/inject: "false"` (label or annotation): admission webhooks and
controllers that must reach the API server or be reached by it before any sidecar is
ready (katib-controller, kserve-controller-manager, training-operator, metacontroller, ...
nine of them on Kubeflow 1.9). Turning those into "true" breaks them, so an explicit
opt-out is kept by default, with a warning naming the workload; `forceInjection: true`
overrides it. The profile's derived policy exempts exactly the opt-outs kept."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from ..runtime.config import Model
from ..runtime.podtemplates import SIDECAR_INJECT, has_pod_template, pod_template, set_template_metadata
from ..runtime.results import error, info, warn
from ..runtime.selectors import select

FORCE_INJECTION = "forceInjection"
NAMESPACE_INJECTION, NAMESPACE_REVISION = "istio-injection", "istio.io/rev"


class OptOuts(Model):
    """The option both pod-template functions take about upstream's sidecar opt-outs."""

    forceInjection: bool = Field(
        False,
        description='set sidecar.istio.io/inject: "true" even where upstream opts a workload out with "false" '
        "(default: such opt-outs are kept, each with a warning)",
    )


def injection_opt_out(tpl):
    """Where the pod template opts out of sidecar injection explicitly ("labels"/"annotations"), else None."""
    for key in ("labels", "annotations"):
        if str(getattr(tpl, key).get(SIDECAR_INJECT)).lower() == "false":
            return key
    return None


def opt_outs_left(items, namespaces) -> list:
    """The workloads in `namespaces` whose pod template opts out of the mesh explicitly."""
    wanted = set(namespaces)
    found = []
    for item in items:
        if item.namespace not in wanted or item.is_local_config or not has_pod_template(item):
            continue
        tpl = pod_template(item)
        if tpl is not None and injection_opt_out(tpl):
            found.append(item)
    return found


def apply_to_pod_templates(rl, config, key: str, values: dict) -> str:
    selected = [i for i in select(rl.items, config.include, config.exclude) if has_pod_template(i)]
    if config.include and not selected:
        error(rl, f"include selects no workload with a pod template; nothing would get the {key}")
        return ""
    changed = 0
    for item in selected:
        tpl = pod_template(item)
        if tpl is None:
            warn(rl, f"{item.kind} has no pod template; skipped", item)
            continue
        wanted = values
        opted_out = injection_opt_out(tpl) if str(values.get(SIDECAR_INJECT)).lower() == "true" else None
        if opted_out and not getattr(config, FORCE_INJECTION, False):
            wanted = {k: v for k, v in values.items() if k != SIDECAR_INJECT}
            rl.result(
                f"keeps upstream's {SIDECAR_INJECT}: \"false\" (pod {opted_out[:-1]}): Kubeflow opts this workload "
                f"out of the mesh on purpose; set {FORCE_INJECTION}: true to inject it anyway",
                "warning",
                item,
                tpl.field("metadata", opted_out, SIDECAR_INJECT),
            )
        keys = set_template_metadata(rl, tpl, key, wanted) if wanted else []
        if keys:
            changed += 1
            info(rl, f"set pod-template {key}: {', '.join(keys)}", item, tpl.field("metadata", key))
    if not selected:
        warn(rl, f"no workload with a pod template in the input; no {key} set")
    up_to_date = len(selected) - changed
    return f"set {key} on {changed} pod templates ({up_to_date} of {len(selected)} selected already up to date)"


def injection(tpl, namespace_labels: Optional[dict]) -> tuple[bool, str, str]:
    """(injected, why, field) for a pod template: the pod label, else the pod annotation,
    else the namespace's label decides (None: the Namespace is not in the stream)."""
    for key in ("labels", "annotations"):
        value = getattr(tpl, key).get(SIDECAR_INJECT)
        if value is not None:
            where = tpl.field("metadata", key, SIDECAR_INJECT)
            return str(value).lower() == "true", f"pod {key[:-1]} {SIDECAR_INJECT}: {value!r}", where
    where = tpl.field("metadata")
    if namespace_labels is None:
        return (
            False,
            "its Namespace is not in the stream and the pod template does not set sidecar.istio.io/inject",
            where,
        )
    if NAMESPACE_REVISION in namespace_labels:
        return True, f"namespace label {NAMESPACE_REVISION}", where
    value = namespace_labels.get(NAMESPACE_INJECTION)
    if str(value) == "enabled":
        return True, f"namespace label {NAMESPACE_INJECTION}: enabled", where
    why = (
        f"namespace label {NAMESPACE_INJECTION}: {value}"
        if value is not None
        else f"its Namespace has neither {NAMESPACE_INJECTION}: enabled nor {NAMESPACE_REVISION}, and the pod "
        f"template does not set {SIDECAR_INJECT}"
    )
    return False, why, where
