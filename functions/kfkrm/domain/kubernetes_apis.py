"""Kubernetes API versions the API server stops serving, by release.

From Kubernetes' Deprecated API Migration Guide
(https://kubernetes.io/docs/reference/using-api/deprecation-guide/, "Removed APIs by
release"): every (group/version, kind) removed in 1.16, 1.22, 1.25, 1.26, 1.27, 1.29 and 1.32,
with the version to migrate to. A manifest using one of them is refused by `kubectl apply`
on that release and later; objects already stored stay readable through the new version.
Used by `kfkrm upgrade-plan --kubernetes-version` and EnterprisePolicy's `kubernetesVersion`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

GUIDE = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"


@dataclass(frozen=True)
class Removal:
    api_version: str
    kind: str
    removed: tuple[int, int]  # the Kubernetes minor release that stopped serving it
    use: str  # the apiVersion to migrate to

    def describe(self) -> str:
        return (
            f"{self.api_version} {self.kind} is not served since Kubernetes {format_minor(self.removed)}; "
            f"use {self.use}"
        )


def _entries(minor: tuple[int, int], table: dict) -> list[Removal]:
    return [Removal(api, kind, minor, use) for (api, use), kinds in table.items() for kind in kinds]


REMOVALS: tuple[Removal, ...] = tuple(
    _entries(
        (1, 16),
        {
            ("extensions/v1beta1", "apps/v1"): ("Deployment", "DaemonSet", "ReplicaSet"),
            ("apps/v1beta1", "apps/v1"): ("Deployment", "StatefulSet", "ReplicaSet"),
            ("apps/v1beta2", "apps/v1"): ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"),
            ("extensions/v1beta1", "networking.k8s.io/v1"): ("NetworkPolicy",),
            ("extensions/v1beta1", "policy/v1beta1"): ("PodSecurityPolicy",),
        },
    )
    + _entries(
        (1, 22),
        {
            ("admissionregistration.k8s.io/v1beta1", "admissionregistration.k8s.io/v1"): (
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration",
            ),
            ("apiextensions.k8s.io/v1beta1", "apiextensions.k8s.io/v1"): ("CustomResourceDefinition",),
            ("apiregistration.k8s.io/v1beta1", "apiregistration.k8s.io/v1"): ("APIService",),
            ("authentication.k8s.io/v1beta1", "authentication.k8s.io/v1"): ("TokenReview",),
            ("authorization.k8s.io/v1beta1", "authorization.k8s.io/v1"): (
                "SubjectAccessReview",
                "LocalSubjectAccessReview",
                "SelfSubjectAccessReview",
            ),
            ("certificates.k8s.io/v1beta1", "certificates.k8s.io/v1"): ("CertificateSigningRequest",),
            ("coordination.k8s.io/v1beta1", "coordination.k8s.io/v1"): ("Lease",),
            ("extensions/v1beta1", "networking.k8s.io/v1"): ("Ingress",),
            ("networking.k8s.io/v1beta1", "networking.k8s.io/v1"): ("Ingress", "IngressClass"),
            ("rbac.authorization.k8s.io/v1beta1", "rbac.authorization.k8s.io/v1"): (
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
            ),
            ("scheduling.k8s.io/v1beta1", "scheduling.k8s.io/v1"): ("PriorityClass",),
            ("storage.k8s.io/v1beta1", "storage.k8s.io/v1"): (
                "CSIDriver",
                "CSINode",
                "StorageClass",
                "VolumeAttachment",
            ),
        },
    )
    + _entries(
        (1, 25),
        {
            ("batch/v1beta1", "batch/v1"): ("CronJob",),
            ("discovery.k8s.io/v1beta1", "discovery.k8s.io/v1"): ("EndpointSlice",),
            ("events.k8s.io/v1beta1", "events.k8s.io/v1"): ("Event",),
            ("autoscaling/v2beta1", "autoscaling/v2"): ("HorizontalPodAutoscaler",),
            ("policy/v1beta1", "policy/v1"): ("PodDisruptionBudget",),
            ("policy/v1beta1", "Pod Security Admission (no replacement API)"): ("PodSecurityPolicy",),
            ("node.k8s.io/v1beta1", "node.k8s.io/v1"): ("RuntimeClass",),
        },
    )
    + _entries(
        (1, 26),
        {
            ("flowcontrol.apiserver.k8s.io/v1beta1", "flowcontrol.apiserver.k8s.io/v1beta3"): (
                "FlowSchema",
                "PriorityLevelConfiguration",
            ),
            ("autoscaling/v2beta2", "autoscaling/v2"): ("HorizontalPodAutoscaler",),
        },
    )
    + _entries((1, 27), {("storage.k8s.io/v1beta1", "storage.k8s.io/v1"): ("CSIStorageCapacity",)})
    + _entries(
        (1, 29),
        {
            ("flowcontrol.apiserver.k8s.io/v1beta2", "flowcontrol.apiserver.k8s.io/v1"): (
                "FlowSchema",
                "PriorityLevelConfiguration",
            )
        },
    )
    + _entries(
        (1, 32),
        {
            ("flowcontrol.apiserver.k8s.io/v1beta3", "flowcontrol.apiserver.k8s.io/v1"): (
                "FlowSchema",
                "PriorityLevelConfiguration",
            )
        },
    )
)
_BY_KEY = {(r.api_version, r.kind): r for r in REMOVALS}
LATEST_IN_TABLE = (1, 32)
_VERSION = re.compile(r"^v?1\.(\d+)(?:\.\d+)?$")


def parse_minor(text) -> tuple[int, int]:
    """`1.25`, `v1.25` or `1.25.3` as (1, 25); ValueError otherwise."""
    m = _VERSION.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a Kubernetes version like 1.31")
    return 1, int(m.group(1))


def format_minor(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def removal(api_version: str, kind: str, minor: tuple[int, int]) -> Optional[Removal]:
    """The removal that makes Kubernetes `minor` refuse `api_version` `kind`, or None when it serves it
    (as far as this table knows: API versions it never served are not in it)."""
    entry = _BY_KEY.get((api_version, kind))
    return entry if entry is not None and entry.removed <= minor else None
