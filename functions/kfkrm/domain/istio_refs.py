"""Istio gateway references: how a VirtualService names a Gateway, resolved as Istio does.

A VirtualService lists gateways in spec.gateways and in the `gateways` of each
http/tls/tcp match. Istio (pilot's resolveGatewayName) reads each entry as:

* `mesh`                      the reserved name of every sidecar, not a Gateway object;
* `ns/name`                   the Gateway `name` in namespace `ns`;
* `./name`                    the Gateway `name` in the VirtualService's own namespace;
* `name`                      the same: a bare name means the VirtualService's namespace;
* `name.ns` or `name.ns.svc.cluster.local`   the legacy form: namespace `ns`.

Kubeflow writes all but the legacy form in its VirtualServices, and KFServing 0.5
(Kubeflow 1.3) writes the legacy form in its ingress config. VirtualServiceGateway
rewrites these references and the EnterprisePolicy validator checks them against the
allowed gateways; both read them through this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional

from ..runtime.k8svalidation import is_dns_label, is_dns_subdomain  # noqa: F401 (is_dns_subdomain: re-exported)
from ..runtime.paths import field_path

MESH = "mesh"
NETWORKING_GROUP = "networking.istio.io"
NETWORKING_VERSIONS = ("v1alpha3", "v1beta1", "v1")
ROUTE_KINDS = ("http", "tls", "tcp")  # the VirtualService route lists whose matches name gateways

_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WILDCARD_HOST = "*"


@dataclass(frozen=True)
class GatewayRef:
    """A Gateway object, by namespace and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_config_ref(text: str) -> GatewayRef:
    """A gateway written in a kfkrm config: always `namespace/name` (no namespace to resolve against)."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise ValueError(
            f"{text!r} is not a gateway reference: expected namespace/name, e.g. istio-system/corp-gateway"
        )
    namespace, name = text.split("/")
    if not is_dns_label(namespace):
        raise ValueError(f"{text!r}: the namespace {namespace!r} is not a namespace name (a DNS label)")
    if not is_dns_subdomain(name):
        raise ValueError(f"{text!r}: the name {name!r} is not a Gateway name (a DNS subdomain)")
    return GatewayRef(namespace, name)


def host_problem(host: str):
    """Why `host` cannot be an explicit VirtualService/Gateway host, or None."""
    if host == WILDCARD_HOST:
        return '"*" is the wildcard host; give explicit host names'
    if len(host) > 253 or not _HOST.match(host):
        return f"{host!r} is not a host name (lowercase DNS name, optionally starting with *.)"
    return None


def resolve(reference: str, own_namespace: str) -> Optional[GatewayRef]:
    """The Gateway a VirtualService in `own_namespace` means by `reference`.

    None for `mesh`, and for a reference relative to the VirtualService's namespace when
    that namespace is unknown ("": the object has no metadata.namespace yet).
    """
    if reference == MESH:
        return None
    if "/" in reference:
        namespace, _, name = reference.partition("/")
        if namespace == ".":
            namespace = own_namespace
        return GatewayRef(namespace, name) if namespace else None
    if "." in reference:  # legacy: name.ns or name.ns.svc.cluster.local
        name, namespace = reference.split(".")[:2]
        return GatewayRef(namespace, name)
    return GatewayRef(own_namespace, reference) if own_namespace else None


def is_relative(reference: str) -> bool:
    """Whether `reference` depends on the namespace of the object that holds it."""
    return reference != MESH and (reference.startswith("./") or ("/" not in reference and "." not in reference))


def spelled_like(original: str, new: GatewayRef) -> str:
    """`new` written in the same form as `original` (ns/name, or the legacy name.ns[.suffix])."""
    if "/" not in original and "." in original:
        suffix = original.split(".", 2)[2] if original.count(".") >= 2 else None
        return f"{new.name}.{new.namespace}" + (f".{suffix}" if suffix else "")
    return str(new)


def is_virtualservice(item) -> bool:
    return item.kind == "VirtualService" and item.group == NETWORKING_GROUP and item.version in NETWORKING_VERSIONS


def is_gateway(item) -> bool:
    return item.kind == "Gateway" and item.group == NETWORKING_GROUP and item.version in NETWORKING_VERSIONS


def gateway_lists(vs: dict) -> Iterator[tuple[tuple, list]]:
    """(path, list) of every gateway list of a VirtualService object: spec.gateways and each match's."""
    spec = vs.get("spec")
    if not isinstance(spec, dict):
        return
    if isinstance(spec.get("gateways"), list):
        yield ("spec", "gateways"), spec["gateways"]
    for route_kind in ROUTE_KINDS:
        for i, route in enumerate(spec.get(route_kind) or []):
            if not isinstance(route, dict):
                continue
            for j, match in enumerate(route.get("match") or []):
                if isinstance(match, dict) and isinstance(match.get("gateways"), list):
                    yield ("spec", route_kind, i, "match", j, "gateways"), match["gateways"]


def virtualservice_gateway_refs(vs: dict, own_namespace: str) -> Iterator[tuple[str, str, Optional[GatewayRef]]]:
    """(field path, reference as written, resolved Gateway or None) for every gateway reference of a VirtualService."""
    for path, refs in gateway_lists(vs):
        for k, reference in enumerate(refs):
            if isinstance(reference, str):
                yield field_path(path + (k,)), reference, resolve(reference, own_namespace)
