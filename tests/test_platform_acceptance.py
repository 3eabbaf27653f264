"""The whole platform at once: every adaptation of issues 11, 15, 16 and 19 in one profile.

Kubeflow moved to `ml-platform`, routed through the organisation's gateway
`istio-ingress/acme-gw` with its own workload identity and cluster-local gateway, the bundled
Istio, Argo, minio and Dex removed, the login on the organisation's SSO, the auth service in the mesh, images through the registry
proxy, and the derived policy with its integrity rule on (the profile's default, against its
own input as the baseline). On every rendered release:

- the run succeeds, so the derived policy (registries, mesh, gateways, forbidden objects, auth
  service, integrity) finds nothing, with no hand-written exemption;
- independent scans of the output (PyYAML, not kfkrm's reader) find no object in `kubeflow`,
  no reference to Kubeflow's gateway identity, nothing addressing the bundled minio;
- `kfkrm validate --baseline` over the output, with the profile as its config, agrees;
- a second run changes nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest
import yaml

from helpers import rendered_items_text, rendered_text, resource_list, run_cli, run_function, yaml_load

RELEASES = ("v1.3.0", "v1.7.0", "v1.10")
PROFILE = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
metadata: {name: acme}
platform: {namespace: ml-platform}
mesh:
  removeBundledIstio: true
  keepBundled:
  - {namespace: istio-system, name: "*authservice*"}
  gateway: istio-ingress/acme-gw
  gatewayWorkload:
    namespace: istio-ingress
    serviceAccount: acme-gw
    labels: {istio: acme-gw}
    service: acme-gw.istio-ingress.svc.cluster.local
  localGateway: {namespace: istio-ingress, labels: {istio: acme-local-gw}, service: acme-local-gw.istio-ingress.svc.cluster.local}
  hosts: [kubeflow.acme.example.com]
  removeUnusedGateways: true
  namespaces: [kubeflow]
  istioVersion: "1.20"    # issue 26: on the shared acme-gw, v1.3/v1.7's authn-filter becomes a CUSTOM policy
podTemplates:
  annotations: {sidecar.istio.io/inject: "true"}
  include: [{namespace: kubeflow}]
registry:
  rules: [{from: "*", to: registry.acme.example.com/proxy}]
auth: {namespace: kubeflow, excludeOutboundPorts: ["443"]}
argo:
  external: true
  artifactRepository:
    s3: {bucket: ml-artifacts, endpoint: s3.amazonaws.com, region: us-west-2, useSDKCreds: true}
    removeBundledObjectStore: true
sso:
  issuer: https://sso.acme.internal/oauth2/default
  clientId: kubeflow
  clientSecret: {name: kubeflow-oidc, key: client-secret}
  scopes: [openid, profile, email, groups]
  userIdClaim: email
  groupsClaim: groups
  userIdPrefix: ""
  removeBundledDex: true
validate: true
"""
GATEWAY_IDENTITY = re.compile(r"istio-ingressgateway|cluster\.local/ns/istio-system/sa/")
MINIO = ("minio-service", "mlpipeline-minio-artifact")
# `kubeflow` as a namespace: an address (name.kubeflow[.svc...]), a principal, ns/name.
KUBEFLOW_NAMESPACE = re.compile(
    r"\.kubeflow(?:\.svc|:\d|\b(?![.\-/]))|/ns/kubeflow/|(?<![\w.-])kubeflow/kubeflow-gateway"
)


@lru_cache(maxsize=None)
def adapted(release: str):
    return run_function("enterprise-profile", resource_list(rendered_items_text(release), PROFILE))


def output_objects(stdout: str) -> list[dict]:
    return [i for i in yaml_load(stdout)["items"] if isinstance(i, dict)]


def strings(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, path + (str(key),))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, path + (str(i),))
    elif isinstance(node, str):
        yield ".".join(path), node


def where(obj: dict) -> str:
    md = obj.get("metadata") or {}
    return f"{obj.get('kind')} {md.get('namespace', '')}/{md.get('name')}"


@pytest.mark.parametrize("release", RELEASES)
def test_the_whole_platform_adapts_and_its_policy_holds(release):
    out = adapted(release)
    assert out.exit_code == 0, out.stderr
    assert "enterprise-policy: no violations" in out.stderr, out.stderr
    objects = output_objects(out.stdout)
    assert objects, "no objects came out"
    assert not [where(o) for o in objects if (o.get("metadata") or {}).get("namespace") == "kubeflow"]
    assert not [where(o) for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == "kubeflow"]
    found = []
    for obj in objects:
        for path, text in strings(obj):
            if path.startswith("data._example") or path == "metadata.name":
                continue  # Knative's documentation blocks; an object's own name
            if GATEWAY_IDENTITY.search(text):
                found.append(f"{where(obj)} {path}: gateway identity")
            if any(m in text for m in MINIO):
                found.append(f"{where(obj)} {path}: minio")
            if KUBEFLOW_NAMESPACE.search(text) and not path.startswith("metadata.labels"):
                found.append(f"{where(obj)} {path}: {KUBEFLOW_NAMESPACE.search(text).group(0)!r}")
    assert not found, "\n".join(found[:40])


@pytest.mark.parametrize("release", RELEASES)
def test_validate_with_the_profile_and_the_upstream_baseline_agrees(release, tmp_path):
    out = adapted(release)
    assert out.exit_code == 0, out.stderr
    rendered, baseline, profile = tmp_path / "adapted.yaml", tmp_path / "upstream.yaml", tmp_path / "profile.yaml"
    rendered.write_text(yaml.safe_dump_all(output_objects(out.stdout)))
    baseline.write_text(rendered_text(release))
    profile.write_text(PROFILE)
    proc = run_cli(["validate", str(rendered), "--config", str(profile), "--baseline", str(baseline)], "")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("release", RELEASES)
def test_a_second_run_changes_nothing(release):
    first = adapted(release)
    assert first.exit_code == 0, first.stderr
    second = run_function("enterprise-profile", resource_list(_items_block(first.stdout), PROFILE))
    assert second.exit_code == 0, second.stderr
    assert _items_block(second.stdout) == _items_block(first.stdout)


def _items_block(stdout: str) -> str:
    """The `items:` block of an output ResourceList, as text (results and config left out)."""
    start = stdout.index("\nitems:\n") + len("\nitems:\n")
    ends = [i for i in (stdout.find("\nfunctionConfig:", start), stdout.find("\nresults:", start)) if i != -1]
    return stdout[start : min(ends) + 1] if ends else stdout[start:]
