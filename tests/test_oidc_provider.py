"""Issue 19: Kubeflow's login on the organisation's OIDC provider, and the bundled Dex gone.

The platform profile of test_platform_acceptance carries the issue's `sso` with
`removeBundledDex: true` (its own tests check that its policy, integrity included, holds, that
`kfkrm validate` agrees and that a second run changes nothing). Here, on every embedded
release, independent scans of that output (PyYAML, plain regexes, not kfkrm's code): no object
of Dex and nothing addressing it, no issuer but the organisation's, the auth service's client,
v1.10's RequestAuthentication, and one user id header and prefix everywhere. Then: only the
issuer changes when only the issuer changes; the function on its own; a case built from
Kubeflow 1.11's manifests; the policy's loginConsistency rule.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

import pytest
import yaml

from helpers import (
    items_block,
    load_output,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_docs,
    run_function,
    run_rendered,
    yaml_docs,
    yaml_load,
)
from test_platform_acceptance import PROFILE, RELEASES, _items_block, adapted, output_objects, strings, where

ISSUER = "https://sso.acme.internal/oauth2/default"
OTHER_ISSUER = "https://login.corp.example.org/realms/ml"
DEX_ADDRESS = re.compile(r"dex\.auth\.svc|(?<![\w.-])/dex(?![\w-])|dexidp|dex\.coreos\.com")
CFG_ISSUER = re.compile(r'^oidc_issuer_url\s*=\s*"([^"]*)"', re.M)
HEADER_KEY, PREFIX_KEY = re.compile(r"USERID_HEADER$"), re.compile(r"USERID_PREFIX$")
FUNCTION_CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: OidcProvider
metadata: {name: acme-sso}
issuer: https://sso.acme.internal/oauth2/default
clientId: kubeflow
clientSecret: {name: kubeflow-oidc, key: client-secret}
groupsClaim: groups
"""


def objects_of(release: str) -> list[dict]:
    out = adapted(release)
    assert out.exit_code == 0, out.stderr
    return output_objects(out.stdout)


def issuers(objects: list[dict]) -> list[tuple[str, str]]:
    """(where, issuer) of every place an issuer is named: oidc-authservice's OIDC_PROVIDER,
    oauth2-proxy's oidc_issuer_url, a RequestAuthentication's jwtRules."""
    found = []
    for obj in objects:
        data = obj.get("data") if obj["kind"] == "ConfigMap" else None
        for key, value in (data or {}).items():
            if key == "OIDC_PROVIDER":
                found.append((where(obj), value))
            for m in CFG_ISSUER.finditer(str(value)):
                found.append((where(obj), m.group(1)))
        if obj["kind"] == "RequestAuthentication":
            found += [(where(obj), r.get("issuer")) for r in obj["spec"].get("jwtRules") or []]
    return found


def userid_settings(objects: list[dict]) -> list[tuple[str, str, str]]:
    """(where, name, value) of every user id header and prefix: ConfigMap keys, container env values."""
    found = []
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            found += [
                (where(obj), k, v)
                for k, v in (obj.get("data") or {}).items()
                if re.search(r"USERID_(HEADER|PREFIX)$", k)
            ]
        spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for env in container.get("env") or []:
                if re.search(r"USERID_(HEADER|PREFIX)$", env["name"]) and "valueFrom" not in env:
                    found.append((where(obj), env["name"], env.get("value", "")))
    return found


@pytest.mark.parametrize("release", RELEASES)
def test_no_dex_and_no_issuer_but_the_organisations(release):
    objects = objects_of(release)
    dex = []
    for obj in objects:
        md = obj.get("metadata") or {}
        if md.get("namespace") == "auth" or (obj["kind"] == "Namespace" and md.get("name") == "auth"):
            dex.append(f"{where(obj)}: in Dex's namespace")
        for path, text in strings(obj):
            if DEX_ADDRESS.search(text):
                dex.append(f"{where(obj)} {path}: {DEX_ADDRESS.search(text).group(0)!r}")
    assert not dex, "\n".join(dex[:30])
    named = issuers(objects)
    assert named, "no issuer named anywhere: the login has no provider"
    assert {issuer for _, issuer in named} == {ISSUER}, named


@pytest.mark.parametrize("release", RELEASES)
def test_the_auth_service_names_the_issuer_and_the_client(release):
    objects = objects_of(release)
    secret_ref = {"secretKeyRef": {"name": "kubeflow-oidc", "key": "client-secret"}}
    if release == "v1.10":
        cfg = next(o["data"]["oauth2_proxy.cfg"] for o in objects if "oauth2_proxy.cfg" in (o.get("data") or {}))
        assert CFG_ISSUER.findall(cfg) == [ISSUER]
        assert re.search(r'^skip_oidc_discovery = false$', cfg, re.M)
        assert not re.search(r"^(login_url|redeem_url|oidc_jwks_url)\b", cfg, re.M)
        proxy = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "oauth2-proxy")
        env = {e["name"]: e for e in proxy["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["OAUTH2_PROXY_CLIENT_ID"] == {"name": "OAUTH2_PROXY_CLIENT_ID", "value": "kubeflow"}
        assert env["OAUTH2_PROXY_CLIENT_SECRET"]["valueFrom"] == secret_ref
    else:
        params = next(o for o in objects if "OIDC_PROVIDER" in (o.get("data") or {}))
        assert params["data"]["OIDC_PROVIDER"] == ISSUER and params["data"]["CLIENT_ID"] == "kubeflow"
        assert params["data"]["OIDC_SCOPES"].split(",") == ["openid", "profile", "email", "groups"]
        service = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "authservice")
        container = service["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["CLIENT_SECRET"]["valueFrom"] == secret_ref
        # upstream's published client credentials are gone with the Secret that held them
        assert not [o for o in objects if o["kind"] == "Secret" and "CLIENT_SECRET" in (o.get("data") or {})]


def test_v1_10_request_authentication_trusts_the_issuer_and_maps_email_and_groups():
    objects = objects_of("v1.10")
    checks = [o for o in objects if o["kind"] == "RequestAuthentication"]
    assert len(checks) == 1
    (rule,) = checks[0]["spec"]["jwtRules"]
    assert rule["issuer"] == ISSUER
    assert {(m["claim"], m["header"]) for m in rule["outputClaimToHeaders"]} == {
        ("email", "kubeflow-userid"),
        ("groups", "kubeflow-groups"),
    }


@pytest.mark.parametrize("release", RELEASES)
def test_one_user_id_header_and_prefix_everywhere(release):
    objects = objects_of(release)
    found = userid_settings(objects)
    headers = {v for _, k, v in found if HEADER_KEY.search(k)}
    prefixes = {v for _, k, v in found if PREFIX_KEY.search(k)}
    # the auth service (v1.3, v1.7), the profile controller and KFAM, the dashboard, KFP, the web apps
    assert len(found) >= 15, found
    assert headers == {"kubeflow-userid"} and prefixes == {""}, found
    if release == "v1.10":  # the header the mesh's token check writes is the one they read
        check = next(o for o in objects if o["kind"] == "RequestAuthentication")
        mapped = {m["header"] for m in check["spec"]["jwtRules"][0]["outputClaimToHeaders"]}
        assert headers <= mapped


@pytest.mark.parametrize("release", RELEASES)
def test_a_prefix_reaches_every_consumer(release):
    """Upstream's prefix is "", so a test with "" proves nothing: "corp:" must land in every
    place the input names a prefix, and nowhere else change a header."""
    before = userid_settings(yaml_docs(rendered_text(release)))
    out = run_rendered("oidc-provider", release, FUNCTION_CONFIG + 'userIdPrefix: "corp:"\n')
    assert out.exit_code == 0, out.stderr
    after = userid_settings(load_output(out.stdout)["items"])
    prefixes = sorted((w, k) for w, k, _ in before if PREFIX_KEY.search(k))
    assert prefixes and sorted((w, k) for w, k, v in after if PREFIX_KEY.search(k) and v == "corp:") == prefixes
    assert sorted(x for x in after if HEADER_KEY.search(x[1])) == sorted(x for x in before if HEADER_KEY.search(x[1]))


@lru_cache(maxsize=None)
def adapted_with(release: str, issuer: str):
    profile = PROFILE.replace(ISSUER, issuer)
    assert profile != PROFILE
    return run_function("enterprise-profile", resource_list(rendered_items_text(release), profile))


@pytest.mark.parametrize("release", RELEASES)
def test_only_the_issuer_changes_when_only_the_issuer_changes(release):
    first, second = adapted(release), adapted_with(release, OTHER_ISSUER)
    assert first.exit_code == 0 and second.exit_code == 0, second.stderr
    a, b = _items_block(first.stdout).splitlines(), _items_block(second.stdout).splitlines()
    if len(a) == len(b):  # line by line (difflib takes 4 s on v1.10 to find the same lines)
        changed = [line for x, y in zip(a, b) if x != y for line in ("-" + x, "+" + y)]
    else:
        changed = [line for line in difflib.unified_diff(a, b, lineterm="", n=0) if line[:1] in "+-"]
        changed = [line for line in changed if not line.startswith(("+++", "---"))]
    assert changed, "the issuer appears nowhere in the output"
    assert all((ISSUER in line) if line[0] == "-" else (OTHER_ISSUER in line) for line in changed), changed[:10]
    assert _items_block(second.stdout).replace(OTHER_ISSUER, ISSUER) == _items_block(first.stdout)


def test_without_removal_dex_stays_and_says_its_login_page_is_on_the_gateway():
    out = run_rendered("oidc-provider", "v1.10", FUNCTION_CONFIG)
    assert out.exit_code == 0, out.stderr
    doc = load_output(out.stdout)
    assert any(o["kind"] == "Deployment" and o["metadata"]["name"] == "dex" for o in doc["items"])
    warnings = [r for r in doc["results"] if r["severity"] == "warning"]
    assert any(
        r.get("resourceRef", {}).get("name") == "dex" and "login page and static users" in r["message"]
        for r in warnings
    ), warnings
    # the login itself no longer goes through Dex, whatever stays of it
    check = next(o for o in doc["items"] if o["kind"] == "RequestAuthentication")
    assert check["spec"]["jwtRules"][0]["issuer"] == ISSUER


# Kubeflow 1.11 (kubeflow/manifests v1.11.0 and its main branch after it): oauth2-proxy v7.13,
# Dex v2.44, oauth2_proxy.cfg byte-identical to v1.10's, and (main, #3342) NetworkPolicies in
# `auth`: one for Dex's pods, one allowing the namespace's own traffic.
NETWORK_POLICIES_1_11 = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-istio-and-oauth2-proxy, namespace: auth}
spec:
  podSelector: {matchLabels: {app: dex}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: oauth2-proxy}}
      podSelector: {matchLabels: {app.kubernetes.io/name: oauth2-proxy}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-allow-same-namespace-auth, namespace: auth}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
  policyTypes: [Ingress]
"""


def kubeflow_1_11_login() -> str:
    """Dex, oauth2-proxy and the login's Istio policies of the v1.10 render, with 1.11's images, plus
    1.11's NetworkPolicies."""
    keep = []
    for doc in yaml_docs(rendered_text("v1.10")):
        if not doc:
            continue
        md = doc["metadata"]
        if (
            md.get("namespace") in ("auth", "oauth2-proxy")
            or (doc["kind"] == "Namespace" and md["name"] in ("auth", "oauth2-proxy"))
            or md["name"] in ("dex", "authcodes.dex.coreos.com", "dex-jwt")
            or md["name"].startswith("istio-ingressgateway-")
        ):
            keep.append(yaml.safe_dump(doc))
    text = (
        "---\n".join(keep).replace("dex:v2.41.1", "dex:v2.44.0").replace("oauth2-proxy:v7.7.1", "oauth2-proxy:v7.13.0")
    )
    return items_block(text, NETWORK_POLICIES_1_11.strip() + "\n")


def test_kubeflow_1_11_oauth2_proxy_and_dex_with_its_network_policies():
    out = run_function(
        "oidc-provider", resource_list(kubeflow_1_11_login(), FUNCTION_CONFIG + "removeBundledDex: true\n")
    )
    assert out.exit_code == 0, out.stderr
    objects = load_output(out.stdout)["items"]
    assert not [
        where(o) for o in objects if o["metadata"].get("namespace") == "auth" or o["metadata"]["name"] == "auth"
    ]
    assert not [where(o) for o in objects for _, s in strings(o) if DEX_ADDRESS.search(s)]
    cfg = next(o["data"]["oauth2_proxy.cfg"] for o in objects if "oauth2_proxy.cfg" in (o.get("data") or {}))
    assert CFG_ISSUER.findall(cfg) == [ISSUER] and 'oidc_groups_claim = "groups"' in cfg
    assert 'prompt = "none"' not in cfg


def test_issuer_is_validated():
    for bad, says in (
        ("issuer: http://dex.auth.svc.cluster.local:5556/dex", "bundled Dex"),
        ("issuer: sso.acme.internal", "absolute http(s) URL"),
    ):
        config = FUNCTION_CONFIG.replace("issuer: https://sso.acme.internal/oauth2/default", bad)
        out = run_docs("oidc-provider", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", config=config)
        assert out.exit_code == 1 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    out = run_docs(
        "oidc-provider",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
        config=FUNCTION_CONFIG + "scopes: [email]\n",
    )
    assert out.exit_code == 1 and "openid" in out.stderr


def test_no_auth_service_is_an_error():
    out = run_docs("oidc-provider", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", config=FUNCTION_CONFIG)
    assert out.exit_code == 1 and "no auth service" in out.stderr, out.stderr


AUTHSERVICE = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: authservice, namespace: istio-system}
spec:
  selector: {matchLabels: {app: authservice}}
  template:
    metadata:
      labels: {app: authservice}
      annotations: {sidecar.istio.io/inject: "true"%s}
    spec:
      containers:
      - name: authservice
        image: gcr.io/arrikto/kubeflow/oidc-authservice:e236439
        envFrom: [{configMapRef: {name: oidc-authservice-parameters}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: oidc-authservice-parameters, namespace: istio-system}
data: {OIDC_PROVIDER: "http://dex.auth.svc.cluster.local:5556/dex", USERID_HEADER: kubeflow-userid, USERID_PREFIX: ""}
"""
SERVICE_ENTRY = """
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: sso, namespace: istio-system}
spec: {hosts: [sso.acme.internal], ports: [{number: 443, name: https, protocol: TLS}], resolution: DNS}
"""


@pytest.mark.parametrize(
    "annotation, extra, warned",
    [
        ("", "", True),
        (', traffic.sidecar.istio.io/excludeOutboundPorts: "15000,443"', "", False),
        ("", SERVICE_ENTRY, False),
    ],
)
def test_the_auth_service_must_reach_the_provider_through_its_sidecar(annotation, extra, warned):
    docs = [AUTHSERVICE % annotation] + ([extra] if extra else [])
    out = run_docs("oidc-provider", *docs, config=FUNCTION_CONFIG)
    assert out.exit_code == 0, out.stderr
    found = [
        r
        for r in load_output(out.stdout)["results"]
        if r["severity"] == "warning" and "outbound port 443" in r["message"]
    ]
    assert bool(found) == warned, found
    if warned:
        assert (
            found[0]["field"]["path"]
            == 'spec.template.metadata.annotations["traffic.sidecar.istio.io/excludeOutboundPorts"]'
        )
        assert found[0]["resourceRef"]["name"] == "authservice"


POLICY = "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: login}\nloginConsistency: true\n"


@pytest.mark.parametrize("release", RELEASES)
def test_login_consistency_holds_on_upstream_and_on_the_adapted_render(release):
    assert run_rendered("enterprise-policy", release, POLICY).exit_code == 0
    out = run_function("enterprise-policy", resource_list(_items_block(adapted(release).stdout), POLICY))
    assert out.exit_code == 0, out.stderr


def test_login_consistency_reports_disagreeing_consumers():
    consumers = """
apiVersion: v1
kind: ConfigMap
metadata: {name: profiles-config, namespace: kubeflow}
data: {USERID_HEADER: kubeflow-userid, USERID_PREFIX: "corp:"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ml-pipeline, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: ml-pipeline}}
  template:
    metadata: {labels: {app: ml-pipeline}}
    spec:
      containers:
      - name: api
        image: gcr.io/ml-pipeline/api-server:2.0.0
        env: [{name: KUBEFLOW_USERID_HEADER, value: x-user}, {name: KUBEFLOW_USERID_PREFIX, value: ""}]
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: dex-jwt, namespace: istio-system}
spec:
  jwtRules:
  - issuer: https://other.example.org
    outputClaimToHeaders: [{claim: email, header: kubeflow-userid}]
"""
    out = run_docs("enterprise-policy", AUTHSERVICE % "", consumers, config=POLICY)
    assert out.exit_code == 1
    violations = {
        (r["resourceRef"]["name"], r["field"]["path"])
        for r in load_output(out.stdout)["results"]
        if r["severity"] == "error" and "[login]" in r["message"]
    }
    assert violations == {
        ("profiles-config", "data.USERID_PREFIX"),
        ("ml-pipeline", "spec.template.spec.containers[0].env[0].value"),
        ("dex-jwt", "spec.jwtRules[0].issuer"),
    }, violations


def test_the_profile_section_is_the_function():
    """`sso` in a profile gives the output oidc-provider gives with the same settings."""
    sso = yaml_load(PROFILE)["sso"]
    profile = yaml.safe_dump({"apiVersion": "kfkrm.dev/v1alpha1", "kind": "EnterpriseProfile", "sso": sso})
    config = yaml.safe_dump({"apiVersion": "kfkrm.dev/v1alpha1", "kind": "OidcProvider", **sso})
    via_profile = run_rendered("enterprise-profile", "v1.10", profile)
    alone = run_rendered("oidc-provider", "v1.10", config)
    assert via_profile.exit_code == 0 and alone.exit_code == 0, via_profile.stderr + alone.stderr
    assert _items_block(via_profile.stdout) == _items_block(alone.stdout)
    assert "removed 11 objects of the bundled Dex" in alone.stderr


DEX_ONLY = """
apiVersion: v1
kind: Namespace
metadata: {name: auth}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dex, namespace: auth}
spec:
  selector: {matchLabels: {app: dex}}
  template:
    metadata: {labels: {app: dex}}
    spec:
      containers: [{name: dex, image: "registry.corp.example.com/proxy/dexidp/dex:v2.41.1"}]
---
apiVersion: v1
kind: Service
metadata: {name: dex, namespace: auth}
spec: {selector: {app: dex}, ports: [{port: 5556}]}
"""
OTHER_IN_AUTH = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ldap-sync, namespace: auth}
spec:
  selector: {matchLabels: {app: ldap-sync}}
  template:
    metadata: {labels: {app: ldap-sync}}
    spec:
      containers: [{name: sync, image: registry.corp.example.com/ldap-sync:1}]
"""
STILL_DEX = """
apiVersion: v1
kind: ConfigMap
metadata: {name: my-app, namespace: team}
data: {JWKS: "http://dex.auth.svc.cluster.local:5556/dex/keys"}
"""


def test_dex_namespace_stays_when_something_else_lives_there_and_leftover_addresses_are_warnings():
    out = run_docs(
        "oidc-provider",
        AUTHSERVICE % "",
        DEX_ONLY,
        OTHER_IN_AUTH,
        STILL_DEX,
        config=FUNCTION_CONFIG + "removeBundledDex: true\n",
    )
    assert out.exit_code == 0, out.stderr
    doc = load_output(out.stdout)
    names = {(o["kind"], o["metadata"]["name"]) for o in doc["items"]}
    assert ("Deployment", "dex") not in names and ("Service", "dex") not in names  # Dex behind a registry proxy
    assert {("Namespace", "auth"), ("Deployment", "ldap-sync"), ("ConfigMap", "my-app")} <= names
    warnings = [
        (r.get("resourceRef", {}).get("name"), (r.get("field") or {}).get("path"), r["message"])
        for r in doc["results"]
        if r["severity"] == "warning"
    ]
    assert any(n == "auth" and "Deployment auth/ldap-sync" in m for n, _, m in warnings), warnings
    assert any(n == "my-app" and f == "data.JWKS" and "still addresses the bundled Dex" in m for n, f, m in warnings), (
        warnings
    )
