"""The kpt packages in kpt-examples/, rendered by the real kpt over upstream Kubeflow.

The exec variant runs with `kpt fn render --allow-exec` (kfkrm by absolute path: kpt
resolves a relative exec path against its own working directory). The image variant runs
when a container engine with the kfkrm image is prepared (scripts/test.sh); under CI=true
it is required, as the container tests of tests/test_delivery.py are.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO, container_engine, key, kpt_binary, rendered_text, yaml_docs, yaml_load

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

KPT_EXAMPLES = REPO / "kpt-examples"
IMAGE_IN_PACKAGE = "localhost/kfkrm:0.1.0"
WORKLOADS = ("Deployment", "StatefulSet")


def _package(variant: str, tmp_path: Path, version: str) -> Path:
    """The example package with the rendered upstream Kubeflow put in, as the README says."""
    pkg = tmp_path / variant
    shutil.copytree(KPT_EXAMPLES / variant, pkg)
    (pkg / "kubeflow.yaml").write_text(rendered_text(version))
    return pkg


def _configs(pkg: Path) -> dict:
    return {p.name: p.read_text() for p in sorted((pkg / "fn-config").glob("*.yaml"))}


def _check_rendered(pkg: Path, version: str, source: Path):
    """What the pipeline must have done, judged against the upstream input."""
    before = yaml_docs(rendered_text(version))
    after = yaml_docs((pkg / "kubeflow.yaml").read_text())
    # the function configs and the Kptfile are local config: untouched
    assert _configs(pkg) == _configs(source)
    assert (pkg / "Kptfile").read_text() == (source / "Kptfile").read_text()
    # kpt's bookkeeping annotations do not leak into the user's files
    for d in after:
        for name in d["metadata"].get("annotations") or {}:
            assert not name.startswith(("config.kubernetes.io/", "internal.config.kubernetes.io/")), (key(d), name)
    after_by_key = {key(d): d for d in after}
    # RemoveArgo: the bundled workflow controller and the Argo CRDs are gone, KFP's controllers stay
    names = {(d["kind"], d["metadata"]["name"]) for d in after}
    assert ("Deployment", "workflow-controller") in {(d["kind"], d["metadata"]["name"]) for d in before}
    assert ("Deployment", "workflow-controller") not in names
    assert not any(
        d["kind"] == "CustomResourceDefinition" and d["metadata"]["name"].endswith(".argoproj.io") for d in after
    )
    assert ("Deployment", "ml-pipeline-scheduledworkflow") in names and (
        "Deployment",
        "ml-pipeline-persistenceagent",
    ) in names
    removed = {key(d) for d in before} - set(after_by_key)
    assert removed and all("argo" in str(k).lower() or "workflow" in str(k).lower() for k in removed), removed
    # NamespaceInjection
    namespace = after_by_key[("v1", "Namespace", "", "kubeflow")]
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"
    # PodTemplateLabels / PodTemplateAnnotations on every kubeflow workload, selectors untouched
    workloads = [
        d
        for d in before
        if d["kind"] in WORKLOADS and d["metadata"].get("namespace") == "kubeflow" and key(d) not in removed
    ]
    assert len(workloads) > 20
    for d in workloads:
        out = after_by_key[key(d)]
        meta = out["spec"]["template"]["metadata"]
        assert meta["labels"]["corp.example.com/team"] == "ml-platform", key(d)
        assert meta["labels"]["corp.example.com/environment"] == "prod", key(d)
        assert meta["annotations"]["sidecar.istio.io/inject"] == "true", key(d)
        assert out["spec"]["selector"] == d["spec"]["selector"], key(d)
    # everything else means what it meant
    changed = {key(d) for d in workloads} | {("v1", "Namespace", "", "kubeflow")}
    for d in before:
        if key(d) not in changed and key(d) not in removed:
            assert after_by_key[key(d)] == d, key(d)


def test_variants_share_their_function_configs():
    """The exec and image packages differ only in how the Kptfile runs kfkrm."""
    assert _configs(KPT_EXAMPLES / "exec") == _configs(KPT_EXAMPLES / "image")
    exec_pipeline = yaml_load((KPT_EXAMPLES / "exec" / "Kptfile").read_text())["pipeline"]["mutators"]
    image_pipeline = yaml_load((KPT_EXAMPLES / "image" / "Kptfile").read_text())["pipeline"]["mutators"]
    assert [m["configPath"] for m in exec_pipeline] == [m["configPath"] for m in image_pipeline]
    assert {m["exec"] for m in exec_pipeline} == {"kfkrm"}
    assert {m["image"] for m in image_pipeline} == {IMAGE_IN_PACKAGE}
    for m in exec_pipeline:
        assert (KPT_EXAMPLES / "exec" / m["configPath"]).is_file()


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
def test_exec_package_renders(version, tmp_path, kfkrm_exec):
    pkg = _package("exec", tmp_path, version)
    kptfile = pkg / "Kptfile"
    kptfile.write_text(kptfile.read_text().replace("exec: kfkrm\n", f"exec: {kfkrm_exec}\n"))
    proc = subprocess.run([kpt_binary(), "fn", "render", str(pkg), "--allow-exec"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kptfile.write_text(kptfile.read_text().replace(f"exec: {kfkrm_exec}\n", "exec: kfkrm\n"))
    _check_rendered(pkg, version, KPT_EXAMPLES / "exec")


def test_exec_package_fails_loudly_on_a_bad_config(tmp_path, kfkrm_exec):
    pkg = tmp_path / "exec"
    shutil.copytree(KPT_EXAMPLES / "exec", pkg)
    resources = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"
    (pkg / "kubeflow.yaml").write_text(resources)
    config = pkg / "fn-config" / "remove-argo.yaml"
    config.write_text(config.read_text().replace("keepCRDs:", "keepCRD:"))
    kptfile = pkg / "Kptfile"
    kptfile.write_text(kptfile.read_text().replace("exec: kfkrm\n", f"exec: {kfkrm_exec}\n"))
    proc = subprocess.run([kpt_binary(), "fn", "render", str(pkg), "--allow-exec"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "keepCRD: unknown field" in proc.stderr, proc.stderr
    assert (pkg / "kubeflow.yaml").read_text() == resources


def _container_runtime() -> dict:
    """The environment for kpt's container runtime, or skip/fail as tests/test_delivery.py does.

    kpt 1.0.0-beta.56 checks `docker version` and refuses podman behind the `docker` name
    ("docker client version must be v20.10.0 or greater: found v4.3.1"); it drives podman
    itself with KPT_FN_RUNTIME=podman.
    """
    docker = container_engine()
    subprocess.run([docker, "tag", os.environ["KFKRM_IMAGE"], IMAGE_IN_PACKAGE], check=True, capture_output=True)
    if Path(docker).resolve().name == "podman":
        return {"KPT_FN_RUNTIME": "podman", "PATH": f"{Path(docker).resolve().parent}{os.pathsep}{os.environ['PATH']}"}
    return {"KPT_FN_RUNTIME": "docker"}


@pytest.mark.container
def test_image_package_renders(tmp_path):
    env = dict(os.environ, **_container_runtime())
    pkg = _package("image", tmp_path, "v1.3.0")
    proc = subprocess.run([kpt_binary(), "fn", "render", str(pkg)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_rendered(pkg, "v1.3.0", KPT_EXAMPLES / "image")


@pytest.mark.container
def test_kpt_refuses_podman_behind_the_docker_name(tmp_path):
    """Why the image test sets KPT_FN_RUNTIME=podman (kpt-examples/README.md says so)."""
    runtime = _container_runtime()
    if runtime["KPT_FN_RUNTIME"] != "podman":
        pytest.skip("docker is a real docker engine here")
    pkg = tmp_path / "image"
    shutil.copytree(KPT_EXAMPLES / "image", pkg)
    env = {k: v for k, v in os.environ.items() if k != "KPT_FN_RUNTIME"}
    proc = subprocess.run([kpt_binary(), "fn", "render", str(pkg)], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "docker client version must be v20.10.0 or greater" in proc.stderr, proc.stderr
