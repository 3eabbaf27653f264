"""The one pod-template walker every function shares.

Knows where each workload kind keeps its pod template and where a pod spec keeps its
containers, so that no function carries its own list of paths.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, cast

from .paths import field_path
from .resourcelist import Item
from .results import warn

# (group, kind) -> path from the object to its pod template ( () = the object is the pod)
POD_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("extensions", "Deployment"): ("spec", "template"),
    ("extensions", "DaemonSet"): ("spec", "template"),
    ("extensions", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}

WORKLOAD_KINDS = sorted({kind for _, kind in POD_TEMPLATE_PATHS})
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


def has_pod_template(item: Item) -> bool:
    return (item.group, item.kind) in POD_TEMPLATE_PATHS


class PodTemplate:
    """A workload's pod template: its metadata map (created on demand) and its spec."""

    def __init__(self, item: Item, path: tuple[str, ...], template: dict):
        self.item = item
        self.path = path
        self.template = template

    def field(self, *more) -> str:
        return field_path(self.path + more)

    def metadata_map(self, key: str, create: bool) -> Optional[dict]:
        """template.metadata.<key> ("labels" or "annotations"); created when `create`."""
        meta = self.template.get("metadata")
        if not isinstance(meta, dict):
            if not create:
                return None
            meta = self.template["metadata"] = {}
        value = meta.get(key)
        if not isinstance(value, dict):
            if not create:
                return None
            value = meta[key] = {}
        return value

    @property
    def labels(self) -> dict:
        return self.metadata_map("labels", create=False) or {}

    @property
    def annotations(self) -> dict:
        return self.metadata_map("annotations", create=False) or {}

    @property
    def spec(self) -> dict:
        spec = self.template.get("spec")
        return spec if isinstance(spec, dict) else {}

    def containers(self) -> Iterator[tuple[str, dict]]:
        """(field path, container) for every container, init and ephemeral container."""
        spec = self.spec
        for field in CONTAINER_FIELDS:
            for i, container in enumerate(spec.get(field) or []):
                if isinstance(container, dict):
                    yield self.field("spec", field, i), container


def pod_template(item: Item) -> Optional[PodTemplate]:
    """The pod template of a workload item, or None when it has none."""
    path = POD_TEMPLATE_PATHS.get((item.group, item.kind))
    if path is None:
        return None
    node: Any = item.obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    return PodTemplate(item, path, node)


SIDECAR_INJECT = "sidecar.istio.io/inject"


def set_template_metadata(rl, tpl: PodTemplate, key: str, values: dict) -> list[str]:
    """Set `values` into the template's metadata.<key> map; returns the keys that changed.

    Istio reads `sidecar.istio.io/inject` from the pod's labels in preference to its
    annotations, so when this sets one of the two, a conflicting value in the other is
    brought in line and reported: otherwise the setting would silently have no effect.
    """
    current = tpl.metadata_map(key, create=False) or {}
    changed = [k for k, v in values.items() if current.get(k) != v]
    if changed:
        target = cast(dict, tpl.metadata_map(key, create=True))  # create=True: never None
        for k in changed:
            target[k] = values[k]
    if SIDECAR_INJECT in values:
        other = "annotations" if key == "labels" else "labels"
        other_map = tpl.metadata_map(other, create=False) or {}
        wanted = values[SIDECAR_INJECT]
        if SIDECAR_INJECT in other_map and str(other_map[SIDECAR_INJECT]) != wanted:
            old = other_map[SIDECAR_INJECT]
            other_map[SIDECAR_INJECT] = wanted
            warn(
                rl,
                f"pod-template {other[:-1]} {SIDECAR_INJECT} was {old!r}, which conflicts with the "
                f"{key[:-1]} being set; set it to {wanted!r} too",
                tpl.item,
                tpl.field("metadata", other, SIDECAR_INJECT),
            )
            changed.append(f"{other}:{SIDECAR_INJECT}")
    return changed
