"""Istio configuration that applies to the whole mesh, not to Kubeflow.

Istio reads some of its configuration from the mesh's *root namespace* (MeshConfig
`rootNamespace`, `istio-system` by default): an object there with no workload selector is
the mesh-wide default for every namespace (Istio's reference pages, e.g. Sidecar: "A Sidecar
configuration in the MeshConfig root namespace will be applied by default to all namespaces
without a Sidecar configuration"; PeerAuthentication, AuthorizationPolicy, Telemetry,
WasmPlugin and ProxyConfig say the same of the root namespace; an EnvoyFilter there without a
workloadSelector patches every proxy of the mesh). On the organisation's shared mesh such an
object is the organisation's decision, not Kubeflow's: Kubeflow 1.11 ships `Sidecar
istio-system/default` with no workloadSelector, whose egress lists only Kubeflow's
namespaces, so every other workload of the mesh would lose its routes to other namespaces;
every release ships the empty AuthorizationPolicy `global-deny-all`.

One classification, used by RemoveIstio (removes them), the profile (its derived policy) and
EnterprisePolicy's `mesh-wide` rule (reports them)."""

from __future__ import annotations

from typing import Optional

ROOT_NAMESPACE = "istio-system"
# kind -> (its group, the field that narrows it to some workloads)
MESH_WIDE_KINDS = {
    "Sidecar": ("networking.istio.io", "workloadSelector"),
    "EnvoyFilter": ("networking.istio.io", "workloadSelector"),
    "PeerAuthentication": ("security.istio.io", "selector"),
    "AuthorizationPolicy": ("security.istio.io", "selector"),
    "RequestAuthentication": ("security.istio.io", "selector"),
    "Telemetry": ("telemetry.istio.io", "selector"),
    "WasmPlugin": ("extensions.istio.io", "selector"),
    "ProxyConfig": ("networking.istio.io", "selector"),
}
TARGET_REFS = ("targetRef", "targetRefs")


def _narrowing(spec: dict, field: str) -> bool:
    """The spec names some workloads: a non-empty selector, or a targetRef(s) (Istio 1.22+)."""
    selector = spec.get(field)
    if isinstance(selector, dict):
        labels = selector.get("labels") if field == "workloadSelector" else selector.get("matchLabels")
        if labels or (field != "workloadSelector" and selector.get("matchExpressions")):
            return True
    return any(spec.get(ref) for ref in TARGET_REFS)


def is_mesh_wide(item, root_namespace: str = ROOT_NAMESPACE) -> bool:
    """An Istio object in the root namespace that selects no workload: it applies to the whole mesh."""
    entry = MESH_WIDE_KINDS.get(item.kind)
    if entry is None or item.group != entry[0] or item.namespace != root_namespace:
        return False
    if item.raw is not None and not item.changed and "elector" not in item.raw and "targetRef" not in item.raw:
        return True
    spec = item.obj.get("spec")
    return not _narrowing(spec if isinstance(spec, dict) else {}, entry[1])


def effect(item, root_namespace: str = ROOT_NAMESPACE) -> str:
    """What the object would do to the whole mesh, for the result."""
    spec = item.obj.get("spec") if isinstance(item.obj.get("spec"), dict) else {}
    where = f"in the mesh's root namespace {root_namespace} with no selector"
    kind = item.kind
    if kind == "Sidecar":
        hosts = [h for e in spec.get("egress") or [] if isinstance(e, dict) for h in e.get("hosts") or []]
        return (
            f"{where} it is the default Sidecar of every namespace of the mesh that has none: every workload of "
            f"the organisation's mesh could reach only {hosts or 'what it lists'}"
        )
    if kind == "AuthorizationPolicy":
        action = spec.get("action", "ALLOW")
        if not spec.get("rules") and action == "ALLOW":
            return (
                f"{where} an ALLOW policy without rules denies every request to every workload of the whole mesh "
                "that no other ALLOW policy admits"
            )
        return f"{where} its {action} rules apply to every workload of the whole mesh"
    if kind == "PeerAuthentication":
        mode = (spec.get("mtls") or {}).get("mode") if isinstance(spec.get("mtls"), dict) else None
        return f"{where} it sets the mutual TLS mode ({mode or 'inherited'}) of every workload of the mesh"
    if kind == "RequestAuthentication":
        return f"{where} it validates the JWTs of every request to every workload of the mesh"
    if kind == "EnvoyFilter":
        return f"{where} it patches the Envoy configuration of every proxy of the mesh"
    if kind == "Telemetry":
        return f"{where} it sets the metrics, logs and traces of every proxy of the mesh"
    if kind == "WasmPlugin":
        return f"{where} it runs in every proxy of the mesh"
    return f"{where} it is the proxy configuration of every workload of the mesh"


def root_namespace_of(value: Optional[str]) -> str:
    return value or ROOT_NAMESPACE
