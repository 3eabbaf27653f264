"""Which Istio API versions, kinds and fields each Istio minor version serves.

An organisation's mesh may run an older Istio than the one Kubeflow was built for (the
field report runs Kubeflow 1.3, built for Istio 1.9, on Istio 1.6). Istio rejects, or
silently ignores, configuration its version does not know, so each object of an Istio API
group is checked against this table: is its apiVersion served, and does it use a field
(or a field value) added after that version?

Each entry says where its version comes from. Two versions are checked against real CRDs
in the tests: 1.9 (the CRDs Kubeflow v1.3.0 bundles) and 1.26 (those of Kubeflow v1.10).
The other versions come from Istio's release notes and blog posts, cited per entry; where
only a later version is known to serve something, `since` is that version (a warning too
many rather than one too few). Used by RemoveIstio's `istioVersion`, and meant for the
EnterprisePolicy validator's istioVersion rule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional

Minor = tuple[int, int]  # (1, 6) for Istio 1.6

OLDEST: Minor = (1, 5)  # the first release with the beta security APIs Kubeflow uses
NEWEST: Minor = (1, 26)  # the Istio bundled with Kubeflow v1.10, the newest evidence here

_MINOR = re.compile(r"^1\.(\d{1,2})$")

# Sources cited by the entries below.
CRDS_1_9 = "CRDs of Istio 1.9 (kubeflow v1.3.0 common/istio-1-9-0/istio-crds)"
CRDS_1_26 = "CRDs of Istio 1.26 (kubeflow v1.10 common/istio/istio-crds)"
NOTES_1_5 = "Istio 1.5 change notes / release wiki (v1beta1 networking, beta security APIs, DENY)"
NOTES_1_6 = "Istio 1.6 change notes (WorkloadEntry, VirtualService delegation, alpha security APIs removed)"
BLOG_V1 = "istio.io blog 'Introducing Istio v1 APIs' (v1 in 1.22)"
BLOG_CUSTOM = "istio.io blog 'Better External Authorization' (CUSTOM action in 1.9)"


@dataclass(frozen=True)
class ApiKind:
    """`group/version` `kind` is served from `since` up to, not including, `removed`."""

    group: str
    version: str
    kind: str
    since: Minor
    source: str
    removed: Optional[Minor] = None

    def served_by(self, minor: Minor) -> bool:
        return self.since <= minor and (self.removed is None or minor < self.removed)


@dataclass(frozen=True)
class ApiField:
    """A field (or one value of it) of `kind` that Istio serves from `since` on.

    `path` is dotted from the object's root; `[]` after a name means "every element of
    this list", e.g. `spec.jwtRules[].outputClaimToHeaders`.
    """

    group: str
    kind: str
    path: str
    since: Minor
    source: str
    value: Optional[str] = None  # only this value of the field is new


def _kinds(group: str, version: str, kinds: str, since: Minor, source: str, removed: Optional[Minor] = None):
    return [ApiKind(group, version, k, since, source, removed) for k in kinds.split()]


NET, SEC = "networking.istio.io", "security.istio.io"

KINDS: list[ApiKind] = [
    *_kinds(NET, "v1alpha3", "VirtualService DestinationRule Gateway ServiceEntry EnvoyFilter Sidecar", (1, 1),
            "served by every Istio this table covers; " + CRDS_1_9),
    *_kinds(NET, "v1alpha3", "WorkloadEntry", (1, 6), NOTES_1_6),
    *_kinds(NET, "v1alpha3", "WorkloadGroup", (1, 9), "earliest known: " + CRDS_1_9),
    *_kinds(NET, "v1beta1", "VirtualService DestinationRule Gateway ServiceEntry Sidecar", (1, 5), NOTES_1_5),
    *_kinds(NET, "v1beta1", "WorkloadEntry", (1, 9), "earliest known: " + CRDS_1_9),
    *_kinds(NET, "v1beta1", "WorkloadGroup", (1, 22), "earliest known: served next to v1 (" + BLOG_V1 + "); " + CRDS_1_26),
    *_kinds(NET, "v1beta1", "ProxyConfig", (1, 26), "earliest known: " + CRDS_1_26),
    *_kinds(NET, "v1", "VirtualService DestinationRule Gateway ServiceEntry Sidecar WorkloadEntry WorkloadGroup",
            (1, 22), BLOG_V1),
    *_kinds(SEC, "v1beta1", "AuthorizationPolicy PeerAuthentication RequestAuthentication", (1, 5), NOTES_1_5),
    *_kinds(SEC, "v1", "AuthorizationPolicy PeerAuthentication RequestAuthentication", (1, 22), BLOG_V1),
    *_kinds("telemetry.istio.io", "v1alpha1", "Telemetry", (1, 22), "earliest known: served next to v1 (" + BLOG_V1 + ")"),
    *_kinds("telemetry.istio.io", "v1", "Telemetry", (1, 22), BLOG_V1),
    *_kinds("extensions.istio.io", "v1alpha1", "WasmPlugin", (1, 26), "earliest known: " + CRDS_1_26),
    *_kinds("install.istio.io", "v1alpha1", "IstioOperator", (1, 5), "istioctl's operator API; " + CRDS_1_9 + "; the in-cluster operator went in 1.24, absent from " + CRDS_1_26,
            removed=(1, 24)),
    # The alpha security APIs, gone since 1.6 (NOTES_1_6). Kubeflow v1.3.0 still ships a
    # ServiceRole and ServiceRoleBinding in cluster-local-gateway/base/istio-rbac.yaml,
    # though its kustomization does not list that file.
    *_kinds("rbac.istio.io", "v1alpha1", "ServiceRole ServiceRoleBinding RbacConfig ClusterRbacConfig", (1, 1),
            NOTES_1_6, removed=(1, 6)),
    *_kinds("authentication.istio.io", "v1alpha1", "Policy MeshPolicy", (1, 1), NOTES_1_6, removed=(1, 6)),
]

FIELDS: list[ApiField] = [
    ApiField(SEC, "AuthorizationPolicy", "spec.action", (1, 5), NOTES_1_5, value="DENY"),
    ApiField(SEC, "AuthorizationPolicy", "spec.action", (1, 9), BLOG_CUSTOM, value="CUSTOM"),
    ApiField(SEC, "AuthorizationPolicy", "spec.provider", (1, 9), BLOG_CUSTOM),
    ApiField(NET, "VirtualService", "spec.http[].delegate", (1, 6), NOTES_1_6),
    ApiField(SEC, "RequestAuthentication", "spec.jwtRules[].outputClaimToHeaders", (1, 17),
             "earliest known: the Istio 1.17 task 'Copy JWT Claims to HTTP Headers'; absent from " + CRDS_1_9),
    ApiField(NET, "EnvoyFilter", "spec.priority", (1, 26), "earliest known: " + CRDS_1_26 + "; absent from " + CRDS_1_9),
    ApiField(NET, "DestinationRule", "spec.workloadSelector", (1, 26), "earliest known: " + CRDS_1_26 + "; absent from " + CRDS_1_9),
]

_KIND_INDEX = {(k.group, k.version, k.kind): k for k in KINDS}


def parse_minor(text: str) -> Minor:
    """"1.6" -> (1, 6); ValueError with the supported range otherwise."""
    m = _MINOR.match(text.strip())
    minor = (1, int(m.group(1))) if m else None
    if minor is None or not OLDEST <= minor <= NEWEST:
        raise ValueError(
            f"expected an Istio minor version from {format_minor(OLDEST)} to {format_minor(NEWEST)}, "
            'written as a quoted string like "1.6"'
        )
    return minor


def check_version_field(value):
    """The body of a config's istioVersion validator (mode="before"): None, or a quoted minor."""
    if value is None:
        return value
    if not isinstance(value, str):
        raise ValueError('must be a quoted string like "1.6" (unquoted, 1.10 reads as the number 1.1)')
    parse_minor(value)
    return value


def format_minor(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"


def is_istio_group(group: str) -> bool:
    return group == "istio.io" or group.endswith(".istio.io")


def kind_entry(group: str, version: str, kind: str) -> Optional[ApiKind]:
    """The table's entry for group/version kind, or None when the table does not know it."""
    return _KIND_INDEX.get((group, version, kind))


def newer_fields(minor: Minor, group: str, kind: str, obj: dict) -> Iterator[tuple[str, ApiField]]:
    """(field path in obj, entry) for each field or value in obj that `minor` does not serve."""
    for entry in FIELDS:
        if entry.group != group or entry.kind != kind or entry.since <= minor:
            continue
        for where, value in _find(obj, entry.path.replace("[]", ".[]").split("."), ""):
            if entry.value is None or value == entry.value:
                yield where, entry


def _find(node, parts: list[str], where: str):
    """(field path, value) of every match of parts ("[]" = each list element) under node."""
    if not parts:
        yield where, node
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(node, list):
            for i, element in enumerate(node):
                yield from _find(element, rest, f"{where}[{i}]")
    elif isinstance(node, dict) and head in node:
        yield from _find(node[head], rest, f"{where}.{head}" if where else head)
