"""Kubeflow's login on the organisation's gateway, limited to Kubeflow's hosts.

Kubeflow enforces login with objects that select the ingress gateway's pods
(domain/gateway_identity.py moves them onto the organisation's gateway workload). On a gateway
that serves other applications too, each of them acts on *every* request the gateway receives
unless it names Kubeflow's hosts:

- a CUSTOM or DENY AuthorizationPolicy (v1.9+: `istio-ingressgateway-oauth2-proxy`,
  `istio-ingressgateway-require-jwt`) matches by its rules; with `to.operation.hosts` a rule
  matches only requests whose Host is one of them (Istio: "hosts: A list of hosts as specified
  in the HTTP request. The match is case-insensitive. If not set, any host is allowed."). A
  Host header may carry a port, so each host is listed as `h` and `h:*` (Istio's prefix match);
- a RequestAuthentication (`dex-jwt`) cannot name hosts. Istio's reference: "A request that
  contains an invalid authentication information will be rejected. A request that contains no
  authentication information will be accepted but won't have any authenticated identity." A
  bearer token issued by another issuer is invalid for it: Envoy answers 401 "Jwt issuer is not
  configured" (istio/istio#24371, #48244);
- an EnvoyFilter (`authn-filter`, v1.3 to v1.8) inserts ext_authz into every HTTP filter chain of
  the gateway (context GATEWAY, matched on the http_connection_manager): every request of every
  host is sent to Kubeflow's auth service first. Istio 1.9 added the CUSTOM action with the mesh
  config's `extensionProviders`, which is the host-scoped equivalent: the filter becomes a CUSTOM
  AuthorizationPolicy naming the hosts, and the provider entry is printed for the mesh config.
  The filter exempts no path (the auth service itself lets its SKIP_AUTH_URLS through, /dex/,
  and must see its own callback /login/oidc), so neither does the policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import gateway_identity as identity
from . import istio_apis

CUSTOM_SINCE = (1, 9)  # AuthorizationPolicy action CUSTOM with MeshConfig extensionProviders
PROVIDER = "kubeflow-authservice"
EXT_AUTHZ_FILTERS = ("envoy.filters.http.ext_authz", "envoy.ext_authz")
_SELECTOR = {
    "AuthorizationPolicy": ("selector", "matchLabels"),
    "RequestAuthentication": ("selector", "matchLabels"),
    "EnvoyFilter": ("workloadSelector", "labels"),
}


def host_values(hosts: list[str]) -> list[str]:
    """Each host as Istio must see it in `to.operation.hosts`: with and without a port."""
    out: list[str] = []
    for host in hosts:
        for value in (host, f"{host}:*"):
            if value not in out:
                out.append(value)
    return out


def login_objects(items, workload: identity.Workload) -> list:
    """The login-enforcing objects (CUSTOM/DENY AuthorizationPolicies, RequestAuthentications,
    EnvoyFilters) that select `workload`'s pods from its namespace or the mesh root."""
    found = []
    for item in items:
        if item.kind not in _SELECTOR or item.namespace not in (workload.namespace, identity.ISTIO_NAMESPACE):
            continue
        if not identity.is_login_policy(item):
            continue
        spec = item.obj.get("spec") if isinstance(item.obj.get("spec"), dict) else {}
        outer, inner = _SELECTOR[item.kind]
        selector = (spec.get(outer) or {}).get(inner) if isinstance(spec.get(outer), dict) else None
        if identity.selects(selector, workload.labels):
            found.append(item)
    return found


def scope_policy(item, hosts: list[str]) -> list[str]:
    """Give every rule of a CUSTOM or DENY AuthorizationPolicy `to.operation.hosts`; returns the
    changed fields. A rule with no `to` gets one; hosts an operation already names are kept."""
    wanted = host_values(hosts)
    changed = []
    for i, rule in enumerate((item.obj.get("spec") or {}).get("rules") or []):
        if not isinstance(rule, dict):
            continue
        if not rule.get("to"):
            rule["to"] = [{"operation": {"hosts": list(wanted)}}]
            changed.append(f"spec.rules[{i}].to")
            continue
        for j, target in enumerate(rule["to"]):
            if not isinstance(target, dict):
                continue
            operation = target.get("operation")
            if not isinstance(operation, dict):
                operation = target["operation"] = {}
            if not operation.get("hosts"):
                operation["hosts"] = list(wanted)
                changed.append(f"spec.rules[{i}].to[{j}].operation.hosts")
    return changed


def unscoped_rules(item) -> list[str]:
    """The rules of a CUSTOM or DENY policy that still match any host."""
    out = []
    for i, rule in enumerate((item.obj.get("spec") or {}).get("rules") or []):
        if not isinstance(rule, dict):
            continue
        targets = rule.get("to") or [{}]
        if any(not ((t or {}).get("operation") or {}).get("hosts") for t in targets if isinstance(t, dict)):
            out.append(f"spec.rules[{i}]")
    return out


@dataclass
class ExtAuthz:
    """What Kubeflow's ext_authz EnvoyFilter configures: the auth service and the headers."""

    service: str
    port: Optional[int]
    request_headers: list[str]
    upstream_headers: list[str]
    timeout: Optional[str]


def ext_authz(item) -> Optional[ExtAuthz]:
    """The ext_authz HTTP service an EnvoyFilter inserts, or None (another filter, or not convertible)."""
    if item.kind != "EnvoyFilter":
        return None
    for patch in (item.obj.get("spec") or {}).get("configPatches") or []:
        value = ((patch or {}).get("patch") or {}).get("value") or {}
        if not isinstance(value, dict) or value.get("name") not in EXT_AUTHZ_FILTERS:
            continue
        config = value.get("typed_config") or value.get("config") or {}
        http = config.get("http_service") if isinstance(config, dict) else None
        if not isinstance(http, dict):
            return None
        server = http.get("server_uri") or {}
        cluster = str(server.get("cluster") or "")
        parts = cluster.split("|")  # outbound|PORT||HOST
        if len(parts) != 4 or not parts[3]:
            return None
        port = int(parts[1]) if parts[1].isdigit() else None
        request = (http.get("authorization_request") or {}).get("allowed_headers") or {}
        response = (http.get("authorization_response") or {}).get("allowed_upstream_headers") or {}
        return ExtAuthz(
            parts[3],
            port,
            [p["exact"] for p in request.get("patterns") or [] if isinstance(p, dict) and "exact" in p],
            [p["exact"] for p in response.get("patterns") or [] if isinstance(p, dict) and "exact" in p],
            server.get("timeout"),
        )
    return None


def supports_custom(version: Optional[str]) -> bool:
    return version is not None and istio_apis.parse_minor(version) >= CUSTOM_SINCE


def custom_policy(item, authz: ExtAuthz, workload: identity.Workload, hosts: list[str]) -> dict:
    """The CUSTOM AuthorizationPolicy equivalent to the ext_authz EnvoyFilter, limited to `hosts`."""
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": item.name, "namespace": workload.namespace},
        "spec": {
            "selector": {"matchLabels": dict(workload.labels)},
            "action": "CUSTOM",
            "provider": {"name": PROVIDER},
            "rules": [{"to": [{"operation": {"hosts": host_values(hosts)}}]}],
        },
    }


def provider_entry(authz: ExtAuthz) -> dict:
    """The mesh config's extensionProviders entry the converted policy names."""
    body: dict = {"service": authz.service}
    if authz.port is not None:
        body["port"] = authz.port
    if authz.request_headers:
        body["includeRequestHeadersInCheck"] = authz.request_headers
    if authz.upstream_headers:
        body["headersToUpstreamOnAllow"] = authz.upstream_headers
    if authz.timeout:
        body["timeout"] = authz.timeout
    return {"name": PROVIDER, "envoyExtAuthzHttp": body}
