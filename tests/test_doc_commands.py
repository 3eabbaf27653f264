"""Every shell command in README.md's and docs/*.md's code blocks runs as written, with its
expected exit code (issue 24: docs that fail as written teach users to distrust them).

The commands are extracted from the ```sh blocks (continuation lines joined, comments
dropped) and run in order from the repository root, with this checkout's `kfkrm` first on
PATH, as a user who ran `export PATH=$PWD/.venv/bin:$PATH` would. Files they write at the
root (rendered.yaml, upstream.yaml) are removed afterwards. Only the commands in SKIPPED are
not run, each for the reason given there.

To keep this fast, `kfkrm build kustomization-examples/ENV` at the head of a pipeline or
before `> FILE`, or in docs/multi-cluster.md's loop over the clusters, is the session's
cached run of that very command (helpers.example_render, shared with the other tests); the
rest of the pipeline runs as written on its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO, example_render, yaml_docs, yaml_load

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "docs" / "functions").glob("*.md"))]

# pattern (matched at the start of a command) -> why it is not run here
SKIPPED = {
    r"scripts/test\.sh\b": "runs the whole test suite, this test included",
    r"scripts/render-example\.sh\b": "runs scripts/bootstrap.sh, which would reinstall the test run's .venv; "
    "its command, kfkrm build kustomization-examples/v1.3/envs/dev, runs here instead (test_render_example_command)",
    r"(docker|podman) build\b": "needs a container engine (scripts/test.sh builds the image for the container tests)",
    r"kubectl kustomize --enable-alpha-plugins kustomization-examples/": "runs the kfkrm image through a container "
    "engine (tests/test_delivery.py, with one)",
    r"kpt fn (eval|render) DIR\b": "a template with the placeholder DIR; kpt changes a package in place "
    "(tests/test_kpt.py runs these on copies)",
}
EXPECTED_EXIT = {  # command -> exit code, when a documented command is meant to fail
    # docs/upgrades.md: the v1.7.0 -> v1.10 plan has two blockers, and says so with exit 1
    "kfkrm upgrade-plan upstream/kubeflow/v1.7.0/all.yaml upstream/kubeflow/v1.10/all.yaml "
    "--config fnconfigs/enterprise-profile.yaml --kubernetes-version 1.31": 1,
}

_BUILD = re.compile(r"^kfkrm build (kustomization-examples/\S+?)/?(?: (?P<op>[|>]) (?P<rest>.+))?$")
# `for c in kustomization-examples/GLOB/; do kfkrm build "$c" > /dev/null || exit 1; done`
# (docs/multi-cluster.md): the same cached runs, one per folder the glob names, in its order.
_BUILD_LOOP = re.compile(
    r'^for (\w+) in (kustomization-examples/[^\s;]+); do kfkrm build "\$\1" > /dev/null \|\| exit 1; done$'
)


def doc_commands() -> list[tuple[str, str]]:
    """(document, command) for every command of every ```sh block, in order."""
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S):
            joined = re.sub(r"\\\n\s*", "", block)
            for line in joined.splitlines():
                command = re.sub(r"\s+#.*$", "", line).strip()
                if command and not command.startswith("#"):
                    out.append((str(doc.relative_to(REPO)), re.sub(r"\s+", " ", command)))
    return out


COMMANDS = doc_commands()


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPPED.items() if re.match(pattern, command)), None)


def _env() -> dict:
    kfkrm_bin = REPO / ".venv" / "bin"
    path = f"{kfkrm_bin if (kfkrm_bin / 'kfkrm').exists() else Path(sys.executable).parent}{os.pathsep}"
    return dict(os.environ, PATH=path + os.environ.get("PATH", ""), PWD=str(REPO))


def run(command: str) -> subprocess.CompletedProcess:
    loop = _BUILD_LOOP.match(command)
    if loop:
        folders = sorted(REPO.glob(loop.group(2)))
        assert folders, f"{loop.group(2)} names no folder"
        for folder in folders:
            built = example_render(str(folder.relative_to(REPO / "kustomization-examples")))
            if built.returncode != 0:
                return subprocess.CompletedProcess(command, 1, "", built.stderr)
        return subprocess.CompletedProcess(command, 0, "", "")
    match = _BUILD.match(command)
    if match:
        built = example_render(match.group(1).split("/", 1)[1])
        assert built.returncode == 0, built.stderr[-2000:]
        if match.group("op") is None:
            return built
        if match.group("op") == ">":
            (REPO / match.group("rest")).write_text(built.stdout)
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", match.group("rest")],
            input=built.stdout,
            capture_output=True,
            text=True,
            cwd=REPO,
            env=_env(),
        )
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, cwd=REPO, env=_env()
    )


@pytest.fixture(scope="module")
def clean_root():
    before = {p.name for p in REPO.iterdir()}
    yield
    for p in REPO.iterdir():
        if p.name not in before and p.is_file():
            p.unlink()


def test_the_docs_have_commands_and_every_skip_is_used():
    assert len(COMMANDS) >= 8
    used = {pattern for pattern in SKIPPED for _, c in COMMANDS if re.match(pattern, c)}
    assert used == set(SKIPPED), set(SKIPPED) - used  # no stale exemption


def test_every_doc_command_runs_as_written(clean_root):
    """In document order: a later command may read what an earlier one wrote (rendered.yaml)."""
    ran, failures = 0, []
    for doc, command in COMMANDS:
        if skip_reason(command):
            continue
        proc = run(command)
        ran += 1
        want = EXPECTED_EXIT.get(command, 0)
        if proc.returncode != want:
            failures.append(f"{doc}: `{command}` exited {proc.returncode}, want {want}: {proc.stderr.strip()[-500:]}")
    assert not failures, "\n".join(failures)
    assert ran >= 6


def test_render_example_command():
    """scripts/render-example.sh's command (the README's first one), without its bootstrap."""
    built = example_render("v1.3/envs/dev")
    assert built.returncode == 0, built.stderr[-2000:]
    assert built.stderr.splitlines()[-1].startswith("kfkrm build: ")
    assert len(yaml_docs(built.stdout)) > 400


def test_test_sh_help_installs_nothing(tmp_path):
    """`scripts/test.sh --help` prints its own usage and exits 0 before any set-up: with a
    venv path that does not exist, nothing is created."""
    env = dict(os.environ, KFKRM_VENV=str(tmp_path / "venv"), KFKRM_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([str(REPO / "scripts" / "test.sh"), "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: scripts/test.sh")
    assert "KFKRM_CONTAINERS=skip" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_doc_configs_name_an_image_that_resolves():
    """No documented config names a short image name (podman: "short-name did not resolve")."""
    offenders = []
    for path in [*REPO.glob("fnconfigs/*.yaml"), *REPO.glob("docs/**/*.md"), REPO / "README.md"]:
        for image in re.findall(r"^\s*image: (\S+)", path.read_text(), re.M):
            if "kfkrm" in image and image.split("/")[0].count(".") == 0 and not image.startswith("localhost/"):
                offenders.append(f"{path.relative_to(REPO)}: {image}")
    assert offenders == []
    assert "image: localhost/kfkrm:0.1.0" in (REPO / "fnconfigs" / "enterprise-profile.yaml").read_text()


BASE = """\
apiVersion: v1
kind: Namespace
metadata: {name: kubeflow}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ml-pipeline, namespace: kubeflow}
spec:
  replicas: 1
  selector: {matchLabels: {app: ml-pipeline}}
  template:
    metadata: {labels: {app: ml-pipeline}}
    spec: {containers: [{name: c, image: registry.corp.example.com/x:1}]}
"""


def _documented_yaml(title: str) -> str:
    """The YAML block of docs/build.md whose first line is `# <title>`."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "docs" / "build.md").read_text(), re.S)
    return next(b for b in blocks if b.startswith(f"# {title}\n"))


def test_patches_run_before_transformers_and_the_documented_pattern_works(tmp_path):
    """docs/build.md: a `patches:` entry naming the relocated namespace does nothing (kustomize
    runs patches before transformers); the PatchTransformer listed after the relocation applies."""
    patch_transformer = yaml_load(_documented_yaml("transformers/patch-after-relocation.yaml"))
    assert patch_transformer["kind"] == "PatchTransformer" and patch_transformer["target"]["namespace"] == "ml"
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "relocate.yaml").write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceRelocation\nmetadata:\n  name: to-ml\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      container:\n        image: localhost/kfkrm:0.1.0\n"
        "namespaces: {kubeflow: ml}\n"
    )
    (tmp_path / "t" / "patch.yaml").write_text(yaml.safe_dump(patch_transformer))
    as_patch = {"target": patch_transformer["target"], "patch": patch_transformer["patch"].replace("2", "3")}

    def replicas(transformers: list[str]) -> int:
        kustomization = {"resources": ["base.yaml"], "transformers": transformers, "patches": [as_patch]}
        (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        proc = subprocess.run(
            [sys.executable, "-m", "kfkrm", "build", str(tmp_path)],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO / "functions")),
        )
        assert proc.returncode == 0, proc.stderr
        deployment = next(d for d in yaml_docs(proc.stdout) if d["kind"] == "Deployment")
        assert deployment["metadata"]["namespace"] == "ml"
        return deployment["spec"]["replicas"]

    assert replicas(["t/relocate.yaml"]) == 1  # the patches: entry (3) found nothing in ml
    assert replicas(["t/relocate.yaml", "t/patch.yaml"]) == 2  # the transformer after the relocation applied
