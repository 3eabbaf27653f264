"""external-database (ExternalDatabase, and the profile's `database` section) on the three
embedded Kubeflow renders and on KFP 2.15.0's render (tests/data/kfp-2.15-seaweedfs). Oracles
independent of the function's code:

- the bundled MySQL objects, named in the input by a plain scan (every one is named `mysql`,
  `*-mysql` or `mysql-*` in every release), compared with what is gone (and nothing else); no
  workload in the output runs a mysql image;
- the database host, port, name and credentials each client reads, resolved from the parsed output
  (configMapKeyRefs followed);
- the profile's derived policy and the integrity rule (baseline: the input) on the output;
- a second run changes nothing.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml

from helpers import items_block, load_output, rendered_items_text, resource_list, run_function, yaml_load
from kfkrm.runtime.resourcelist import items_from_stream

RELEASES = ("v1.3.0", "v1.7.0", "v1.10", "kfp-2.15")
FIXTURE = Path(__file__).parent / "data" / "kfp-2.15-seaweedfs" / "all.yaml"
HOST, PORT = "mysql.corp.example.com", 3307
SECRET = {"name": "corp-mysql", "userKey": "user", "passwordKey": "password"}


@functools.lru_cache(maxsize=None)
def input_text(release: str) -> str:
    if release == "kfp-2.15":
        return "".join(i.raw for i in items_from_stream(FIXTURE.read_text()))
    return rendered_items_text(release)


def database(kfp=True, katib=True) -> dict:
    section = {"host": HOST, "port": PORT, "secret": SECRET}
    if kfp:
        section["kfp"] = {"metadataDb": "kfp_metadata"}
    if katib:
        section["katib"] = {"database": "katib_prod"}
    return section


def function_config(**kw) -> str:
    config = {"apiVersion": "kfkrm.dev/v1alpha1", "kind": "ExternalDatabase", "metadata": {"name": "db"}}
    config.update(database(**kw))
    return yaml.safe_dump(config, sort_keys=False)


def profile_config() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kfkrm.dev/v1alpha1",
            "kind": "EnterpriseProfile",
            "metadata": {"name": "corp"},
            "database": database(),
            "validate": True,
        },
        sort_keys=False,
    )


@functools.lru_cache(maxsize=None)
def run(release: str, config: str):
    name = "enterprise-profile" if "EnterpriseProfile" in config else "external-database"
    out = run_function(name, resource_list(input_text(release), config))
    return out, (load_output(out.stdout) if out.exit_code == 0 else None)


def key(obj: dict) -> tuple:
    return obj["kind"], (obj.get("metadata") or {}).get("namespace", ""), obj["metadata"]["name"]


@functools.lru_cache(maxsize=None)
def input_keys(release: str) -> frozenset:
    return frozenset(key(i) for i in load_output(resource_list(input_text(release)))["items"])


def items_block_of(stdout: str) -> str:
    start = stdout.index("\nitems:\n") + len("\nitems:\n")
    return stdout[start : stdout.index("\nfunctionConfig:\n", start) + 1]


def env_of(items, deployment: str, container: str | None = None) -> dict:
    """name -> value, configMapKeyRefs resolved, secretKeyRefs as ('secret', name, key)."""
    configmaps = {
        (i["metadata"].get("namespace"), i["metadata"]["name"]): i.get("data") or {}
        for i in items
        if i["kind"] == "ConfigMap"
    }
    dep = next(i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == deployment)
    containers = dep["spec"]["template"]["spec"]["containers"]
    c = next(c for c in containers if container is None or c["name"] == container)
    out = {}
    for e in c.get("env") or []:
        source = e.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            out[e["name"]] = configmaps.get((dep["metadata"]["namespace"], ref["name"]), {}).get(ref["key"])
        elif "secretKeyRef" in source:
            out[e["name"]] = ("secret", source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
        else:
            out[e["name"]] = e.get("value")
    return out


def mysql_named(keys) -> set:
    return {k for k in keys if re.search(r"(^|-)mysql($|-)", k[2])}


@pytest.fixture(params=RELEASES, scope="module")
def profiled(request):
    out, parsed = run(request.param, profile_config())
    assert out.exit_code == 0, out.stderr  # the derived policy (forbid, integrity) passes
    return request.param, out, parsed


def test_no_bundled_mysql_is_left(profiled):
    release, out, parsed = profiled
    before = input_keys(release)
    after = {key(i) for i in parsed["items"]}
    bundled = mysql_named(before)
    assert {("Deployment", "kubeflow", "mysql"), ("Service", "kubeflow", "mysql")} <= bundled
    assert before - after == bundled  # every mysql object gone, nothing else
    if release != "kfp-2.15":  # KFP 2.15's render carries no Katib
        assert {("Deployment", "kubeflow", "katib-mysql"), ("Secret", "kubeflow", "katib-mysql-secrets")} <= bundled
    images = [
        c["image"]
        for i in parsed["items"]
        if i["kind"] in ("Deployment", "StatefulSet")
        for c in i["spec"]["template"]["spec"]["containers"]
    ]
    assert not [i for i in images if re.search(r"(^|/)(mysql|mariadb)(:|@|$)", i)]
    text = items_block_of(out.stdout)
    assert not re.search(r"\bmysql(\.kubeflow)?(\.svc)?(\.cluster\.local)?:3306\b", text)
    assert "mysql-secret" not in text and "katib-mysql-secrets" not in text


def test_kfp_and_katib_name_the_organisation_database(profiled):
    release, out, parsed = profiled
    items = parsed["items"]
    api = env_of(items, "ml-pipeline")
    assert (api["DBCONFIG_HOST"], api["DBCONFIG_PORT"]) == (HOST, str(PORT))
    assert api["DBCONFIG_USER"] == ("secret", "corp-mysql", "user")
    assert api["DBCONFIG_PASSWORD"] == ("secret", "corp-mysql", "password")
    cache = env_of(items, "cache-server")
    assert (cache["DBCONFIG_HOST_NAME"], cache["DBCONFIG_PORT"]) == (HOST, str(PORT))
    mlmd = env_of(items, "metadata-grpc-deployment")
    assert (mlmd["MYSQL_HOST"], mlmd["MYSQL_PORT"], mlmd["MYSQL_DATABASE"]) == (HOST, str(PORT), "kfp_metadata")
    assert mlmd["DBCONFIG_PASSWORD"] == ("secret", "corp-mysql", "password")
    if release == "v1.10":
        assert (api["DBCONFIG_MYSQLCONFIG_HOST"], api["DBCONFIG_MYSQLCONFIG_PORT"]) == (HOST, str(PORT))
    if release != "kfp-2.15":
        katib = env_of(items, "katib-db-manager")
        assert (katib["KATIB_MYSQL_DB_HOST"], katib["KATIB_MYSQL_DB_PORT"]) == (HOST, str(PORT))
        assert katib["KATIB_MYSQL_DB_DATABASE"] == "katib_prod" and katib["DB_NAME"] == "mysql"
        assert katib["DB_USER"] == ("secret", "corp-mysql", "user")
        assert katib["DB_PASSWORD"] == ("secret", "corp-mysql", "password")


@pytest.mark.parametrize("release", ["v1.3.0", "v1.10", "kfp-2.15"])
def test_second_run_changes_nothing(release):
    out, _ = run(release, function_config())
    assert out.exit_code == 0, out.stderr
    again = run_function("external-database", resource_list(items_block_of(out.stdout), function_config()))
    assert again.exit_code == 0, again.stderr
    assert items_block_of(again.stdout) == items_block_of(out.stdout)


@pytest.mark.parametrize("kfp, katib", [(True, False), (False, True)])
def test_one_component_at_a_time(kfp, katib):
    out, parsed = run("v1.7.0", function_config(kfp=kfp, katib=katib))
    assert out.exit_code == 0, out.stderr
    after = {key(i) for i in parsed["items"]}
    assert (("Deployment", "kubeflow", "mysql") in after) is not kfp
    assert (("Deployment", "kubeflow", "katib-mysql") in after) is not katib
    install = next(i for i in parsed["items"] if i["metadata"]["name"] == "pipeline-install-config")["data"]
    assert (install["dbHost"] == HOST) is kfp
    assert (env_of(parsed["items"], "katib-db-manager").get("KATIB_MYSQL_DB_HOST") == HOST) is katib


def test_the_derived_policy_forbids_the_bundled_databases():
    from kfkrm.fns.enterprise_profile import Config, derived_policy

    forbid = derived_policy(Config.model_validate(yaml_load(profile_config())))["forbid"][1]
    policy = {"apiVersion": "kfkrm.dev/v1alpha1", "kind": "EnterprisePolicy", "metadata": {"name": "p"}}
    raw = run_function(
        "enterprise-policy", resource_list(input_text("v1.3.0"), yaml.safe_dump({**policy, "forbid": forbid}))
    )
    flagged = {
        (r["resourceRef"]["kind"], r["resourceRef"]["name"])
        for r in load_output(raw.stdout)["results"]
        if r["severity"] == "error"
    }
    assert raw.exit_code == 1
    assert {("Deployment", "mysql"), ("Deployment", "katib-mysql"), ("Secret", "mysql-secret")} <= flagged


# -- small cases: errors ----------------------------------------------------------------------------

SERVER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mysql, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: mysql}}
  template:
    metadata: {labels: {app: mysql}}
    spec:
      containers: [{name: mysql, image: mysql:8.0}]
---
apiVersion: v1
kind: Service
metadata: {name: mysql, namespace: kubeflow}
spec: {selector: {app: mysql}, ports: [{port: 3306}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: pipeline-install-config, namespace: kubeflow}
data: {dbHost: mysql, dbPort: "3306"}
"""
STRAY_CLIENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: reporting, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: reporting}}
  template:
    metadata: {labels: {app: reporting}}
    spec:
      containers: [{name: r, image: corp/reporting, env: [{name: REPORT_DB_HOST, value: mysql.kubeflow.svc.cluster.local}]}]
"""


def small(*docs: str, **kw):
    return run_function("external-database", resource_list(items_block(*docs), function_config(katib=False, **kw)))


def test_a_name_left_pointing_at_a_removed_database_is_an_error():
    out = small(SERVER, STRAY_CLIENT)
    assert out.exit_code == 1 and "Traceback" not in out.stderr
    assert (
        "reporting" in out.stderr and "still names the removed database mysql.kubeflow.svc.cluster.local" in out.stderr
    )
    assert small(SERVER).exit_code == 0  # the same without the stray client passes


def test_a_database_service_with_nothing_behind_it_is_an_error():
    out = small(SERVER.replace("selector: {app: mysql}", "selector: {app: gone}"))
    assert out.exit_code == 1 and "cannot be identified" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"host": "mysql.corp.example.com:3306"}, "without scheme or port"),
        ({"kfp": None, "katib": None}, "names no component"),
        ({"secret": {"name": "mysql-secret", "userKey": "u", "passwordKey": "p"}}, "bundled database's Secret"),
        ({"kfp": {"pipelineDb": "bad-name"}}, "not a MySQL database name"),
    ],
)
def test_config_errors(change, problem):
    config = yaml_load(function_config())
    config.update(change)
    config = {k: v for k, v in config.items() if v is not None}
    out = run_function("external-database", resource_list(items_block(SERVER), yaml.safe_dump(config)))
    assert out.exit_code == 1 and problem in out.stderr and "Traceback" not in out.stderr
