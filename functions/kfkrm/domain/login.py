"""Where each Kubeflow release names its login: the OIDC issuer the auth service and the mesh
trust, and the user id header and prefix every consumer of the login reads.

- oidc-authservice (Kubeflow 1.3 to 1.8): its parameters ConfigMap (`OIDC_PROVIDER`,
  `USERID_HEADER`, `USERID_PREFIX`, `USERID_CLAIM`, ...), read through `envFrom`.
- oauth2-proxy (1.9 and later): `oauth2_proxy.cfg` in its ConfigMap (`oidc_issuer_url`), and
  the RequestAuthentication (`dex-jwt`) whose `outputClaimToHeaders` turns the token's claims
  into `kubeflow-userid` and `kubeflow-groups`.
- the consumers: the profile controller and KFAM (`profiles-config`: `USERID_HEADER`,
  `USERID_PREFIX`), the central dashboard (`CD_USERID_*`, and its env), KFP's API server, UI and
  persistence agent (`KUBEFLOW_USERID_HEADER`, `KUBEFLOW_USERID_PREFIX`), the notebook,
  tensorboard, volumes and KServe models web apps (`JWA_`/`TWA_`/`VWA_USERID_*`,
  `USERID_HEADER`): a ConfigMap key or a container env value named `[PREFIX_]USERID_HEADER` or
  `[PREFIX_]USERID_PREFIX`.

Shared by OidcProvider (which rewrites them) and EnterprisePolicy's loginConsistency rule
(which checks that they agree), so both read a release the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional
from urllib.parse import urlsplit

from ..runtime.kinds import is_core
from ..runtime.paths import field_path
from ..runtime.podtemplates import has_pod_template, pod_template

ISSUER, HEADER, PREFIX = "issuer", "header", "prefix"
DEFAULT_USERID_HEADER = "kubeflow-userid"
DEFAULT_GROUPS_HEADER = "kubeflow-groups"
HEADER_KEY = re.compile(r"^(?:[A-Z0-9]+_)*USERID_HEADER$")
PREFIX_KEY = re.compile(r"^(?:[A-Z0-9]+_)*USERID_PREFIX$")
# oidc-authservice's parameters (envconfig names).
AUTHSERVICE_ISSUER = "OIDC_PROVIDER"
# oauth2-proxy's config file, a TOML subset: `key = value` lines.
OAUTH2_PROXY_CFG = "oauth2_proxy.cfg"
CFG_LINE = re.compile(r'^(?P<key>[a-z_]+)\s*=\s*(?P<value>.*?)\s*$')
REQUEST_AUTHENTICATION = ("security.istio.io", "RequestAuthentication")
_MARKERS = ("USERID_", AUTHSERVICE_ISSUER, "oidc_issuer_url", "outputClaimToHeaders")


@dataclass
class Setting:
    """One place that names the issuer, the user id header or the user id prefix."""

    item: object
    field: str  # the field path, results' style
    role: str  # ISSUER, HEADER or PREFIX
    value: str
    auth_side: bool  # set by the auth service or the mesh's token check (not a consumer)


def cfg_value(text: str, key: str) -> Optional[str]:
    """The value of `key = "..."` in oauth2_proxy.cfg text, unquoted; None when absent."""
    for line in text.splitlines():
        m = CFG_LINE.match(line)
        if m and m.group("key") == key:
            return m.group("value").strip().strip('"')
    return None


def is_userid_header(header: str) -> bool:
    return "userid" in str(header).lower()


def settings(items) -> Iterator[Setting]:
    """Every issuer, user id header and prefix setting in `items`."""
    for item in items:
        raw = item.raw
        if raw is not None and not any(m in raw for m in _MARKERS):
            continue
        if is_core(item, "ConfigMap"):
            yield from _configmap_settings(item)
        elif has_pod_template(item):
            yield from _env_settings(item)
        elif (item.group, item.kind) == REQUEST_AUTHENTICATION:
            yield from _jwt_settings(item)


def _configmap_settings(item) -> Iterator[Setting]:
    data = item.obj.get("data") or {}
    if not isinstance(data, dict):
        return
    authservice = AUTHSERVICE_ISSUER in data
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        where = field_path(("data", key))
        if HEADER_KEY.match(key):
            yield Setting(item, where, HEADER, value, authservice)
        elif PREFIX_KEY.match(key):
            yield Setting(item, where, PREFIX, value, authservice)
        elif key == AUTHSERVICE_ISSUER:
            yield Setting(item, where, ISSUER, value, True)
        elif "oidc_issuer_url" in value:
            issuer = cfg_value(value, "oidc_issuer_url")
            if issuer is not None:
                yield Setting(item, f"{where}.oidc_issuer_url", ISSUER, issuer, True)


def _env_settings(item) -> Iterator[Setting]:
    tpl = pod_template(item)
    if tpl is None:
        return
    for where, container in tpl.containers():
        for i, env in enumerate(container.get("env") or []):
            if not isinstance(env, dict) or not isinstance(env.get("value", None), (str, type(None))):
                continue
            if "valueFrom" in env:
                continue
            name = str(env.get("name", ""))
            role = HEADER if HEADER_KEY.match(name) else PREFIX if PREFIX_KEY.match(name) else None
            if role:
                yield Setting(item, f"{where}.env[{i}].value", role, env.get("value") or "", False)


def _jwt_settings(item) -> Iterator[Setting]:
    spec = item.obj.get("spec") or {}
    for i, rule in enumerate(spec.get("jwtRules") or []):
        if not isinstance(rule, dict):
            continue
        mapped = [
            (j, m) for j, m in enumerate(rule.get("outputClaimToHeaders") or []) if is_userid_header(m.get("header"))
        ]
        if not mapped:
            continue  # a token check that names no user (e.g. Kubernetes service account tokens)
        yield Setting(item, f"spec.jwtRules[{i}].issuer", ISSUER, str(rule.get("issuer", "")), True)
        for j, m in mapped:
            yield Setting(item, f"spec.jwtRules[{i}].outputClaimToHeaders[{j}].header", HEADER, m["header"], True)


def host_port(url: str) -> tuple[str, int]:
    """The host and port a URL reaches (443 for https, 80 for http when no port is given)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "", port


def disagreements(items) -> Iterator[tuple[Setting, str]]:
    """(setting, message) for every login setting that disagrees with the others: the issuers of
    the auth service and of the mesh's token check, the user id header, the user id prefix.
    The auth side is the reference; without one, the most common value."""
    found = list(settings(items))
    for role, what in ((ISSUER, "issuer"), (HEADER, "user id header"), (PREFIX, "user id prefix")):
        these = [s for s in found if s.role == role]
        if not these:
            continue
        pool = [s for s in these if s.auth_side] or these
        counts: dict[str, int] = {}
        for s in pool:
            counts[s.value] = counts.get(s.value, 0) + 1
        reference = max(counts, key=lambda v: (counts[v], v == (pool[0].value)))
        source = next(s for s in pool if s.value == reference)
        for s in these:
            if s.value != reference:
                yield (
                    s,
                    f"the login's {what} is {reference!r} ({source.item.ref()} {source.field}), here {s.value!r}: "
                    "every consumer of the login must agree",
                )
