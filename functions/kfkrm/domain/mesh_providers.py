"""The mesh's `extensionProviders`: where Istio sends a CUSTOM AuthorizationPolicy's checks.

Kubeflow 1.9 on enforces login with a CUSTOM AuthorizationPolicy naming the provider
`oauth2-proxy`, which its bundled Istio's mesh config (ConfigMap istio-system/istio,
`data.mesh`) defines as `envoyExtAuthzHttp` to oauth2-proxy.oauth2-proxy.svc.cluster.local:80.
On the organisation's mesh that entry lives in the organisation's mesh config, which kfkrm
never sees in the render: when the auth service moves, the operator must repoint it by
hand. This module writes the exact entry to set (one line of flow YAML) and checks a mesh
config file (the istio ConfigMap, an IstioOperator, Helm values with `meshConfig`, or a
MeshConfig document) against the auth service's address."""

from __future__ import annotations

from typing import Iterator, Optional

from ..runtime import yamlio

# The header lists of Kubeflow's own entry (common/oauth2-proxy/components/istio-external-auth-patches).
KUBEFLOW_EXT_AUTHZ = {
    "includeRequestHeadersInCheck": ["authorization", "cookie"],
    "headersToUpstreamOnAllow": [
        "authorization",
        "path",
        "x-auth-request-email",
        "x-auth-request-groups",
        "x-auth-request-user",
    ],
    "headersToDownstreamOnDeny": ["content-type", "set-cookie"],
}
EXT_AUTHZ_KINDS = ("envoyExtAuthzHttp", "envoyExtAuthzGrpc")


def custom_providers(items) -> dict[str, list]:
    """Provider name -> the CUSTOM AuthorizationPolicies naming it."""
    found: dict[str, list] = {}
    for item in items:
        if item.kind != "AuthorizationPolicy" or item.group != "security.istio.io":
            continue
        if item.raw is not None and not item.changed and "CUSTOM" not in item.raw:
            continue
        spec = item.obj.get("spec") or {}
        name = (spec.get("provider") or {}).get("name") if spec.get("action") == "CUSTOM" else None
        if isinstance(name, str):
            found.setdefault(name, []).append(item)
    return found


def service_addresses(service) -> set[str]:
    """Every spelling of a Service's address a provider entry may use."""
    name, ns = service.name, service.namespace
    return {f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"}


def service_port(service) -> Optional[int]:
    for port in (service.obj.get("spec") or {}).get("ports") or []:
        if isinstance(port, dict) and isinstance(port.get("port"), int):
            return port["port"]
    return None


def entry_for(name: str, service, existing: Optional[dict] = None) -> dict:
    """The provider entry pointing at `service`: the existing one repointed, or Kubeflow's."""
    address = f"{service.name}.{service.namespace}.svc.cluster.local"
    entry = dict(existing) if existing else {"name": name, "envoyExtAuthzHttp": dict(KUBEFLOW_EXT_AUTHZ)}
    kind = next((k for k in EXT_AUTHZ_KINDS if isinstance(entry.get(k), dict)), "envoyExtAuthzHttp")
    body = dict(entry.get(kind) or KUBEFLOW_EXT_AUTHZ)
    body["service"] = address
    port = service_port(service)
    if port is not None:
        body["port"] = port
    entry[kind] = {"service": body.pop("service"), **({"port": body.pop("port")} if "port" in body else {}), **body}
    return {"name": name, **{k: v for k, v in entry.items() if k != "name"}}


def one_line(entry: dict) -> str:
    """`extensionProviders: [ {...} ]` as one line of flow YAML, ready to paste into the mesh config."""
    return "extensionProviders: [" + _flow(entry) + "]"


def _flow(node) -> str:
    if isinstance(node, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_flow(v) for v in node) + "]"
    return str(node)


# -- the organisation's mesh config -----------------------------------------------------------


def mesh_configs(text: str) -> list[dict]:
    """Every MeshConfig in a file: the istio ConfigMap's data.mesh, an IstioOperator's
    spec.meshConfig, Helm values' meshConfig, or a bare MeshConfig document."""
    found = []
    for doc in yamlio.load_all(text):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "ConfigMap" and isinstance((doc.get("data") or {}).get("mesh"), str):
            mesh = yamlio.load(str(doc["data"]["mesh"]))
            if isinstance(mesh, dict):
                found.append(mesh)
        elif isinstance((doc.get("spec") or {}).get("meshConfig"), dict):
            found.append(doc["spec"]["meshConfig"])
        elif isinstance(doc.get("meshConfig"), dict):
            found.append(doc["meshConfig"])
        elif "extensionProviders" in doc or "rootNamespace" in doc or "defaultConfig" in doc:
            found.append(doc)
    return found


def providers(meshes: list[dict]) -> dict[str, dict]:
    out = {}
    for mesh in meshes:
        for entry in mesh.get("extensionProviders") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                out.setdefault(entry["name"], entry)
    return out


def _points_at(entry: dict) -> tuple[Optional[str], Optional[int]]:
    for kind in EXT_AUTHZ_KINDS:
        body = entry.get(kind)
        if isinstance(body, dict):
            service = body.get("service")
            host = service.split("/", 1)[1] if isinstance(service, str) and "/" in service else service
            return host, body.get("port")
    return None, None


def provider_problems(name: str, entries: dict[str, dict], services: list) -> Iterator[str]:
    """Why the mesh config's provider `name` does not reach the auth service (one of `services`)."""
    entry = entries.get(name)
    fix = one_line(entry_for(name, services[0], entry)) if services else ""
    if entry is None:
        yield f"the mesh config has no extensionProviders entry named {name!r}; set {fix}"
        return
    host, port = _points_at(entry)
    matching = [s for s in services if host in service_addresses(s)]
    if not matching:
        yield f"extensionProviders entry {name!r} points at {host}, not at the auth service; set {fix}"
    elif (
        port is not None
        and service_port(matching[0]) is not None
        and port not in [p.get("port") for p in (matching[0].obj.get("spec") or {}).get("ports") or []]
    ):
        yield (
            f"extensionProviders entry {name!r} uses port {port}, which Service {matching[0].ref()} does not "
            f"serve; set {fix}"
        )


def mesh_configs_in(items) -> list[dict]:
    """The MeshConfigs of the ConfigMaps in a render (the bundled Istio's istio-system/istio)."""
    found = []
    for item in items:
        if item.kind == "ConfigMap" and item.group == "" and "extensionProviders" in (item.raw or repr(item.obj)):
            mesh = (item.obj.get("data") or {}).get("mesh")
            if isinstance(mesh, str):
                try:
                    parsed = yamlio.load(str(mesh))
                except yamlio.YAMLError:
                    continue
                if isinstance(parsed, dict):
                    found.append(parsed)
    return found
