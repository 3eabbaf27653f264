"""Many clusters from one organisation profile (kustomization-examples/multi-cluster/).

Each cluster folder patches the organisation's EnterpriseProfile with kustomize's own
patches; kfkrm build renders it, the Argo CD plugin renders the same bytes, and an
ApplicationSet generates one Application per folder. The oracles here are independent of
kfkrm: the per-cluster values are read off the patches with PyYAML, the expected difference
between two clusters is computed by substituting one cluster's values with the other's, and
the Argo CD objects are checked against Argo CD's own CRD schemas (tests/crd_schema.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, SHARED, example_render, stand_in_dir, yaml_docs, yaml_load

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

MULTI = REPO / "kustomization-examples" / "multi-cluster"
CLUSTERS = ("dev/eu", "prod/eu", "prod/us")
ARGOCD_VERSION = "v2.13.3"  # the release argocd/kustomization.yaml installs


def _kfkrm(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO / "functions"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "kfkrm", *args], capture_output=True, text=True, cwd=cwd, env=full_env)


def build(cluster: str) -> subprocess.CompletedProcess:
    """`kfkrm build` of the cluster's folder, made once per run for every worker (the loop in
    docs/multi-cluster.md, run by test_doc_commands, reads the same renders)."""
    return example_render(f"multi-cluster/clusters/{cluster}")


def cluster_values(cluster: str) -> dict:
    """The cluster's patch of the organisation's profile, read with PyYAML (not kfkrm)."""
    kustomization = yaml_load((MULTI / "clusters" / cluster / "profile" / "kustomization.yaml").read_text())
    (patch,) = kustomization["patches"]
    return yaml_load(patch["patch"])


def leaves(tree, path=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from leaves(v, path + (i,))
    else:
        yield path, tree


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_cluster_renders_and_passes_its_policy(cluster):
    proc = build(cluster)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fast path" in proc.stderr.splitlines()[-1], proc.stderr.splitlines()[-1]
    docs = yaml_docs(proc.stdout)
    assert len(docs) > 400
    values = cluster_values(cluster)
    routed = [d for d in docs if d["kind"] == "VirtualService" and d["spec"].get("gateways")]
    assert routed and all(d["spec"]["hosts"] == values["mesh"]["hosts"] for d in routed)
    registry = values["registry"]["allowedRegistries"][0]
    images = re.findall(r"^\s*(?:- )?image: *['\"]?([^'\"\s]+)", proc.stdout, re.M)
    images = [i for i in images if not i.startswith(("$", "{{"))]  # placeholders a controller fills in
    assert images and all(i.startswith(registry + "/") for i in images), sorted(set(images))[:5]


@pytest.mark.parametrize("a,b", [("dev/eu", "prod/eu"), ("prod/eu", "prod/us")])
def test_clusters_differ_exactly_where_their_values_differ(a, b):
    """Substitute a's per-cluster values with b's in a's render: the result is b's render,
    byte for byte. So the renders differ in those values and nowhere else."""
    values_a, values_b = dict(leaves(cluster_values(a))), dict(leaves(cluster_values(b)))
    assert values_a.keys() == values_b.keys()
    changed = {(values_a[k], values_b[k]) for k in values_a if values_a[k] != values_b[k]}
    assert changed, "the two clusters must differ in something"
    original_a, text_b = build(a).stdout, build(b).stdout
    assert original_a != text_b
    text_a = original_a
    for old, new in sorted(changed, key=lambda pair: -len(str(pair[0]))):  # longest first
        old, new = str(old), str(new)
        if "." in old or "-" in old:  # host names, registries, buckets, regions: unique strings
            assert old in original_a, f"{old} of {a} does not appear in its render"
            text_a = text_a.replace(old, new)
        else:  # a short label value (dev/prod): only where the label is
            text_a = re.sub(rf"(acme\.example\.com/environment: ){re.escape(old)}\b", rf"\g<1>{new}", text_a)
    assert text_a == text_b


def test_a_mistyped_cluster_key_names_the_file_and_the_key(tmp_path):
    tree = tmp_path / "repo"
    shutil.copytree(REPO / "kustomization-examples", tree / "kustomization-examples", symlinks=True)
    shutil.copytree(REPO / "upstream", tree / "upstream", symlinks=True)
    patch_file = tree / "kustomization-examples/multi-cluster/clusters/prod/us/profile/kustomization.yaml"
    patch_file.write_text(patch_file.read_text().replace("      hosts: [", "      hostz: ["))
    proc = _kfkrm("build", str(patch_file.parent.parent))
    assert proc.returncode == 1
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if "hostz" in line]
    assert errors and any("clusters/prod/us/profile" in line and "unknown field" in line for line in errors), (
        proc.stderr[-2000:]
    )
    assert "Traceback" not in proc.stderr


# -- Argo CD: the plugin, the ApplicationSet and Argo CD's schemas ------------------------------


def generate(cluster: str, tmp_path: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """argocd/generate.sh as Argo CD runs it: `sh generate.sh` in the app's folder of a checkout
    without executable bits, ARGOCD_APP_* set, the plugin's env prefixed ARGOCD_ENV_."""
    script = tmp_path / "generate.sh"
    shutil.copy(REPO / "argocd" / "generate.sh", script)
    env = {
        **os.environ,
        "PATH": f"{stand_in_dir()}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO / "functions"),
        "ARGOCD_APP_NAME": f"kubeflow-{cluster.replace('/', '-')}",
        "ARGOCD_APP_NAMESPACE": "argocd",
        "ARGOCD_APP_SOURCE_PATH": f"kustomization-examples/multi-cluster/clusters/{cluster}",
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.acme.internal/platform/kubeflow.git",
        "ARGOCD_APP_REVISION": "0123456789abcdef0123456789abcdef01234567",
        "ARGOCD_ENV_KFKRM_CLUSTER": cluster,
        **(extra_env or {}),
    }
    return subprocess.run(
        ["sh", str(script)], cwd=MULTI / "clusters" / cluster, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_plugin_renders_what_kfkrm_build_renders(cluster, tmp_path):
    proc = generate(cluster, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == build(cluster).stdout


def test_the_plugin_checks_the_cluster_parameter(tmp_path):
    wrong = generate("prod/us", tmp_path, {"ARGOCD_ENV_KFKRM_CLUSTER": "prod/eu"})
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "KFKRM_CLUSTER" in wrong.stderr and "prod/eu" in wrong.stderr
    unknown = generate("prod/us", tmp_path, {"ARGOCD_ENV_KFKRM_REGION": "us"})
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "KFKRM_REGION" in unknown.stderr


def _go_template(text: str, data: dict) -> str:
    """The few Go template expressions the examples use: `.a.b`, `index .a.b N` and
    `index .a.b "key"` (Argo CD's goTemplate with missingkey=error: a missing key fails)."""

    def lookup(expr: str):
        value = data
        for part in expr.strip(".").split("."):
            value = value[part]
        return value

    def render(match: re.Match) -> str:
        expr = match.group(1).strip()
        indexed = re.fullmatch(r'index (\.[\w.]+) (?:(\d+)|"([^"]+)")', expr)
        if indexed:
            base = lookup(indexed.group(1))
            return str(base[int(indexed.group(2))] if indexed.group(2) else base[indexed.group(3)])
        assert re.fullmatch(r"\.[\w.]+", expr), f"unsupported template expression {expr}"
        return str(lookup(expr))

    return re.sub(r"\{\{(.*?)\}\}", render, text)


def _expand(template: dict, data: dict) -> dict:
    if isinstance(template, dict):
        return {_go_template(k, data): _expand(v, data) for k, v in template.items()}
    if isinstance(template, list):
        return [_expand(v, data) for v in template]
    return _go_template(template, data) if isinstance(template, str) else template


def git_directories(appset: dict) -> list[dict]:
    """The git directories generator over this repository, as Argo CD documents it
    (path.Match-style globs; one parameter set per matching folder)."""
    (generator,) = appset["spec"]["generators"]
    params = []
    for entry in generator["git"]["directories"]:
        for path in sorted(REPO.glob(entry["path"])):
            if path.is_dir():
                rel = path.relative_to(REPO).as_posix()
                params.append({"path": {"path": rel, "basename": path.name, "segments": rel.split("/")}})
    return params


def generated_applications() -> list[dict]:
    appset = yaml_load((MULTI / "argocd" / "applicationset.yaml").read_text())
    return [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **_expand(appset["spec"]["template"], params)}
        for params in git_directories(appset)
    ]


def test_the_applicationset_generates_one_application_per_cluster_in_waves():
    apps = generated_applications()
    assert sorted(a["spec"]["source"]["path"] for a in apps) == [
        f"kustomization-examples/multi-cluster/clusters/{c}" for c in sorted(CLUSTERS)
    ]
    for app in apps:
        cluster = app["spec"]["source"]["path"].split("clusters/")[1]
        assert app["spec"]["destination"]["name"] == cluster.replace("/", "-")
        assert app["spec"]["source"]["plugin"] == {
            "name": "kfkrm",
            "env": [{"name": "KFKRM_CLUSTER", "value": cluster}],
        }
        assert (MULTI / "clusters" / cluster / "kustomization.yaml").is_file()
    appset = yaml_load((MULTI / "argocd" / "applicationset.yaml").read_text())
    steps = appset["spec"]["strategy"]["rollingSync"]["steps"]
    label = steps[0]["matchExpressions"][0]["key"]
    waves = [
        [a["metadata"]["name"] for a in apps if a["metadata"]["labels"][label] in s["matchExpressions"][0]["values"]]
        for s in steps
    ]
    assert waves == [["kubeflow-dev-eu"], ["kubeflow-prod-eu", "kubeflow-prod-us"]]
    plugin = yaml_load((REPO / "argocd" / "plugin.yaml").read_text())
    assert plugin["metadata"]["name"] == "kfkrm"


def argocd_crds() -> Path:
    """Argo CD's CRDs (application, applicationset, appproject) of ARGOCD_VERSION. They are
    Argo CD's files, not this repository's: KFKRM_ARGOCD_CRDS or ../shared/argocd/<version>/
    names where they are (scripts/fetch-argocd-crds.sh downloads them where a network allows)."""
    for candidate in (
        os.environ.get("KFKRM_ARGOCD_CRDS"),
        SHARED / "argocd" / ARGOCD_VERSION,
        REPO / ".cache" / "argocd-crds" / ARGOCD_VERSION,
    ):
        if candidate and (Path(candidate) / "applicationset-crd.yaml").is_file():
            return Path(candidate)
    pytest.skip(
        f"Argo CD {ARGOCD_VERSION}'s CRDs are not here (set KFKRM_ARGOCD_CRDS, or run scripts/fetch-argocd-crds.sh)"
    )


def test_argocd_objects_validate_against_argocds_crds():
    from crd_schema import load_crds, validate

    schemas = load_crds(argocd_crds())
    objects = [yaml_load(p.read_text()) for p in sorted((MULTI / "argocd").glob("*.yaml"))]
    objects += generated_applications()
    assert {o["kind"] for o in objects} == {"ApplicationSet", "AppProject", "Application"}
    for obj in objects:
        assert validate(obj, schemas) == [], obj["metadata"]["name"]
    broken = yaml_load((MULTI / "argocd" / "applicationset.yaml").read_text())
    broken["spec"]["strategy"]["rollingSync"]["step"] = []
    assert validate(broken, schemas) == [".spec.strategy.rollingSync.step: unknown field"]
