"""kfkrm's Argo CD config-management plugin, run as Argo CD runs it.

Argo CD hands the sidecar a copy of the repository whose files have lost their executable
bit, runs the plugin's generate command in the Application's source directory with the
ARGOCD_APP_* variables set, and caches whatever comes back. There is no Argo CD and no
Kubernetes cluster here: these tests run the generate command from argocd/plugin.yaml
the same way (with kfkrm-docker as `docker`, as in the sidecar image) and compare it with
`kubectl kustomize --enable-alpha-plugins` over the original example.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO, container_engine, kfkrm_exec_script, stand_in_dir, stand_in_render, yaml_docs, yaml_load

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

ARGOCD = REPO / "argocd"
EXAMPLES = REPO / "kustomization-examples"
IMAGE = "localhost/kfkrm:0.1.0"
ARGOCD_ENV = {
    "ARGOCD_APP_NAME": "kubeflow-dev",
    "ARGOCD_APP_NAMESPACE": "argocd",
    "ARGOCD_APP_SOURCE_PATH": "kustomization-examples/v1.3/envs/dev",
    "ARGOCD_APP_SOURCE_REPO_URL": "https://git.corp.example.com/platform/kubeflow.git",
    "ARGOCD_APP_REVISION": "0123456789abcdef0123456789abcdef01234567",
}


def _plugin() -> dict:
    return yaml_load((ARGOCD / "plugin.yaml").read_text())


def _dockerfile_stages() -> list[tuple[str, str, list[str]]]:
    """(base, name, instructions) per stage of the Dockerfile, comments and continuations folded."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages, header = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.I)
        if m:
            stages.append((m.group(1), m.group(2) or "", []))
        elif stages:
            stages[-1][2].append(line)
        else:
            header.append(line)
    return [("", "(before the first FROM)", header)] + stages


def _script_path_in_image() -> str:
    """Where the argocd-cmp stage puts argocd/generate.sh."""
    stage = next(s for s in _dockerfile_stages() if s[1] == "argocd-cmp")
    copies = [i.split()[-1] for i in stage[2] if re.match(r"COPY\s+argocd/generate\.sh\s", i)]
    assert len(copies) == 1, stage[2]
    return copies[0]


def _strip_executable_bits(root: Path):
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o644)


def _as_argocd_checkout(tmp: Path) -> Path:
    """The repository as the sidecar receives it: the example tree, the embedded upstream its
    bases point at, and the generate script, with no executable bits."""
    checkout = tmp / "checkout"
    shutil.copytree(EXAMPLES, checkout / "kustomization-examples")
    shutil.copytree(REPO / "upstream", checkout / "upstream")
    script = checkout / "image" / _script_path_in_image().lstrip("/")
    script.parent.mkdir(parents=True)
    shutil.copy(ARGOCD / "generate.sh", script)
    _strip_executable_bits(checkout)
    return checkout


def _generate(checkout: Path, app_dir: Path, path_first: list[Path], extra_env=None) -> subprocess.CompletedProcess:
    """The plugin's generate command, as written in plugin.yaml, with the in-image script path
    mapped into the checkout; run in the app directory like Argo CD does."""
    command = list(_plugin()["spec"]["generate"]["command"]) + list(_plugin()["spec"]["generate"].get("args") or [])
    in_image = _script_path_in_image()
    command = [str(checkout / "image" / in_image.lstrip("/")) if part == in_image else part for part in command]
    env = {**os.environ, **ARGOCD_ENV, **(extra_env or {})}
    kfkrm_bin = kfkrm_exec_script(checkout.parent / "kfkrm-bin").parent  # `kfkrm` on PATH, as in the image
    env["PATH"] = os.pathsep.join([str(p) for p in path_first] + [str(kfkrm_bin), os.environ["PATH"]])
    return subprocess.run(command, cwd=app_dir, capture_output=True, text=True, env=env)


def _reference_render(directory: Path, stand_in: Path) -> subprocess.CompletedProcess:
    """The stand-in render of a small app: kubectl kustomize with kfkrm-docker as docker."""
    env = dict(os.environ, PATH=f"{stand_in}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        ["kubectl", "kustomize", "--enable-alpha-plugins", str(directory)], capture_output=True, text=True, env=env
    )


# --- the plugin's configuration ---------------------------------------------------------


def test_plugin_config_is_opt_in_and_does_not_need_executable_bits():
    plugin = _plugin()
    assert plugin["apiVersion"] == "argoproj.io/v1alpha1" and plugin["kind"] == "ConfigManagementPlugin"
    assert plugin["metadata"]["name"] == "kfkrm"
    spec = plugin["spec"]
    # no discovery rule: the plugin never claims an Application that does not name it
    assert "discover" not in spec
    # without a version, Applications name it plainly `kfkrm`
    assert "version" not in spec
    command = spec["generate"]["command"]
    assert command[0] == "sh" and command[1] == _script_path_in_image(), command


def test_dockerfile_sidecar_stage():
    stages = _dockerfile_stages()
    names = [s[1] for s in stages]
    header = stages[0][2]
    assert any(re.match(r"ARG\s+ARGOCD_IMAGE=\S+", i) for i in header), (
        "ARGOCD_IMAGE must be declared before the first FROM"
    )
    argocd = next(s for s in stages if s[1] == "argocd")
    assert argocd[0] == "${ARGOCD_IMAGE}"
    # `--target function` stops before the Argo CD stages: building the function image
    # never needs the Argo CD image
    assert names.index("function") < names.index("argocd") < names.index("argocd-cmp")
    # and `docker build .` without --target (the last stage) still gives the function image
    assert stages[-1][0] == "function", stages[-1]
    cmp_stage = next(s for s in stages if s[1] == "argocd-cmp")[2]
    assert "COPY --from=build /opt/kfkrm /opt/kfkrm" in cmp_stage
    assert "COPY --from=argocd /usr/local/bin/kustomize /usr/local/bin/kustomize" in cmp_stage
    assert any(re.match(r"USER\s+999(:999)?$", i) for i in cmp_stage)
    link = next(i for i in cmp_stage if "kfkrm-docker" in i)
    shim_dir = re.search(r"ln -s /opt/kfkrm/bin/kfkrm-docker (\S+)/docker\b", link).group(1)
    path_env = next(i for i in cmp_stage if i.startswith("ENV ") and "PATH=" in i)
    assert re.search(rf"PATH={re.escape(shim_dir)}:", path_env), "the docker stand-in must come first on PATH"


# A stub of upstream's argocd-repo-server Deployment (manifests/base/repo-server), reduced to
# what the patch touches: its container, the copyutil init container, the shared volumes.
REPO_SERVER_STUB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: argocd-repo-server
  template:
    metadata:
      labels:
        app.kubernetes.io/name: argocd-repo-server
    spec:
      containers:
      - name: argocd-repo-server
        image: quay.io/argoproj/argocd:v2.13.3
        volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: plugins
          mountPath: /home/argocd/cmp-server/plugins
      initContainers:
      - name: copyutil
        image: quay.io/argoproj/argocd:v2.13.3
        volumeMounts:
        - name: var-files
          mountPath: /var/run/argocd
      volumes:
      - name: tmp
        emptyDir: {}
      - name: var-files
        emptyDir: {}
      - name: plugins
        emptyDir: {}
"""


def test_repo_server_patch_adds_the_sidecar(tmp_path):
    for name in ("kustomization.yaml", "plugin.yaml", "repo-server-patch.yaml"):
        shutil.copy(ARGOCD / name, tmp_path / name)
    kustomization = (tmp_path / "kustomization.yaml").read_text()
    remote = re.findall(r"^- (https://\S+/install\.yaml)$", kustomization, re.M)
    assert len(remote) == 1, "argocd/kustomization.yaml should list the upstream install once"
    (tmp_path / "kustomization.yaml").write_text(kustomization.replace(remote[0], "repo-server.yaml"))
    (tmp_path / "repo-server.yaml").write_text(REPO_SERVER_STUB)
    proc = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    docs = yaml_docs(proc.stdout)
    assert {d["metadata"]["namespace"] for d in docs} == {"argocd"}
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config_map["metadata"]["name"].startswith("kfkrm-cmp-plugin")
    assert config_map["data"]["plugin.yaml"] == (ARGOCD / "plugin.yaml").read_text()
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert (
        containers["argocd-repo-server"]["volumeMounts"]
        == yaml_load(REPO_SERVER_STUB)["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    )
    sidecar = containers["kfkrm"]
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert {e["name"]: e["value"] for e in sidecar["env"]}["ARGOCD_EXEC_TIMEOUT"] == "300s"
    assert sidecar["securityContext"]["runAsUser"] == 999 and sidecar["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    assert mounts["/var/run/argocd"]["name"] == "var-files" and "var-files" in volumes
    assert mounts["/home/argocd/cmp-server/plugins"]["name"] == "plugins" and "plugins" in volumes
    config_mount = mounts["/home/argocd/cmp-server/config/plugin.yaml"]
    assert config_mount["subPath"] == "plugin.yaml"
    # the generated (hash-suffixed) ConfigMap is the one mounted
    assert volumes[config_mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    # its own /tmp, not the repo-server's
    assert mounts["/tmp"]["name"] != "tmp" and "emptyDir" in volumes[mounts["/tmp"]["name"]]


# --- the generate command on the real examples -----------------------------------------


@pytest.mark.parametrize("env_dir", ["v1.3/envs/dev", "v1.10/envs/prod"])
def test_generate_equals_the_stand_in_render(env_dir, tmp_path):
    checkout = _as_argocd_checkout(tmp_path)
    app_dir = checkout / "kustomization-examples" / env_dir
    assert not any(os.access(p, os.X_OK) for p in checkout.rglob("*") if p.is_file())
    stand_in = stand_in_dir()
    generated = _generate(
        checkout, app_dir, [stand_in], {"ARGOCD_APP_SOURCE_PATH": f"kustomization-examples/{env_dir}"}
    )
    reference = stand_in_render(env_dir)  # the render tests/test_delivery.py checks, made once per run
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert generated.returncode == 0, generated.stderr[-2000:]
    assert len(generated.stdout) > 1_000_000
    assert generated.stdout == reference.stdout
    assert "kfkrm pod-template-labels:" in generated.stderr
    assert "kfkrm-argocd:" not in generated.stderr


# --- the generate command's failures, on a small kustomization ------------------------

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"


def _function(kind: str, body: str, image: str = IMAGE, exec_path: str | None = None) -> str:
    spec = f"      container:\n        image: {image}\n" if image else ""
    if exec_path:
        spec += f"      exec:\n        path: {exec_path}\n"
    return (
        f"apiVersion: kfkrm.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: fn\n  annotations:\n"
        f"    config.kubernetes.io/function: |\n{spec}{body}"
    )


def _small_app(tmp_path: Path, transformer: str | None, resources=True) -> tuple[Path, Path]:
    checkout = tmp_path / "checkout"
    app = checkout / "apps" / "kubeflow"
    (app / "transformers").mkdir(parents=True)
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "namespace: kubeflow"]
    if resources:
        (app / "namespace.yaml").write_text(NAMESPACE)
        lines += ["resources:", "- namespace.yaml"]
    if transformer:
        (app / "transformers" / "fn.yaml").write_text(transformer)
        lines += ["transformers:", "- transformers/fn.yaml"]
    (app / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    script = checkout / "image" / _script_path_in_image().lstrip("/")
    script.parent.mkdir(parents=True)
    shutil.copy(ARGOCD / "generate.sh", script)
    _strip_executable_bits(checkout)
    return checkout, app


def _assert_loud_failure(proc, *expected):
    assert proc.returncode != 0
    assert proc.stdout == "", "nothing may reach Argo CD on failure"
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("kfkrm-argocd: ") and "app argocd/kubeflow-dev" in last and "nothing was generated" in last
    ), last
    for text in expected:
        assert text in proc.stderr, proc.stderr


def test_generate_on_a_small_app(tmp_path):
    checkout, app = _small_app(tmp_path, _function("NamespaceInjection", "namespaces: [kubeflow]\n"))
    stand_in = stand_in_dir()
    proc = _generate(checkout, app, [stand_in])
    assert proc.returncode == 0, proc.stderr
    assert yaml_load(proc.stdout)["metadata"]["labels"] == {"istio-injection": "enabled"}
    assert proc.stdout == _reference_render(app, stand_in).stdout


def test_generate_prefers_a_kustomize_binary(tmp_path):
    """The sidecar image has a standalone kustomize (from the Argo CD image), not kubectl."""
    checkout, app = _small_app(tmp_path, _function("NamespaceInjection", "namespaces: [kubeflow]\n"))
    stand_in = stand_in_dir()
    calls = tmp_path / "kustomize-calls"
    fake = tmp_path / "kustomize-bin" / "kustomize"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = build ] && shift\nexec kubectl kustomize "$@"\n')
    fake.chmod(0o755)
    proc = _generate(checkout, app, [stand_in, fake.parent])
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().startswith("build --enable-alpha-plugins "), calls.read_text()
    assert proc.stdout == _reference_render(app, stand_in).stdout


def test_generate_refuses_other_images(tmp_path):
    checkout, app = _small_app(
        tmp_path, _function("SetLabels", "labels: {a: b}\n", image="gcr.io/kpt-fn/set-labels:v0.1")
    )
    proc = _generate(checkout, app, [stand_in_dir()])
    _assert_loud_failure(proc, "refusing to run gcr.io/kpt-fn/set-labels:v0.1", "failed (exit 1)")


def test_generate_fails_when_a_function_fails(tmp_path):
    checkout, app = _small_app(tmp_path, _function("NamespaceInjection", "namespaces: [kubeflow]\nlables: {a: b}\n"))
    proc = _generate(checkout, app, [stand_in_dir()])
    _assert_loud_failure(proc, "lables", "failed (exit 1)")


def test_generate_refuses_exec_functions(tmp_path):
    """kubectl kustomize would skip them and exit 0; the plugin refuses before rendering."""
    checkout, app = _small_app(
        tmp_path,
        _function("NamespaceInjection", "namespaces: [kubeflow]\n", image="", exec_path="/usr/local/bin/kfkrm"),
    )
    proc = _generate(checkout, app, [stand_in_dir()])
    _assert_loud_failure(proc, "exec functions are not run here", "./transformers/fn.yaml")


def test_generate_accepts_image_and_exec_together(tmp_path):
    """kustomize runs the image when a function declares both; that is not a skipped function."""
    checkout, app = _small_app(
        tmp_path, _function("NamespaceInjection", "namespaces: [kubeflow]\n", exec_path="/usr/local/bin/kfkrm")
    )
    proc = _generate(checkout, app, [stand_in_dir()])
    assert proc.returncode == 0, proc.stderr
    assert yaml_load(proc.stdout)["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_generate_refuses_an_empty_render(tmp_path):
    checkout, app = _small_app(tmp_path, None, resources=False)
    proc = _generate(checkout, app, [stand_in_dir()])
    _assert_loud_failure(proc, "rendered no resources")


def test_generate_outside_a_kustomization(tmp_path):
    checkout, app = _small_app(tmp_path, None)
    (app / "kustomization.yaml").unlink()
    proc = _generate(checkout, app, [stand_in_dir()])
    _assert_loud_failure(proc, "no kustomization.yaml in")


# --- the sidecar image itself (needs a container engine) -------------------------------

# Test stand-in for the Argo CD image's kustomize (no Argo CD image can be pulled here):
# kubectl's embedded kustomize, with the host's kubectl bind-mounted when the sidecar runs.
FAKE_ARGOCD_KUSTOMIZE = """\
#!/bin/sh
case "$1" in
  version) echo "v5.5.0 (kubectl kustomize stand-in)"; exit 0 ;;
  build) shift ;;
esac
exec /usr/local/bin/kubectl kustomize "$@"
"""


def _engine():
    """The container engine scripts/container-setup.sh prepared, or skip (fail under CI=true)."""
    base = os.environ.get("KFKRM_BASE_IMAGE", "localhost/kfkrm-python-base:bookworm")
    return container_engine(os.environ.get("KFKRM_IMAGE") or "", base), base


def _fake_argocd_image(docker: str, tmp: Path) -> str:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = FAKE_ARGOCD_KUSTOMIZE.encode()
        info = tarfile.TarInfo("usr/local/bin/kustomize")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    name = "localhost/kfkrm-test-argocd-stand-in:latest"
    subprocess.run([docker, "import", "-", name], input=buffer.getvalue(), check=True, capture_output=True)
    return name


@pytest.fixture(scope="module")
def sidecar_image(tmp_path_factory):
    docker, base = _engine()
    fake_argocd = _fake_argocd_image(docker, tmp_path_factory.mktemp("argocd"))
    tag = "localhost/kfkrm-argocd-cmp:test"
    build = [
        docker,
        "build",
        "-q",
        "--target",
        "argocd-cmp",
        "--build-arg",
        f"BASE={base}",
        "--build-arg",
        f"ARGOCD_IMAGE={fake_argocd}",
        "-t",
        tag,
        "-f",
        str(REPO / "Dockerfile"),
    ]
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if Path(docker).resolve().name == "podman":
        # as scripts/container-setup.sh builds: pip reaches the index through the host network
        build += ["--network", "host"]
        if ca.exists():
            build += ["-v", f"{ca}:/etc/ssl/host-ca.crt:ro", "--build-arg", "PIP_CERT=/etc/ssl/host-ca.crt"]
    proc = subprocess.run(build + [str(REPO)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return docker, tag


def _generate_in_sidecar(docker: str, image: str, checkout: Path, app: Path) -> subprocess.CompletedProcess:
    """The generate command of plugin.yaml inside the sidecar image: user 999, read-only root,
    no network, its own /tmp, the checkout mounted where it is."""
    kubectl = Path(shutil.which("kubectl")).resolve()
    env_args = [a for name, value in ARGOCD_ENV.items() for a in ("-e", f"{name}={value}")]
    command = list(_plugin()["spec"]["generate"]["command"])
    return subprocess.run(
        [
            docker,
            "run",
            "--rm",
            "--user",
            "999",
            "--read-only",
            "--network",
            "none",
            "--tmpfs",
            "/tmp",
            "-v",
            f"{kubectl}:/usr/local/bin/kubectl:ro",
            "-v",
            f"{checkout}:{checkout}:ro",
            "-w",
            str(app),
            *env_args,
            image,
            *command,
        ],
        capture_output=True,
        text=True,
    )


@pytest.mark.container
def test_sidecar_image_renders_and_refuses(sidecar_image, tmp_path):
    docker, image = sidecar_image
    checkout, app = _small_app(tmp_path / "ok", _function("NamespaceInjection", "namespaces: [kubeflow]\n"))
    for path in [checkout, *checkout.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    proc = _generate_in_sidecar(docker, image, checkout, app)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _reference_render(app, stand_in_dir()).stdout
    assert "kfkrm namespace-injection:" in proc.stderr

    checkout, app = _small_app(
        tmp_path / "other", _function("SetLabels", "labels: {a: b}\n", image="gcr.io/kpt-fn/set-labels:v0.1")
    )
    for path in [checkout, *checkout.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    proc = _generate_in_sidecar(docker, image, checkout, app)
    _assert_loud_failure(proc, "refusing to run gcr.io/kpt-fn/set-labels:v0.1")
