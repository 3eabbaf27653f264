"""Which Istio API versions, kinds and fields each Istio minor version serves.

An organisation's mesh may run an older Istio than the one Kubeflow was built for (the
field report runs Kubeflow 1.3, built for Istio 1.9, on Istio 1.6). Istio rejects, or
silently ignores, configuration its version does not know, so each object of an Istio API
group is checked against this table: is its apiVersion served, and does it use a field
(or a field value) added after that version?

Every `since` is the first Istio minor whose CRDs serve the kind, or define the field (or
the enum value) in a served version's openAPIV3Schema: read off istio/api's
kubernetes/customresourcedefinitions.gen.yaml at each release tag 1.5.0 ... 1.30.0 (the
file Istio's base chart copies as crd-all.gen.yaml), and for 1.31 off its release
announcement. The tests check every entry against the CRDs bundled in the Kubeflow
renders (Istio 1.9 in v1.3.0, 1.16 in v1.7.0, 1.26 in v1.10): nothing those CRDs define
is flagged for that Istio. A few dates come from release notes where the CRDs say less
than Istio does (removals; the in-cluster operator). Used by RemoveIstio's and
EnterprisePolicy's `istioVersion`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional

Minor = tuple[int, int]  # (1, 6) for Istio 1.6

OLDEST: Minor = (1, 5)  # the first release with the beta security APIs Kubeflow uses
# The newest Istio release the table covers: 1.31 (1.31.0 announced 2026-08; 1.31.1 on
# 2026-09-21). Kubeflow 1.11 bundles 1.28. A newer istioVersion is checked as this one,
# with a warning (`newer_than_table`), so that a new Istio release never breaks a build.
NEWEST: Minor = (1, 31)

_VERSION = re.compile(r"^(\d{1,2})\.(\d{1,3})$")


def _crds(minor: str) -> str:
    return f"CRDs of Istio {minor} (istio/api {minor}.0 kubernetes/customresourcedefinitions.gen.yaml)"


# Sources cited by the entries below.
NOTES_1_6 = "Istio 1.6 change notes (the alpha security APIs removed: rbac.istio.io, authentication.istio.io)"
NOTES_1_8 = "Istio 1.8 upgrade notes (Mixer removed: the config.istio.io kinds)"
NOTES_1_24 = (
    "Istio 1.24 upgrade notes (the in-cluster operator removed; its CRD is absent from the Istio 1.26 "
    "of kubeflow v1.10)"
)
OPERATOR = (
    "istioctl's operator API, in Istio's own chart (not istio/api): bundled with Istio 1.9 (kubeflow v1.3.0) "
    "and 1.16 (v1.7.0)"
)
EVERY = "served by every Istio this table covers; " + _crds("1.5")


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
TEL, EXT = "telemetry.istio.io", "extensions.istio.io"

KINDS: list[ApiKind] = [
    *_kinds(NET, "v1alpha3", "VirtualService DestinationRule Gateway ServiceEntry EnvoyFilter Sidecar", (1, 1), EVERY),
    *_kinds(NET, "v1alpha3", "WorkloadEntry", (1, 6), _crds("1.6")),
    *_kinds(NET, "v1alpha3", "WorkloadGroup", (1, 8), _crds("1.8")),
    *_kinds(NET, "v1beta1", "VirtualService DestinationRule Gateway ServiceEntry Sidecar", (1, 5), _crds("1.5")),
    *_kinds(NET, "v1beta1", "WorkloadEntry", (1, 6), _crds("1.6")),
    *_kinds(NET, "v1beta1", "WorkloadGroup ProxyConfig", (1, 13), _crds("1.13")),
    *_kinds(
        NET,
        "v1",
        "VirtualService DestinationRule Gateway ServiceEntry Sidecar WorkloadEntry WorkloadGroup",
        (1, 22),
        _crds("1.22"),
    ),
    *_kinds(SEC, "v1beta1", "AuthorizationPolicy PeerAuthentication RequestAuthentication", (1, 5), _crds("1.5")),
    *_kinds(SEC, "v1", "AuthorizationPolicy RequestAuthentication", (1, 17), _crds("1.17")),
    *_kinds(SEC, "v1", "PeerAuthentication", (1, 22), _crds("1.22")),
    *_kinds(TEL, "v1alpha1", "Telemetry", (1, 10), _crds("1.10")),
    *_kinds(TEL, "v1", "Telemetry", (1, 22), _crds("1.22")),
    *_kinds(EXT, "v1alpha1", "WasmPlugin", (1, 12), _crds("1.12")),
    *_kinds(EXT, "v1alpha1", "TrafficExtension", (1, 30), _crds("1.30")),
    *_kinds("install.istio.io", "v1alpha1", "IstioOperator", (1, 5), OPERATOR + "; " + NOTES_1_24, removed=(1, 24)),
    # The alpha security APIs, gone since 1.6 (NOTES_1_6; istio/api 1.6.0 still generates
    # the rbac CRDs, which Istio 1.6 no longer reads). Kubeflow v1.3.0 still ships a
    # ServiceRole and ServiceRoleBinding in cluster-local-gateway/base/istio-rbac.yaml,
    # though its kustomization does not list that file.
    *_kinds(
        "rbac.istio.io",
        "v1alpha1",
        "ServiceRole ServiceRoleBinding RbacConfig ClusterRbacConfig",
        (1, 1),
        NOTES_1_6,
        removed=(1, 6),
    ),
    *_kinds("authentication.istio.io", "v1alpha1", "Policy MeshPolicy", (1, 1), NOTES_1_6, removed=(1, 6)),
    # Mixer's configuration kinds: in the CRDs of 1.5 to 1.7, gone with Mixer in 1.8.
    *_kinds(
        "config.istio.io",
        "v1alpha2",
        "attributemanifest handler instance rule HTTPAPISpec HTTPAPISpecBinding QuotaSpec QuotaSpecBinding",
        (1, 1),
        _crds("1.7") + "; " + NOTES_1_8,
        removed=(1, 8),
    ),
]

FIELDS: list[ApiField] = [
    ApiField(SEC, "AuthorizationPolicy", "spec.action", (1, 5), _crds("1.5"), value="DENY"),
    # CUSTOM and AUDIT: in the enum (and the proto, CUSTOM "experimental") from 1.8; GA-documented in 1.9.
    ApiField(SEC, "AuthorizationPolicy", "spec.action", (1, 8), _crds("1.8"), value="CUSTOM"),
    ApiField(SEC, "AuthorizationPolicy", "spec.action", (1, 8), _crds("1.8"), value="AUDIT"),
    ApiField(SEC, "AuthorizationPolicy", "spec.provider", (1, 8), _crds("1.8")),
    ApiField(SEC, "AuthorizationPolicy", "spec.targetRef", (1, 20), _crds("1.20")),
    ApiField(SEC, "AuthorizationPolicy", "spec.targetRefs", (1, 22), _crds("1.22")),
    ApiField(SEC, "RequestAuthentication", "spec.jwtRules[].outputClaimToHeaders", (1, 17), _crds("1.17")),
    ApiField(SEC, "RequestAuthentication", "spec.jwtRules[].fromCookies", (1, 21), _crds("1.21")),
    ApiField(SEC, "RequestAuthentication", "spec.jwtRules[].timeout", (1, 22), _crds("1.22")),
    ApiField(SEC, "RequestAuthentication", "spec.targetRef", (1, 20), _crds("1.20")),
    ApiField(SEC, "RequestAuthentication", "spec.targetRefs", (1, 22), _crds("1.22")),
    ApiField(NET, "VirtualService", "spec.http[].delegate", (1, 6), _crds("1.6")),
    ApiField(NET, "VirtualService", "spec.http[].mirrors", (1, 19), _crds("1.19")),
    ApiField(NET, "EnvoyFilter", "spec.priority", (1, 11), _crds("1.11")),
    ApiField(NET, "EnvoyFilter", "spec.targetRefs", (1, 22), _crds("1.22")),
    ApiField(NET, "DestinationRule", "spec.workloadSelector", (1, 14), _crds("1.14")),
    ApiField(NET, "Sidecar", "spec.inboundConnectionPool", (1, 20), _crds("1.20")),
    ApiField(NET, "Gateway", "spec.servers[].tls.mode", (1, 19), _crds("1.19"), value="OPTIONAL_MUTUAL"),
    ApiField(TEL, "Telemetry", "spec.targetRef", (1, 20), _crds("1.20")),
    ApiField(TEL, "Telemetry", "spec.targetRefs", (1, 22), _crds("1.22")),
    ApiField(EXT, "WasmPlugin", "spec.targetRefs", (1, 22), _crds("1.22")),
]

_KIND_INDEX = {(k.group, k.version, k.kind): k for k in KINDS}


def parse_minor(text: str) -> Minor:
    """ "1.6" -> (1, 6); a version newer than the table is read as NEWEST (see newer_than_table);
    ValueError for anything else, or a version older than the table."""
    m = _VERSION.match(text.strip())
    minor = (int(m.group(1)), int(m.group(2))) if m else None
    if minor is None or minor < OLDEST or minor[0] == 0:
        raise ValueError(
            f"expected an Istio minor version from {format_minor(OLDEST)} on (the table knows up to "
            f"{format_minor(NEWEST)}), written as a quoted string like \"1.6\""
        )
    return min(minor, NEWEST)


def newer_than_table(text: str) -> Optional[str]:
    """A warning's text when `text` (a valid istioVersion) is newer than the table, else None."""
    m = _VERSION.match(text.strip())
    if not m or (int(m.group(1)), int(m.group(2))) <= NEWEST:
        return None
    return (
        f"Istio {text.strip()} is newer than kfkrm's Istio API table (through {format_minor(NEWEST)}): "
        f"checked as Istio {format_minor(NEWEST)}; APIs added since are not checked"
    )


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
