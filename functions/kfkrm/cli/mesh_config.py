"""`kfkrm validate --mesh-config FILE`: the organisation's mesh config against the render.

A CUSTOM AuthorizationPolicy only names its provider; the address lives in the mesh
config, which the render does not contain once the bundled Istio is removed. Given that
file, each provider a CUSTOM policy names must exist and point at the auth service's
Service (and one of its ports); each problem is an `auth` violation giving the entry to set."""

from __future__ import annotations

from ..domain import mesh_providers
from ..domain.authservice import find_auth_workloads, pod_labels, services_selecting
from ..fns.enterprise_policy import AUTH, Violation
from ..runtime import yamlio
from ..runtime.config import ConfigError
from ..runtime.podtemplates import pod_template


def check_mesh_config(rl, path: str, text: str, config, report) -> None:
    try:
        meshes = mesh_providers.mesh_configs(text)
    except yamlio.YAMLError as e:
        raise ConfigError(f"--mesh-config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not meshes:
        raise ConfigError(
            f"--mesh-config {path} holds no mesh config (the istio ConfigMap with data.mesh, an "
            "IstioOperator's spec.meshConfig, Helm values' meshConfig, or a MeshConfig document)"
        )
    used = mesh_providers.custom_providers(rl.items)
    report.checked["mesh-config"] = len(used)
    if not used:
        return
    workload = config.authService.workload if config.authService is not None else None
    services = []
    for item in find_auth_workloads(rl, workload):
        tpl = pod_template(item)
        if tpl is not None:
            services += services_selecting(rl.items, item.namespace, pod_labels(item, tpl))
    entries = mesh_providers.providers(meshes)
    for name, policies in used.items():
        if not services:
            report.violations.append(
                Violation(
                    AUTH,
                    policies[0],
                    "spec.provider.name",
                    f"provider {name!r}: no auth service with a Service found in the input",
                )
            )
            continue
        for problem in mesh_providers.provider_problems(name, entries, services):
            report.violations.append(Violation(AUTH, policies[0], "spec.provider.name", problem))
