"""The examples rendered by the real kubectl kustomize: through kfkrm's `docker` stand-in
(no container engine, the README's main job and the ArgoCD mechanism) and with real
containers built from the Dockerfile. Both must give the same bytes."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers import (
    EXAMPLES,
    container_engine,
    example_render,
    run_cli,
    stand_in_dir,
    stand_in_render,
    yaml_docs,
    yaml_load,
)

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

ENVS = ["v1.3/envs/dev", "v1.3/envs/prod", "v1.10/envs/dev", "v1.10/envs/prod"]
IMAGE_IN_EXAMPLES = "localhost/kfkrm:0.1.0"


def _kustomize(env_dir: str, path_first: Path, extra_env=None):
    env = dict(os.environ, PATH=f"{path_first}:{os.environ['PATH']}", **(extra_env or {}))
    return subprocess.run(
        ["kubectl", "kustomize", "--enable-alpha-plugins", str(EXAMPLES / env_dir)],
        capture_output=True,
        text=True,
        env=env,
    )


def _stand_in_render(env_dir: str):
    proc = stand_in_render(env_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _example_render(env_dir: str):
    """`kfkrm build`'s render, the same bytes as the stand-in's (tests/test_build.py), made once."""
    proc = example_render(env_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.parametrize("env_dir", ENVS)
def test_examples_render_with_the_stand_in(env_dir):
    proc = _example_render(env_dir)
    docs = yaml_docs(proc.stdout)
    assert len(docs) > 500
    environment = env_dir.rsplit("/", 1)[1]
    kubeflow_workloads = [
        d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"].get("namespace") == "kubeflow"
    ]
    assert kubeflow_workloads
    for d in kubeflow_workloads:
        meta = d["spec"]["template"]["metadata"]
        assert meta["labels"]["corp.example.com/environment"] == environment, d["metadata"]["name"]
        assert meta["annotations"]["sidecar.istio.io/inject"] == "true", d["metadata"]["name"]
    # the bundled Argo is gone (RemoveArgo), KFP's own controllers stay
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "workflow-controller") not in names
    assert not any(
        d["kind"] == "CustomResourceDefinition" and d["metadata"]["name"].endswith(".argoproj.io") for d in docs
    )
    assert ("Deployment", "ml-pipeline-scheduledworkflow") in names and (
        "Deployment",
        "ml-pipeline-persistenceagent",
    ) in names
    # the bundled Istio is gone, Kubeflow's VirtualServices use the environment's gateway and host
    assert ("Deployment", "istiod") not in names
    host = {"dev": "kubeflow.dev.corp.example.com", "prod": "kubeflow.corp.example.com"}[environment]
    services = [d for d in docs if d["kind"] == "VirtualService"]
    assert len(services) >= 9
    for vs in services:
        assert "*" not in vs["spec"].get("hosts", []), vs["metadata"]["name"]
        assert host in vs["spec"]["hosts"], vs["metadata"]["name"]
    # every container image comes from the environment's registry (scanned here, not by kfkrm)
    registry = {"dev": "registry.dev.corp.example.com/", "prod": "registry.corp.example.com/"}[environment]
    images = [
        i for i in re.findall(r"(?m)^\s*(?:- )?image: ['\"]?([^'\"\s]+)", proc.stdout) if not i.startswith("$")
    ]  # `$VOLUME_VIEWER_IMAGE`: a template filled in at run time
    assert len(images) > 40 and all(i.startswith(registry) for i in images), [
        i for i in images if not i.startswith(registry)
    ][:5]
    namespace = next(d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == "kubeflow")
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"
    # every function ran and said so (kustomize discards results; stderr is what users see)
    for name in (
        "remove-argo",
        "remove-istio",
        "image-proxy",
        "virtualservice-gateway",
        "argo-artifact-repository",
        "envoy-base-id",
        "namespace-injection",
        "pod-template-labels",
        "pod-template-annotations",
    ):
        assert f"kfkrm {name}:" in proc.stderr


@pytest.mark.parametrize("env_dir", ENVS)
def test_rendered_examples_pass_their_policy(env_dir, tmp_path):
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(_example_render(env_dir).stdout)
    proc = run_cli(["validate", str(rendered), "--config", str(EXAMPLES / env_dir / "policy.yaml")], "")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "no violations" in proc.stdout


def test_leaving_an_adaptation_out_fails_the_policy(tmp_path):
    """v1.3 dev without ImageProxy: the same render (kfkrm build), and the policy names the public images."""
    import shutil

    env = EXAMPLES / "v1.3/envs/dev"
    variant = tmp_path / "without-image-proxy"
    shutil.copytree(env / "transformers", variant / "transformers")
    text = (env / "kustomization.yaml").read_text().replace("- transformers/image-proxy.yaml\n", "")
    text = text.replace("- ../../base", f"- {os.path.relpath(EXAMPLES / 'v1.3/base', variant)}")
    (variant / "kustomization.yaml").write_text(text)
    proc = run_cli(["build", str(variant)], "")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(fast path)" in proc.stderr.splitlines()[-1]
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(proc.stdout)
    check = run_cli(["validate", str(rendered), "--config", str(env / "policy.yaml")], "")
    assert check.returncode == 1
    assert "registry" in check.stdout and ("docker.io" in check.stdout or "gcr.io" in check.stdout)


def test_stand_in_refuses_other_images(tmp_path):
    stand_in = stand_in_dir()
    proc = subprocess.run(
        [
            str(stand_in / "docker"),
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--user",
            "nobody",
            "gcr.io/kpt-fn/set-labels:v0.1",
        ],
        input="",
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "refusing to run gcr.io/kpt-fn/set-labels:v0.1" in proc.stderr


def _engine():
    """The container engine scripts/container-setup.sh prepared, or skip/fail."""
    docker, image = container_engine(), os.environ["KFKRM_IMAGE"]
    subprocess.run([docker, "tag", image, IMAGE_IN_EXAMPLES], check=True, capture_output=True)
    return docker, image


@pytest.mark.container
@pytest.mark.parametrize("env_dir", ["v1.3/envs/dev"])  # one is enough: what differs is the engine, not the input
def test_container_mode_equals_the_stand_in(env_dir):
    docker, _ = _engine()
    proc = _kustomize(env_dir, Path(docker).parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == _stand_in_render(env_dir).stdout


@pytest.mark.container
def test_image_runs_as_nobody_read_only_without_network():
    docker, image = _engine()
    ident = subprocess.run(
        [docker, "run", "--rm", "--user", "nobody", "--entrypoint", "id", image, "-u"], capture_output=True, text=True
    )
    assert ident.stdout.strip() == "65534", ident.stderr
    rl = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: Namespace\n"
        "  metadata:\n    name: kubeflow\nfunctionConfig:\n  apiVersion: kfkrm.dev/v1alpha1\n  kind: NamespaceInjection\n"
        "  metadata:\n    name: n\n  namespaces: [kubeflow]\n"
    )
    proc = subprocess.run(
        [
            docker,
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--user",
            "nobody",
            "--read-only",
            "--security-opt=no-new-privileges",
            image,
        ],
        input=rl,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert yaml_load(proc.stdout)["items"][0]["metadata"]["labels"] == {"istio-injection": "enabled"}
    # no build tools in the final image
    tools = subprocess.run(
        [docker, "run", "--rm", "--entrypoint", "sh", image, "-c", "command -v gcc cc make g++ || true"],
        capture_output=True,
        text=True,
    )
    assert tools.stdout.strip() == ""
