"""Kubeflow's auth service (oidc-authservice up to 1.7, oauth2-proxy from 1.8): how to find
its workload and the objects that belong to it.

Shared by AuthServiceRelocation (which moves them) and EnterprisePolicy (which checks where
they are), so that both agree on what "the auth service" is.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Optional

from ..runtime.kinds import is_core
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.selectors import SelectorTerm, select
from .images import parse_reference
from .labelselector import match_labels

# Kubeflow's auth services, by image repository (any registry prefix).
AUTH_IMAGES = ("*/oidc-authservice", "*/oauth2-proxy")
AUTH_IMAGE_MARKERS = ("oidc-authservice", "oauth2-proxy")


def find_auth_workloads(rl, workload: Optional[SelectorTerm] = None) -> list:
    """The workloads running the auth service: by `workload`, or by Kubeflow's images."""
    if workload is not None:
        return [i for i in select(rl.items, [workload]) if has_pod_template(i)]
    found = []
    for item in rl.mutable_items():
        if not has_pod_template(item) or (item.raw is not None and not any(m in item.raw for m in AUTH_IMAGE_MARKERS)):
            continue
        tpl = pod_template(item)
        if tpl and any(runs_auth_image(container) for _, container in tpl.containers()):
            found.append(item)
    return found


def runs_auth_image(container: dict) -> bool:
    reference = parse_reference(container.get("image"))
    return reference is not None and any(fnmatchcase(reference.name, glob) for glob in AUTH_IMAGES)


def referenced_objects(tpl, workload) -> set:
    """(kind, name) of every same-namespace object the pod spec names."""
    spec = tpl.spec
    refs = set()
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if sa:
        refs.add(("ServiceAccount", sa))
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        refs |= _volume_refs(volume)
        for source in (volume.get("projected") or {}).get("sources") or []:
            refs |= _volume_refs(source)
    for secret in spec.get("imagePullSecrets") or []:
        if isinstance(secret, dict) and secret.get("name"):
            refs.add(("Secret", secret["name"]))
    for _, container in tpl.containers():
        for source in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if (source.get(key) or {}).get("name"):
                    refs.add((kind, source[key]["name"]))
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if (value_from.get(key) or {}).get("name"):
                    refs.add((kind, value_from[key]["name"]))
    service_name = (workload.obj.get("spec") or {}).get("serviceName")  # StatefulSet's governing Service
    if service_name:
        refs.add(("Service", service_name))
    return refs


def _volume_refs(source: dict) -> set:
    refs = set()
    if (source.get("configMap") or {}).get("name"):
        refs.add(("ConfigMap", source["configMap"]["name"]))
    secret = source.get("secret") or {}
    if secret.get("secretName") or secret.get("name"):
        refs.add(("Secret", secret.get("secretName") or secret.get("name")))
    if (source.get("persistentVolumeClaim") or {}).get("claimName"):
        refs.add(("PersistentVolumeClaim", source["persistentVolumeClaim"]["claimName"]))
    return refs


def pod_labels(workload, tpl) -> dict:
    """The labels that select exactly the auth pods: the workload's selector, else its template labels."""
    return dict(match_labels(workload.obj) or tpl.labels)


def services_selecting(items, namespace: str, labels: dict) -> list:
    """Services in `namespace` whose selector picks the pods carrying `labels`."""
    found = []
    for item in items:
        if is_core(item, "Service") and item.namespace == namespace:
            selector = (item.obj.get("spec") or {}).get("selector") or {}
            if selector and all(str(labels.get(k)) == str(v) for k, v in selector.items()):
                found.append(item)
    return found


def named_after(workload, name: str) -> bool:
    """`oauth2-proxy`, `authservice-pvc`: a name that marks an object as the workload's own."""
    return name == workload.name or name.startswith(workload.name + "-")


def objects_to_move(rl, workload, tpl) -> tuple[list, list]:
    """The auth service's objects in its namespace, and the (kind, name) its pods use that are absent.

    Its objects: what its pod spec names, the Services selecting its pods, the
    VirtualServices and DestinationRules routing to those Services, and whatever is named
    after the workload (`oauth2-proxy`, `authservice-pvc`). Nothing else in the namespace
    moves, so a partial input (a kpt package holding only the auth files) keeps e.g. the
    gateway's EnvoyFilter where it is.
    """
    namespace = workload.namespace
    in_namespace = [i for i in rl.mutable_items() if i.namespace == namespace and i is not workload]
    refs = referenced_objects(tpl, workload)
    by_key = {(i.kind, i.name): i for i in in_namespace if i.group == ""}
    moving = [workload] + [by_key[r] for r in sorted(refs) if r in by_key]
    moving += [s for s in services_selecting(in_namespace, namespace, pod_labels(workload, tpl)) if s not in moving]
    moving += [i for i in in_namespace if i not in moving and named_after(workload, i.name)]
    service_names = [s.name for s in moving if s.kind == "Service"]
    for item in in_namespace:  # VirtualServices and DestinationRules routing to its Services
        if (
            item.group == "networking.istio.io"
            and item.kind in ("VirtualService", "DestinationRule")
            and item not in moving
        ):
            if any(
                re.search(rf"(?<![\w.-]){re.escape(s)}(\.{re.escape(namespace)})?(?![\w-])", item.raw or "")
                for s in service_names
            ):
                moving.append(item)
    return moving, [r for r in sorted(refs) if r not in by_key]
