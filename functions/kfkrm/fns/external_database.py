"""Points Kubeflow Pipelines and Katib at the organisation's MySQL and removes the databases
Kubeflow bundles (KFP's `mysql`, Katib's `katib-mysql`).

Each component is set on its own (`kfp`, `katib`): only the set ones move. A component's
bundled database is found by evidence (domain/databases.py: the Service its clients' host
setting names, and the workloads it selects; domain/bundled.py: what hangs off them) and
removed; every setting that reaches it is rewritten:

- KFP: pipeline-install-config `dbHost`, `mysqlHost`, `dbPort`, `mysqlPort` (and `pipelineDb`,
  `cacheDb`, `mlmdDb` when named), which the API server, the cache server and metadata-grpc read;
  their credentials (secretKeyRefs to `mysql-secret`, keys username/password) from the
  organisation's Secret; `mysql-secret` itself goes once nothing reads it.
- Katib: the DB manager's `DB_USER`, `DB_PASSWORD` (from the organisation's Secret),
  `KATIB_MYSQL_DB_HOST`, `KATIB_MYSQL_DB_PORT` (and `KATIB_MYSQL_DB_DATABASE` when named).

Afterwards, anything still naming a removed database (a host field with its Service's name, a
Secret reference to its credentials) is an error: the run fails rather than ship a client that
points at nothing."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ..domain import bundled, databases
from ..runtime.config import FunctionConfig, Model
from ..runtime.paths import field_path, walk_strings
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.results import error, info, warn

_HOST = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_DATABASE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")  # MySQL unquoted identifier


def _database_name(value):
    if value is not None and not _DATABASE.match(value):
        raise ValueError(f"{value!r} is not a MySQL database name (letters, digits, _ and $, at most 64)")
    return value


class Secret(Model):
    name: str = Field(..., description="the Secret, in each component's namespace, holding the user and password")
    userKey: str = Field(..., min_length=1, description="its key holding the user name")
    passwordKey: str = Field(..., min_length=1, description="its key holding the password")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name):
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a Secret name (lower-case DNS subdomain)")
        return name


class Kfp(Model):
    pipelineDb: Optional[str] = Field(None, description="the API server's database (pipelineDb; upstream mlpipeline)")
    cacheDb: Optional[str] = Field(None, description="the cache server's database (cacheDb; upstream cachedb)")
    metadataDb: Optional[str] = Field(None, description="metadata-grpc's database (mlmdDb; upstream metadb)")

    @field_validator("pipelineDb", "cacheDb", "metadataDb")
    @classmethod
    def _names(cls, value):
        return _database_name(value)


class Katib(Model):
    database: Optional[str] = Field(None, description="Katib's database (KATIB_MYSQL_DB_DATABASE; default katib)")

    @field_validator("database")
    @classmethod
    def _name(cls, value):
        return _database_name(value)


class Database(Model):
    host: str = Field(..., description="the organisation's MySQL host name (no scheme, no port)")
    port: int = Field(3306, ge=1, le=65535, description="its port")
    secret: Secret = Field(..., description="the Secret with the user and password the components connect with")
    kfp: Optional[Kfp] = Field(
        None, description="Kubeflow Pipelines uses this database (set {} for upstream's database names)"
    )
    katib: Optional[Katib] = Field(None, description="Katib uses this database (set {} for upstream's database name)")

    @field_validator("host")
    @classmethod
    def _valid_host(cls, host):
        if "://" in host or ":" in host or not _HOST.match(host):
            raise ValueError(f"must be a host name, without scheme or port (got {host!r}); the port is `port`")
        return host

    @model_validator(mode="after")
    def _some_component(self):
        if self.kfp is None and self.katib is None:
            raise ValueError("names no component: set kfp and/or katib (each may be {})")
        bundled_secrets = {
            t["name"] for terms in databases.FORBID_TERMS.values() for t in terms if t["kind"] == "Secret"
        }
        if self.secret.name in bundled_secrets:
            raise ValueError(
                f"secret: {self.secret.name} is a bundled database's Secret, which is removed; "
                "name the organisation's own Secret"
            )
        return self


class Config(FunctionConfig, Database):
    KIND = "ExternalDatabase"


def transform(rl, config: Config) -> str:
    items = list(rl.mutable_items())
    plans = []
    for component in databases.COMPONENTS:
        if getattr(config, component.key) is None:
            continue
        addressed = component.services(items)
        found = bundled.find_behind(items, addressed, "database", component.owner)
        for item, message in found.warnings:
            warn(rl, message, item)
        for service in found.unidentified:
            error(
                rl,
                f"{component.owner}'s database host names this Service, but it selects no workload in the input: "
                "the bundled database cannot be identified, so it cannot be removed; render it into the input",
                service,
                "spec.selector",
            )
        if not found.remove and not found.unidentified:
            info(
                rl,
                f"no bundled {component.owner} database in the input (its host setting names no Service here): "
                "nothing to remove; settings rewritten",
            )
        plans.append((component, found))
    if rl.has_errors:
        return ""
    changed = 0
    replaced_secrets: set = set()
    if config.kfp is not None:
        changed += _kfp(rl, items, config, replaced_secrets)
    if config.katib is not None:
        changed += _katib(rl, items, config, replaced_secrets)
    removed = 0
    for component, found in plans:
        for item, why in found.remove.values():
            rl.remove([item], why=why)
            removed += 1
    removed += _unread_secrets(rl, replaced_secrets, plans)
    _left_pointing(rl, plans)
    _secret_present(rl, config, plans)
    names = [c.owner for c, _ in plans]
    return (
        f"{' and '.join(names)} on {config.host}:{config.port}: {changed} settings changed, {removed} objects removed"
    )


def _set_entry(env: list, entry: dict) -> bool:
    index = next((i for i, e in enumerate(env) if isinstance(e, dict) and e.get("name") == entry["name"]), None)
    if index is None:
        env.append(entry)
        return True
    if env[index] == entry:
        return False
    env[index] = entry
    return True


def _secret_entry(name: str, secret: Secret, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret.name, "key": key}}}


def _kfp(rl, items, config: Config, replaced: set) -> int:
    changed = 0
    wanted = {k: config.host for k in databases.KFP_HOST_KEYS}
    wanted.update({k: str(config.port) for k in databases.KFP_PORT_KEYS})
    for field, key in databases.KFP_DATABASE_KEYS.items():
        if getattr(config.kfp, field) is not None:
            wanted[key] = getattr(config.kfp, field)
    configs = databases.kfp_install_configs(items)
    if not configs:
        warn(rl, f"no ConfigMap {databases.KFP_INSTALL_CONFIG} in the input: KFP's database host was not set")
    for cm in configs:
        data = cm.obj.get("data")
        if not isinstance(data, dict):
            continue
        for key, value in wanted.items():
            if (key in data or key in databases.KFP_DATABASE_KEYS.values()) and data.get(key) != value:
                info(rl, f"{key}: {data.get(key)!r} -> {value!r}", cm, f"data.{key}")
                data[key] = value
                changed += 1
    for client in databases.kfp_clients(items):
        for path, container in pod_template(client).containers():
            env = container.get("env")
            if not isinstance(env, list):
                continue
            what = []
            for entry in list(env):
                ref = _secret_ref(entry)
                if ref is None or ref.get("name") == config.secret.name:
                    continue
                held = databases.KFP_CREDENTIALS.get(str(ref.get("key")))
                if held is None:
                    continue
                key = config.secret.userKey if held == "user" else config.secret.passwordKey
                replaced.add((client.namespace, str(ref.get("name"))))
                if _set_entry(env, _secret_entry(entry["name"], config.secret, key)):
                    what.append(entry["name"])
            if what:
                changed += len(what)
                info(
                    rl,
                    f"database credentials from Secret {config.secret.name}: {', '.join(what)}",
                    client,
                    f"{path}.env",
                )
    return changed


def _katib(rl, items, config: Config, replaced: set) -> int:
    managers = [i for i in items if databases.is_katib_db_manager(i)]
    if not managers:
        warn(rl, f"no Katib DB manager ({databases.KATIB_DB_MANAGER}) in the input: Katib's database was not set")
    changed = 0
    for manager in managers:
        for path, container in pod_template(manager).containers():
            if container.get("name") != databases.KATIB_DB_MANAGER and not any(
                str(c).endswith(databases.KATIB_DB_MANAGER) for c in container.get("command") or []
            ):
                continue
            env = container.get("env")
            if not isinstance(env, list):
                env = container["env"] = []
            for entry in env:
                ref = _secret_ref(entry)
                if ref is not None and entry.get("name") in (databases.KATIB_USER, databases.KATIB_PASSWORD):
                    if ref.get("name") != config.secret.name:
                        replaced.add((manager.namespace, str(ref.get("name"))))
            wanted = [
                _secret_entry(databases.KATIB_USER, config.secret, config.secret.userKey),
                _secret_entry(databases.KATIB_PASSWORD, config.secret, config.secret.passwordKey),
                {"name": databases.KATIB_HOST, "value": config.host},
                {"name": databases.KATIB_PORT, "value": str(config.port)},
            ]
            if config.katib.database is not None:
                wanted.append({"name": databases.KATIB_DATABASE, "value": config.katib.database})
            what = [e["name"] for e in wanted if _set_entry(env, e)]
            if what:
                changed += len(what)
                info(
                    rl,
                    f"Katib's database is {config.host}:{config.port}, credentials from Secret "
                    f"{config.secret.name}: {', '.join(what)}",
                    manager,
                    f"{path}.env",
                )
    return changed


def _secret_ref(entry) -> Optional[dict]:
    if not isinstance(entry, dict) or not isinstance(entry.get("valueFrom"), dict):
        return None
    ref = entry["valueFrom"].get("secretKeyRef")
    return ref if isinstance(ref, dict) else None


def _secret_users(rl, replaced: set) -> set:
    """(namespace, name) of the `replaced` Secrets a workload in the stream still reads."""
    used = set()
    names = {name for _, name in replaced}
    for item in rl.mutable_items():
        if item.raw is not None and not any(n in item.raw for n in names):
            continue
        if has_pod_template(item) and pod_template(item) is not None:
            used |= {(item.namespace, name) for name in bundled.pod_references(pod_template(item).spec)[0]}
    return used


def _unread_secrets(rl, replaced: set, plans) -> int:
    """The clients' old credential Secrets (KFP's mysql-secret): removed once nothing reads them."""
    if not replaced:
        return 0
    used = _secret_users(rl, replaced)
    removed = 0
    for item in list(rl.mutable_items()):
        key = (item.namespace, item.name)
        if item.kind != "Secret" or item.group != "" or key not in replaced:
            continue
        if key in used:
            warn(rl, "a bundled database's client credentials, still read by another workload; kept", item)
            continue
        rl.remove([item], why="the bundled database's client credentials (no client reads them any more)")
        for _, found in plans:
            found.secrets.add(key)
        removed += 1
    return removed


def _left_pointing(rl, plans) -> None:
    """Anything still naming a removed database is an error."""
    addresses = set()
    secrets = set()
    for _, found in plans:
        addresses |= found.addresses
        secrets |= found.secrets
    if not addresses and not secrets:
        return
    pattern = re.compile(
        "^(?:" + "|".join(re.escape(a) for a in sorted(addresses, key=len, reverse=True)) + ")(?::[0-9]+)?$"
        if addresses
        else "$^"
    )
    names = sorted({a for a in addresses} | {name for _, name in secrets}, key=len, reverse=True)
    # a YAML scalar that is one of the names (an address with a port, too): only such items are parsed
    scalar = re.compile(
        r"""[:\-\[{,]\s*["']?(?:""" + "|".join(re.escape(n) for n in names) + r""")(?::[0-9]+)?["']?\s*(?:$|[,}\]])""",
        re.M,
    )
    for item in rl.mutable_items():
        if item.raw is not None and not scalar.search(item.raw):
            continue
        if has_pod_template(item) and pod_template(item) is not None:
            used = {(item.namespace, n) for n in bundled.pod_references(pod_template(item).spec)[0]} & secrets
            for ns, name in sorted(used):
                error(rl, f"still reads Secret {name} of a removed database", item)
        for path, parent, _, value in walk_strings(item.obj):
            if path[:1] == ("metadata",) or not pattern.match(value):
                continue
            if "." in value.split(":")[0] or databases.is_host_field(path, parent):
                error(rl, f"still names the removed database {value}", item, field_path(path))


def _secret_present(rl, config: Config, plans) -> None:
    namespaces = sorted({s.namespace for _, found in plans for s in found.servers} or {"kubeflow"})
    present = {i.namespace for i in rl.mutable_items() if i.kind == "Secret" and i.name == config.secret.name}
    missing = [ns for ns in namespaces if ns not in present]
    if missing:
        warn(
            rl,
            f"Secret {config.secret.name} (keys {config.secret.userKey}, {config.secret.passwordKey}) is not in the "
            f"input: the organisation provides it in {', '.join(missing)}, where the database clients read it",
        )
