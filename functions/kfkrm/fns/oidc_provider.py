"""Points Kubeflow's login at the organisation's OIDC provider (its SSO) instead of the bundled
Dex, on every generation of the auth service, and optionally removes Dex.

- oidc-authservice (Kubeflow 1.3 to 1.8): its parameters ConfigMap gets `OIDC_PROVIDER` (the
  issuer), `CLIENT_ID`, `OIDC_SCOPES`, `USERID_CLAIM`, `GROUPS_CLAIM`, `USERID_PREFIX`; Dex's
  `OIDC_AUTH_URL` goes (discovery finds the IdP's) and `/dex` leaves `SKIP_AUTH_URI(S)`; the
  client secret comes from the organisation's Secret (`CLIENT_SECRET` env), the bundled
  client Secret with upstream's published credentials goes.
- oauth2-proxy (1.9 and later): `oauth2_proxy.cfg` gets `oidc_issuer_url` and `scope`, uses
  OIDC discovery (Dex's `skip_oidc_discovery`, `login_url`, `redeem_url`, `oidc_jwks_url`
  go), drops `^/dex/` from `skip_auth_routes` and Dex's `prompt = "none"`; its client id and
  secret env come from the config and the organisation's Secret.
- the mesh's token check (RequestAuthentication mapping a claim to the user id header):
  issuer, jwksUri, and outputClaimToHeaders (userIdClaim -> kubeflow-userid, groupsClaim ->
  kubeflow-groups).
- the login policies (AuthorizationPolicies): Dex's path exemptions (`/dex/*`) go.
- every consumer of the user id prefix (domain/login.py) gets userIdPrefix; a consumer whose
  user id header differs from the auth service's is a warning.

Each change is an info result with its field; whatever still addresses Dex afterwards is a
warning with its field path. See docs/functions/oidc-provider.md."""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ..domain import dex as dex_domain
from ..domain import login
from ..domain.authservice import find_auth_workloads, referenced_objects, runs_auth_image
from ..domain.pod_metadata import injection
from ..runtime.config import FunctionConfig, Model
from ..runtime.k8svalidation import is_dns_subdomain
from ..runtime.kinds import is_core
from ..runtime.paths import field_path, walk_strings
from ..runtime.podtemplates import pod_template
from ..runtime.results import error, info, warn

EXCLUDE_OUTBOUND = "traffic.sidecar.istio.io/excludeOutboundPorts"
OIDC_AUTHSERVICE, OAUTH2_PROXY = "oidc-authservice", "oauth2-proxy"
# oidc-authservice's parameters this function owns (envconfig names).
AUTHSERVICE_DROP = ("OIDC_AUTH_URL",)
AUTHSERVICE_SKIP = ("SKIP_AUTH_URI", "SKIP_AUTH_URLS")
# oauth2_proxy.cfg settings that made it talk to Dex without discovery.
CFG_DROP = ("login_url", "redeem_url", "oidc_jwks_url")
DISPLAY_NAME = "SSO"  # oauth2-proxy's sign-in button: "Sign in with SSO"


class ClientSecret(Model):
    name: str = Field(..., description="the Secret, in the auth service's namespace, that the organisation provides")
    key: str = Field(..., min_length=1, description="the key holding the client secret")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name):
        if not is_dns_subdomain(name):
            raise ValueError(f"{name!r} is not a Secret name (lower-case DNS subdomain)")
        return name


class Config(FunctionConfig):
    KIND = "OidcProvider"

    issuer: str = Field(
        ..., description="the OIDC issuer URL (discovery at issuer + /.well-known/openid-configuration)"
    )
    clientId: str = Field(..., min_length=1, description="the client id registered for Kubeflow at the provider")
    clientSecret: ClientSecret = Field(..., description="where the client secret is: a Secret {name, key}")
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email", "groups"],
        description="the scopes the login asks for (must include openid)",
    )
    userIdClaim: str = Field("email", min_length=1, description="the claim that becomes the user id (kubeflow-userid)")
    groupsClaim: Optional[str] = Field(
        None, description="the claim that becomes kubeflow-groups where the release maps groups (unset: not mapped)"
    )
    userIdPrefix: str = Field(
        "", description="the prefix in front of the user id, set in the auth service and every consumer"
    )
    jwksUri: Optional[str] = Field(None, description="the provider's JWKS URL (default: from discovery)")
    removeBundledDex: bool = Field(False, description="remove the Dex Kubeflow bundles, with everything of it")

    @field_validator("issuer", "jwksUri")
    @classmethod
    def _url(cls, value):
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{value!r} is not an absolute http(s) URL without query or fragment")
        return value

    @model_validator(mode="after")
    def _openid(self):
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid (an OIDC login without it gets no ID token)")
        if dex_domain.BundledDex().address_pattern().search(self.issuer):
            raise ValueError(f"issuer {self.issuer!r} is the bundled Dex: name the organisation's provider")
        return self


class _Run:
    def __init__(self, rl, config: Config):
        self.rl, self.config = rl, config
        self.changes = 0

    def set(self, item, container: dict, key, value, where: str, before=None) -> None:
        old = container.get(key, None) if before is None else before
        if container.get(key, None) == value:
            return
        container[key] = value
        self.changes += 1
        info(self.rl, f"set to {value!r} (was {old!r})" if old is not None else f"set to {value!r}", item, where)

    def drop(self, item, container: dict, key, where: str, why: str, show: bool = True) -> None:
        if key in container:
            old = container.pop(key)
            self.changes += 1
            info(self.rl, f"removed {old!r}: {why}" if show else f"removed: {why}", item, where)


def transform(rl, config: Config) -> str:
    run = _Run(rl, config)
    items = list(rl.mutable_items())
    dex = dex_domain.find(items)
    pattern = dex.address_pattern()
    workloads = find_auth_workloads(rl)
    if not workloads:
        error(
            rl,
            "no auth service (a workload running oidc-authservice or oauth2-proxy) in the input: nothing to point at "
            f"{config.issuer}",
        )
        return ""
    old_issuers = {s.value for s in login.settings(items) if s.role == login.ISSUER and s.auth_side}
    auth_headers = []
    for workload in workloads:
        kind = _generation(workload)
        if kind == OIDC_AUTHSERVICE:
            auth_headers += _oidc_authservice(run, items, workload, pattern)
        else:
            _oauth2_proxy(run, items, workload, pattern)
        _reach_check(run, items, workload)
    auth_headers += _request_authentications(run, items, old_issuers, pattern)
    _login_policies(run, items, dex)
    _consumers(run, items, auth_headers)
    removed = 0
    if config.removeBundledDex:
        removed = _remove_dex(rl, items, dex)
    elif dex.workloads:
        for workload in dex.workloads:
            warn(
                rl,
                "the bundled Dex stays (removeBundledDex not set): its login page and static users "
                f"(e.g. user@example.com) are still served on the gateway ({', '.join(dex.paths) or '/dex'})",
                workload,
            )
    _still_dex(rl, dex, pattern)
    gone = f", removed {removed} objects of the bundled Dex" if removed else ""
    return f"login on {config.issuer}: {run.changes} fields changed{gone}"


def _generation(workload) -> str:
    tpl = pod_template(workload)
    images = " ".join(str(c.get("image")) for _, c in tpl.containers())
    return OIDC_AUTHSERVICE if OIDC_AUTHSERVICE in images else OAUTH2_PROXY


def _own(items, workload, kind: str) -> list:
    refs = referenced_objects(pod_template(workload), workload)
    names = {name for k, name in refs if k == kind}
    return [i for i in items if is_core(i, kind) and i.namespace == workload.namespace and i.name in names]


def _oidc_authservice(run: _Run, items, workload, pattern) -> list[str]:
    config = run.config
    params = [cm for cm in _own(items, workload, "ConfigMap") if login.AUTHSERVICE_ISSUER in (cm.obj.get("data") or {})]
    if not params:
        error(run.rl, f"oidc-authservice: no ConfigMap with {login.AUTHSERVICE_ISSUER} among its envFrom", workload)
        return []
    headers = []
    for cm in params:
        data = cm.obj["data"]
        wanted = {
            login.AUTHSERVICE_ISSUER: config.issuer,
            "CLIENT_ID": config.clientId,
            "OIDC_SCOPES": ",".join(config.scopes),
            "USERID_CLAIM": config.userIdClaim,
            "USERID_PREFIX": config.userIdPrefix,
        }
        if config.groupsClaim:
            wanted["GROUPS_CLAIM"] = config.groupsClaim
        for key, value in wanted.items():
            run.set(cm, data, key, value, field_path(("data", key)))
        for key in AUTHSERVICE_DROP:
            if key in data and pattern.search(str(data[key])):
                run.drop(cm, data, key, field_path(("data", key)), "Dex's endpoint; discovery finds the provider's")
        for key in AUTHSERVICE_SKIP:
            if key in data:
                kept = [u for u in re.split(r"[,\s]+", str(data[key])) if u and not pattern.search(u)]
                if not kept:
                    run.drop(cm, data, key, field_path(("data", key)), "Dex's login path is no longer exempt")
                else:
                    run.set(cm, data, key, ",".join(kept), field_path(("data", key)))
        headers.append(str(data.get("USERID_HEADER") or login.DEFAULT_USERID_HEADER))
    _client_env(run, items, workload, "CLIENT_ID", "CLIENT_SECRET", client_id_in_env=False)
    return headers


def _client_env(run: _Run, items, workload, id_name: str, secret_name: str, client_id_in_env: bool) -> None:
    """The client secret from the organisation's Secret (and the client id, where it is env);
    the bundled client credentials (upstream's published ones) go."""
    config = run.config
    tpl = pod_template(workload)
    secret_ref = {"secretKeyRef": {"name": config.clientSecret.name, "key": config.clientSecret.key}}
    bundled = []
    for where, container in tpl.containers():
        if not runs_auth_image(container):
            continue
        env = container.setdefault("env", [])
        by_name = {e.get("name"): (i, e) for i, e in enumerate(env) if isinstance(e, dict)}
        wanted = {secret_name: ("valueFrom", secret_ref)}
        if client_id_in_env or id_name in by_name:
            wanted[id_name] = ("value", config.clientId)
        for name, (key, value) in wanted.items():
            if name in by_name:
                i, entry = by_name[name]
                ref = ((entry.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
                if ref and ref != config.clientSecret.name:
                    bundled.append(ref)
                if entry.get(key) != value or len(entry) != 2:
                    before = entry.get("value", entry.get("valueFrom"))
                    entry.clear()
                    entry.update({"name": name, key: value})
                    run.changes += 1
                    info(run.rl, f"{name} now {value!r} (was {before!r})", workload, f"{where}.env[{i}]")
            else:
                env.append({"name": name, key: value})
                run.changes += 1
                info(run.rl, f"{name} set to {value!r}", workload, f"{where}.env[{len(env) - 1}]")
        sources = container.get("envFrom") or []
        for source in list(sources):
            name = ((source or {}).get("secretRef") or {}).get("name")
            secret = next((s for s in _own(items, workload, "Secret") if s.name == name), None)
            data = (secret.obj.get("data") or {}) if secret is not None else {}
            if name and name != config.clientSecret.name and (secret_name in data or id_name in data):
                sources.remove(source)
                bundled.append(name)
                run.changes += 1
                info(run.rl, f"envFrom Secret {name} removed: the client comes from the config", workload, where)
        if not sources and "envFrom" in container:
            del container["envFrom"]
    for name in dict.fromkeys(bundled):
        _retire_bundled_client(run, items, workload, name)
    warn(
        run.rl,
        f"reads the client secret from Secret {config.clientSecret.name} (key {config.clientSecret.key}) in "
        f"{workload.namespace}: the organisation must provide it there",
        workload,
    )


def _retire_bundled_client(run: _Run, items, workload, name: str) -> None:
    """The bundled client Secret: removed when nothing uses it any more, else its client keys go."""
    secret = next(
        (s for s in items if is_core(s, "Secret") and s.namespace == workload.namespace and s.name == name), None
    )
    if secret is None or secret not in run.rl.items:
        return
    users = [w for w in items if w.namespace == workload.namespace and w in run.rl.items and _uses(w, "Secret", name)]
    data = secret.obj.get("data") or {}
    if not users:
        run.rl.remove([secret], why="the bundled OIDC client (upstream's published client id and secret); unused now")
        return
    for key in ("client-id", "client-secret", "CLIENT_ID", "CLIENT_SECRET"):
        run.drop(
            secret, data, key, field_path(("data", key)), "upstream's published client credentials, unused now", False
        )
    if "cookie-secret" in data:
        warn(
            run.rl,
            "the cookie secret is upstream's published one: replace it with a random 32-byte value",
            secret,
            field_path(("data", "cookie-secret")),
        )


def _uses(workload, kind: str, name: str) -> bool:
    tpl = pod_template(workload)
    return tpl is not None and (kind, name) in referenced_objects(tpl, workload)


def _oauth2_proxy(run: _Run, items, workload, pattern) -> None:
    config = run.config
    found = False
    for cm in _own(items, workload, "ConfigMap"):
        data = cm.obj.get("data") or {}
        for key, text in list(data.items()):
            if isinstance(text, str) and login.cfg_value(text, "provider") is not None:
                found = True
                new, changes = _rewrite_cfg(text, config, pattern)
                if new != text:
                    data[key] = new
                    run.changes += len(changes)
                    for change in changes:
                        info(run.rl, change, cm, field_path(("data", key)))
            if isinstance(text, str) and login.cfg_value(text, "cookie_refresh") in ("0", "0s", ""):
                warn(
                    run.rl,
                    f"cookie_refresh is off and cookie_expire is {login.cfg_value(text, 'cookie_expire')}, "
                    "tuned to Dex's 24h tokens: the gateway rejects the JWT once the provider's ID token expires; "
                    "set cookie_refresh below its lifetime (and grant a refresh token) or cookie_expire to it",
                    cm,
                    field_path(("data", key)),
                )
            if key == "ALLOW_SELF_SIGNED_ISSUER" and str(text).lower() == "true":
                warn(
                    run.rl,
                    "oauth2-proxy skips TLS verification of the issuer (OAUTH2_PROXY_SSL_INSECURE_SKIP_VERIFY): set "
                    "false once its pods trust the provider's CA",
                    cm,
                    field_path(("data", key)),
                )
    if not found:
        error(
            run.rl, "oauth2-proxy: no ConfigMap with its oauth2_proxy.cfg among the ConfigMaps its pods use", workload
        )
        return
    _client_env(run, items, workload, "OAUTH2_PROXY_CLIENT_ID", "OAUTH2_PROXY_CLIENT_SECRET", client_id_in_env=True)


def _cfg_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rewrite_cfg(text: str, config: Config, pattern) -> tuple[str, list[str]]:
    """oauth2_proxy.cfg pointed at the provider: (new text, one message per change). Comment
    blocks that speak of Dex go with it."""
    wanted = {
        "oidc_issuer_url": _cfg_quote(config.issuer),
        "scope": _cfg_quote(" ".join(config.scopes)),
        "skip_oidc_discovery": "false",
        "provider_display_name": _cfg_quote(DISPLAY_NAME),
    }
    if config.groupsClaim:
        wanted["oidc_groups_claim"] = _cfg_quote(config.groupsClaim)
    wanted["oidc_email_claim"] = _cfg_quote(config.userIdClaim) if config.userIdClaim != "email" else None
    changes: list[str] = []
    out: list[str] = []
    block: list[str] = []  # the comment block above the current line
    lines = text.split("\n")
    seen = set()
    in_list = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(line)
            continue
        m = login.CFG_LINE.match(line)
        key = m.group("key") if m else None
        dex_block = any(re.search(r"(?i)\bdex\b|dexidp", b) for b in block)
        if in_list is not None:  # inside a multi-line [ ... ] value
            if stripped.startswith('"') and pattern.search(stripped):
                changes.append(f"{in_list}: {stripped.rstrip(',')} removed (Dex's login path)")
                block = []
                continue
            if stripped.startswith("]"):
                in_list = None
            out += block + [line]
            block = []
            continue
        if key == "prompt" and "none" in line:
            changes.append(
                'prompt = "none" replaced by approval_prompt = "auto" (Dex needed none; a provider '
                "without a session would answer login_required)"
            )
            out.append('approval_prompt = "auto"')
            block = []
            continue
        if key in CFG_DROP:
            changes.append(f"{key} removed (Dex's endpoint; discovery finds the provider's)")
            block = [] if dex_block else block
            continue
        if key in wanted:
            seen.add(key)
            value = wanted[key]
            if value is None:
                changes.append(f"{key} removed")
                continue
            if m.group("value") != value:
                changes.append(f"{key} = {value} (was {m.group('value')})")
            out += ([] if dex_block else block) + [f"{key} = {value}"]
            block = []
            continue
        if key and m.group("value").startswith("[") and not m.group("value").endswith("]"):
            in_list = key
        if dex_block:
            changes.append("comment about Dex removed")
        out += ([] if dex_block else block) + [line]
        block = []
    out += block
    extra = [f"{k} = {v}" for k, v in wanted.items() if k not in seen and v is not None]
    for line in extra:
        changes.append(f"{line} added")
    if extra:
        while out and out[-1] == "":
            out.pop()
        out += extra + [""]
    return "\n".join(out), changes


def _request_authentications(run: _Run, items, old_issuers: set, pattern) -> list[str]:
    """The mesh's check of the login's tokens: the rules that map a claim to the user id header
    and trust the auth service's old issuer (or Dex)."""
    config = run.config
    headers = []
    for item in items:
        if (item.group, item.kind) != login.REQUEST_AUTHENTICATION:
            continue
        for i, rule in enumerate((item.obj.get("spec") or {}).get("jwtRules") or []):
            mappings = rule.get("outputClaimToHeaders") or []
            userid = [m for m in mappings if login.is_userid_header(m.get("header"))]
            issuer = str(rule.get("issuer", ""))
            if not userid or not (issuer in old_issuers or pattern.search(issuer) or issuer == config.issuer):
                continue
            base = f"spec.jwtRules[{i}]"
            run.set(item, rule, "issuer", config.issuer, f"{base}.issuer")
            if config.jwksUri:
                run.set(item, rule, "jwksUri", config.jwksUri, f"{base}.jwksUri")
            elif "jwksUri" in rule and pattern.search(str(rule["jwksUri"])):
                run.drop(item, rule, "jwksUri", f"{base}.jwksUri", "Dex's keys; Istio reads the provider's discovery")
            for j, m in enumerate(mappings):
                if login.is_userid_header(m.get("header")):
                    run.set(item, m, "claim", config.userIdClaim, f"{base}.outputClaimToHeaders[{j}].claim")
                    headers.append(m["header"])
            groups = [(j, m) for j, m in enumerate(mappings) if m.get("header") == login.DEFAULT_GROUPS_HEADER]
            if config.groupsClaim:
                for j, m in groups:
                    run.set(item, m, "claim", config.groupsClaim, f"{base}.outputClaimToHeaders[{j}].claim")
                if not groups:
                    mappings.append({"header": login.DEFAULT_GROUPS_HEADER, "claim": config.groupsClaim})
                    run.changes += 1
                    info(run.rl, f"maps claim {config.groupsClaim} to {login.DEFAULT_GROUPS_HEADER}", item, base)
            else:
                for j, m in reversed(groups):
                    mappings.remove(m)
                    run.changes += 1
                    info(
                        run.rl,
                        f"{login.DEFAULT_GROUPS_HEADER} mapping (claim {m.get('claim')!r}) removed: no groupsClaim",
                        item,
                        f"{base}.outputClaimToHeaders[{j}]",
                    )
    return headers


def _login_policies(run: _Run, items, dex) -> None:
    """Dex's login path leaves the gateway's path exemptions (AuthorizationPolicy (not)paths)."""
    paths = dex.paths or [dex_domain.DEFAULT_PATH]
    for item in items:
        if item.group != "security.istio.io" or item.kind != "AuthorizationPolicy":
            continue
        if item.raw is not None and not any(p in item.raw for p in paths):
            continue
        for path, parent, key, value in list(walk_strings(item.obj.get("spec") or {}, ("spec",))):
            if isinstance(parent, list) and path[-2] in ("paths", "notPaths"):
                if any(value == p or value.startswith(p + "/") for p in paths):
                    parent.remove(value)
                    run.changes += 1
                    info(run.rl, f"{value!r} removed: Dex's login path is no longer exempt", item, field_path(path))


def _consumers(run: _Run, items, auth_headers: list[str]) -> None:
    """userIdPrefix in every consumer; a consumer reading another header than the auth service sets is a warning."""
    header = auth_headers[0] if auth_headers else login.DEFAULT_USERID_HEADER
    for setting in list(login.settings(items)):
        if setting.role == login.PREFIX and setting.value != run.config.userIdPrefix:
            _set_by_path(run, setting, run.config.userIdPrefix)
        elif setting.role == login.HEADER and setting.value != header:
            warn(
                run.rl,
                f"reads the user id from header {setting.value!r}, the auth service sets {header!r}: set it to "
                f"{header!r}",
                setting.item,
                setting.field,
            )


def _set_by_path(run: _Run, setting, value: str) -> None:
    obj = setting.item.obj
    if setting.field.startswith("data"):
        key = setting.field[len('data["') : -2] if setting.field.startswith('data["') else setting.field[5:]
        run.set(setting.item, obj["data"], key, value, setting.field)
        return
    m = re.match(r"^(?P<where>.*)\.env\[(?P<i>\d+)\]\.value$", setting.field)
    tpl = pod_template(setting.item)
    for where, container in tpl.containers():
        if m and where == m.group("where"):
            run.set(setting.item, container["env"][int(m.group("i"))], "value", value, setting.field)


def _reach_check(run: _Run, items, workload) -> None:
    """From inside the mesh the auth service calls the issuer: its sidecar must not capture that
    port, or a ServiceEntry must declare the provider."""
    host, port = login.host_port(run.config.issuer)
    tpl = pod_template(workload)
    namespace = next((i for i in items if is_core(i, "Namespace") and i.name == workload.namespace), None)
    injected, _, _ = injection(tpl, namespace.labels if namespace is not None else None)
    if not injected:
        return
    excluded = [p.strip() for p in str(tpl.annotations.get(EXCLUDE_OUTBOUND, "")).split(",") if p.strip()]
    if str(port) in excluded:
        return
    for item in items:
        if item.group == "networking.istio.io" and item.kind == "ServiceEntry":
            spec = item.obj.get("spec") or {}
            ports = [str((p or {}).get("number")) for p in spec.get("ports") or []]
            if host in (spec.get("hosts") or []) and str(port) in ports:
                return
    warn(
        run.rl,
        f"its sidecar captures outbound port {port}, which the login uses to reach {host}: add {port} to "
        f"{EXCLUDE_OUTBOUND} (authservice-relocation's excludeOutboundPorts) or declare a ServiceEntry for "
        f"{host}:{port}",
        workload,
        tpl.field("metadata", "annotations", EXCLUDE_OUTBOUND),
    )


def _remove_dex(rl, items, dex) -> int:
    if not dex.workloads and not dex.objects:
        info(rl, "no bundled Dex (no workload running the Dex image) in the input; already removed")
        return 0
    for item, why in dex.kept:
        warn(rl, f"of the bundled Dex, but kept: {why}", item)
    leftovers = dex_domain.namespace_leftovers(items, dex)
    removed = list(dex.objects.values())
    for ns, (namespace, defaults, others) in leftovers.items():
        if others:
            warn(
                rl,
                f"Dex's namespace {ns} kept: it still holds {', '.join(i.ref() for i in others[:5])}",
                namespace,
            )
            continue
        removed += [(i, f"a namespace-wide default of {ns}, Dex's namespace, which is now empty") for i in defaults]
        if namespace is not None:
            removed.append((namespace, "Dex's namespace, with nothing else left in it"))
    for item, why in removed:
        rl.remove([item], why=why)
    return len(removed)


def _still_dex(rl, dex, pattern) -> None:
    """Whatever still addresses Dex (outside Dex's own objects, when they stay) is a warning."""
    for item in rl.mutable_items():
        if dex.has(item) or (item.raw is not None and not pattern.search(item.raw)):
            continue
        for path, _, _, value in walk_strings(item.obj):
            if pattern.search(value):
                where = field_path(path)
                warn(rl, f"still addresses the bundled Dex ({pattern.search(value).group(0)!r})", item, where)
