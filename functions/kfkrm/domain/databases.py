"""The MySQL databases Kubeflow bundles, found by evidence, and every setting by which their
clients reach them. Checked against the renders of v1.3.0, v1.7.0 and v1.10 and against KFP
2.15.0's manifests (tests/data/kfp-2.15-seaweedfs), and Katib's sources
(pkg/db/v1beta1/common/const.go).

Kubeflow Pipelines: the ConfigMap `pipeline-install-config` names the database: `dbHost`,
`dbPort` (every release), `mysqlHost`, `mysqlPort` (KFP 2.x, v1.10 on) and the database names
`pipelineDb` (API server), `cacheDb` (cache server), `mlmdDb` (metadata-grpc). Its clients read
them by configMapKeyRef: the API server (`DBCONFIG_HOST`, `DBCONFIG_PORT`, `DBCONFIG_MYSQLCONFIG_*`),
the cache server (`DBCONFIG_HOST_NAME`, `DBCONFIG_PORT`), metadata-grpc (`MYSQL_HOST`,
`MYSQL_PORT`, `MYSQL_DATABASE`; its ConfigMap `metadata-grpc-configmap` holds the gRPC service's
address, not MySQL's). Their credentials come from the Secret `mysql-secret` (keys `username`,
`password`) by secretKeyRef. So KFP's bundled database is whatever the Service `dbHost` names
selects (`mysql` in every release).

Katib: the DB manager (the workload whose container runs `katib-db-manager`) reads `DB_NAME`
(the driver, `mysql`), `DB_USER` (default root), `DB_PASSWORD`, `KATIB_MYSQL_DB_HOST` (default
`katib-mysql`), `KATIB_MYSQL_DB_PORT` (3306), `KATIB_MYSQL_DB_DATABASE` (katib). Its bundled
database is whatever that host's Service selects (`katib-mysql`); its password Secret
`katib-mysql-secrets` is the server's own credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..runtime.podtemplates import has_pod_template, pod_template

KFP_INSTALL_CONFIG = "pipeline-install-config"
KFP_HOST_KEYS = ("dbHost", "mysqlHost")
KFP_PORT_KEYS = ("dbPort", "mysqlPort")
KFP_DATABASE_KEYS = {"pipelineDb": "pipelineDb", "cacheDb": "cacheDb", "metadataDb": "mlmdDb"}  # config field -> key
KFP_CREDENTIALS = {"username": "user", "password": "password"}  # mysql-secret's keys -> what they hold

KATIB_DB_MANAGER = "katib-db-manager"
KATIB_USER, KATIB_PASSWORD = "DB_USER", "DB_PASSWORD"
KATIB_HOST, KATIB_PORT, KATIB_DATABASE = "KATIB_MYSQL_DB_HOST", "KATIB_MYSQL_DB_PORT", "KATIB_MYSQL_DB_DATABASE"
KATIB_DEFAULT_HOST = "katib-mysql"

# EnterprisePolicy forbid terms: the bundled databases' names in every Kubeflow release.
FORBID_TERMS = {
    "kfp": (
        {"group": "apps", "kind": "Deployment", "name": "mysql"},
        {"group": "core", "kind": "Service", "name": "mysql"},
        {"group": "core", "kind": "PersistentVolumeClaim", "name": "mysql-pv-claim"},
        {"group": "core", "kind": "Secret", "name": "mysql-secret"},
    ),
    "katib": (
        {"group": "apps", "kind": "Deployment", "name": "katib-mysql"},
        {"group": "core", "kind": "Service", "name": "katib-mysql"},
        {"group": "core", "kind": "PersistentVolumeClaim", "name": "katib-mysql"},
        {"group": "core", "kind": "Secret", "name": "katib-mysql-secrets"},
    ),
}


def service_of(host: str, namespace: str) -> Optional[tuple[str, str]]:
    """(namespace, name) of the in-cluster Service a host names (`name`, `name.ns`,
    `name.ns.svc`, `name.ns.svc.cluster.local`), or None for any other host."""
    parts = str(host).split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc") or parts[2:] == ["svc", "cluster", "local"]:
        return parts[1], parts[0]
    return None


def kfp_install_configs(items: list) -> list:
    return [i for i in items if i.kind == "ConfigMap" and i.group == "" and i.name == KFP_INSTALL_CONFIG]


def kfp_database_services(items: list) -> list[tuple[str, str]]:
    """The Services KFP's install config names as its database host."""
    found = []
    for cm in kfp_install_configs(items):
        data = cm.obj.get("data") or {}
        for key in KFP_HOST_KEYS:
            service = service_of(data[key], cm.namespace) if isinstance(data.get(key), str) else None
            if service and service not in found:
                found.append(service)
    return found


def kfp_clients(items: list) -> list:
    """KFP's database clients: workloads with an env entry read from a host or port key of
    pipeline-install-config."""
    keys = set(KFP_HOST_KEYS + KFP_PORT_KEYS)
    clients = []
    for item in items:
        if not has_pod_template(item) or (item.raw is not None and KFP_INSTALL_CONFIG not in item.raw):
            continue
        for _, container in pod_template(item).containers():
            for entry in container.get("env") or []:
                ref = ((entry or {}).get("valueFrom") or {}).get("configMapKeyRef") if isinstance(entry, dict) else None
                if isinstance(ref, dict) and ref.get("name") == KFP_INSTALL_CONFIG and ref.get("key") in keys:
                    clients.append(item)
                    break
            else:
                continue
            break
    return clients


def is_katib_db_manager(item) -> bool:
    if not has_pod_template(item) or (item.raw is not None and KATIB_DB_MANAGER not in item.raw):
        return False
    return any(
        container.get("name") == KATIB_DB_MANAGER
        or any(str(c).endswith(KATIB_DB_MANAGER) for c in container.get("command") or [])
        for _, container in pod_template(item).containers()
    )


def env_value(container: dict, name: str) -> Optional[str]:
    for entry in container.get("env") or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get("value"), str):
            return entry["value"]
    return None


def katib_database_services(items: list) -> list[tuple[str, str]]:
    found = []
    for item in items:
        if not is_katib_db_manager(item):
            continue
        for _, container in pod_template(item).containers():
            service = service_of(env_value(container, KATIB_HOST) or KATIB_DEFAULT_HOST, item.namespace)
            if service and service not in found:
                found.append(service)
    return found


@dataclass(frozen=True)
class Component:
    """One component's bundled database: how to find its Services and its clients."""

    key: str  # "kfp" or "katib": the config section
    owner: str  # for messages

    def services(self, items: list) -> list[tuple[str, str]]:
        return kfp_database_services(items) if self.key == "kfp" else katib_database_services(items)


COMPONENTS = (Component("kfp", "Kubeflow Pipelines"), Component("katib", "Katib"))


def is_host_field(path: tuple, parent) -> bool:
    """A field that holds a host: a key, or an env entry's name, that says host."""
    if len(path) >= 1 and path[-1] == "value" and isinstance(parent, dict) and "name" in parent:
        return "host" in str(parent.get("name")).lower()
    return bool(path) and "host" in str(path[-1]).lower()
