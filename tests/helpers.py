"""What the tests share: the real Kubeflow manifests, and running kfkrm as users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

import render_cache
import yaml_oracle

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KFKRM_SHARED", REPO.parent / "shared")).resolve()
KUBEFLOW = SHARED / "kubeflow"  # upstream source trees: only what the repository cannot ship
UPSTREAM = REPO / "upstream" / "kubeflow"  # upstream's rendered streams, embedded (see their PROVENANCE)
EMBEDDED_VERSIONS = tuple(sorted(p.name for p in UPSTREAM.iterdir() if (p / "all.yaml").is_file()))
VERSIONS = ("v1.3.0", "v1.10")  # the releases with hand-checked expectations in the tests
REQUIRE_SHARED = os.environ.get("KFKRM_REQUIRE_SHARED") == "1"
CI = os.environ.get("CI") == "true"

sys.path.insert(0, str(REPO / "functions"))
from kfkrm.fns.registry import BY_NAME  # noqa: E402
from kfkrm.runtime import yamlio  # noqa: E402
from kfkrm.runtime.resourcelist import items_from_stream  # noqa: E402
from kfkrm.runtime.runner import run  # noqa: E402


def skip_or_fail(reason: str, required: bool):
    """Skip with `reason`, or fail when the run requires it (CI)."""
    if required:
        pytest.fail(reason + " (required in this run: CI=true / KFKRM_REQUIRE_SHARED=1)")
    pytest.skip(reason)


def need_shared(path: Path = KUBEFLOW) -> Path:
    """Skip (or, under KFKRM_REQUIRE_SHARED=1 as in CI, fail) when ../shared is absent.
    Only for upstream's source trees; rendered upstream is embedded (rendered_path)."""
    if not path.exists():
        skip_or_fail(
            f"{path} is absent: the upstream Kubeflow manifests live in the developers' ../shared, "
            "not in a user's clone",
            REQUIRE_SHARED,
        )
    return path


def kpt_binary() -> str:
    kpt = shutil.which("kpt")
    if kpt is None:
        skip_or_fail("kpt is not installed", REQUIRE_SHARED or CI)
    return kpt


def kfkrm_exec_script(directory: Path) -> Path:
    """An absolute-path executable running this checkout's kfkrm (kpt resolves a relative
    exec path against its own working directory)."""
    script = directory / "kfkrm"
    directory.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/bin/sh\nPYTHONPATH={REPO / 'functions'} exec {sys.executable} -m kfkrm \"$@\"\n")
    script.chmod(0o755)
    return script


def container_engine(*images: str) -> str:
    """The `docker` that scripts/container-setup.sh prepared, holding `images` (default: the
    kfkrm image named by KFKRM_IMAGE); skips, or fails under CI=true, when there is none."""
    images = images or (os.environ.get("KFKRM_IMAGE") or "",)
    docker = shutil.which("docker")
    ok = docker and all(
        image and subprocess.run([docker, "image", "inspect", image], capture_output=True).returncode == 0
        for image in images
    )
    if not ok:
        skip_or_fail(
            "no container engine with the kfkrm image (scripts/test.sh sets one up with scripts/container-setup.sh)", CI
        )
    return docker


def rendered_path(version: str) -> Path:
    """Upstream Kubeflow `version` as `kubectl kustomize example` renders it, embedded in the repository."""
    return UPSTREAM / version / "all.yaml"


@lru_cache(maxsize=None)
def rendered_text(version: str) -> str:
    return rendered_path(version).read_text()


@lru_cache(maxsize=None)
def rendered_items_text(version: str) -> str:
    """The rendered manifests as the `items:` block of a ResourceList (kustomize's layout)."""
    return "".join(item.raw for item in items_from_stream(rendered_text(version)))


def resource_list(
    items_text: str, function_config: str | None = None, api_version: str = "config.kubernetes.io/v1"
) -> str:
    """A ResourceList text: `items_text` is a block of `- ` entries; the config is YAML."""
    out = f"apiVersion: {api_version}\nkind: ResourceList\nitems:\n{items_text}"
    if function_config is not None:
        body = "".join(
            "  " + line + "\n" if line.strip() else "\n" for line in function_config.strip("\n").splitlines()
        )
        out += "functionConfig:\n" + body
    return out


def items_block(*docs: str) -> str:
    """`- ` entries from YAML documents written naturally in a test."""
    return "".join(item.raw for d in docs for item in items_from_stream(d))


def run_function(name: str, text: str):
    """Run a function in-process exactly as the CLI does; returns Outcome(stdout, stderr, exit_code)."""
    return run(BY_NAME[name], text)


def run_cli(args: list[str], stdin: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m kfkrm ARGS` as a separate process."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kfkrm", *args], input=stdin, capture_output=True, text=True, env=full_env
    )


def yaml_load(text: str):
    """yaml.safe_load(text), with libyaml, a ResourceList item by item (tests/yaml_oracle.py)."""
    return yaml_oracle.load(text)


def yaml_docs(text: str) -> list:
    """The non-empty documents of a YAML stream: [d for d in yaml.safe_load_all(text) if d]."""
    return yaml_oracle.load_all(text)


def load_output(stdout: str) -> dict:
    """The output ResourceList, parsed independently of kfkrm's reader (PyYAML, YAML 1.2 loader)."""
    doc = yaml_oracle.load(stdout, yamlio.Loader)
    assert doc["apiVersion"] == "config.kubernetes.io/v1" and doc["kind"] == "ResourceList"
    assert "items" in doc
    return doc


def output_item_texts(stdout: str) -> list[str]:
    """The raw text of each output item, split by kfkrm's own reader (for byte comparisons)."""
    from kfkrm.runtime.resourcelist import ResourceList

    return [i.raw if not i.changed else None for i in ResourceList.parse(stdout).items]


def key(obj: dict) -> tuple:
    md = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), md.get("namespace", ""), md.get("name"))


EXAMPLES = REPO / "kustomization-examples"
# The examples rendered by kustomize's per-call route with the stand-in (stand_in_render), the
# reference the fast path, the Argo CD plugin and the containers are compared with; heaviest
# first (v1.10 prod takes a minute). The files that compare with them: conftest.py starts
# these renders in the background when any of them is collected.
STAND_IN_ENVS = ("v1.10/envs/prod", "v1.3/envs/dev", "v1.3/envs/prod-profile")
STAND_IN_USERS = ("test_build.py", "test_argocd.py", "test_delivery.py")
_STAND_IN_RENDERS: dict = {}


def stand_in_dir() -> Path:
    """A PATH folder whose `docker` is kfkrm-docker and whose `kfkrm` is kfkrm, both running this
    checkout (made once per run)."""
    import tempfile

    if "dir" not in _STAND_IN_RENDERS:
        bin_dir = Path(tempfile.mkdtemp(prefix="kfkrm-stand-in-"))
        docker = bin_dir / "docker"
        docker.write_text(
            f"#!/bin/sh\nPYTHONPATH={REPO / 'functions'} exec {sys.executable} -m kfkrm.cli.docker_shim \"$@\"\n"
        )
        docker.chmod(0o755)
        kfkrm = bin_dir / "kfkrm"  # `kfkrm build` in argocd/generate.sh
        kfkrm.write_text(f"#!/bin/sh\nPYTHONPATH={REPO / 'functions'} exec {sys.executable} -m kfkrm \"$@\"\n")
        kfkrm.chmod(0o755)
        _STAND_IN_RENDERS["dir"] = bin_dir
    return _STAND_IN_RENDERS["dir"]


def stand_in_render(env_dir: str) -> subprocess.CompletedProcess:
    """`kubectl kustomize --enable-alpha-plugins` of an example with the stand-in as docker:
    the README's main job and the reference every other runtime is compared with. Rendered
    once per test run for all xdist workers (tests/render_cache.py; a v1.10 environment takes
    a minute or more); `.results_file` holds each function call's results."""
    if env_dir not in _STAND_IN_RENDERS:

        def compute(workdir: Path) -> dict:
            results = workdir / "results.jsonl"
            env = dict(
                os.environ, PATH=f"{stand_in_dir()}{os.pathsep}{os.environ['PATH']}", KFKRM_RESULTS_FILE=str(results)
            )
            args = ["kubectl", "kustomize", "--enable-alpha-plugins", str(EXAMPLES / env_dir)]
            proc = subprocess.run(args, capture_output=True, text=True, env=env)
            return {
                "args": args,
                "returncode": proc.returncode,
                "stdout": proc.stdout,
                "stderr": proc.stderr,
                "results_file": str(results),
            }

        value = render_cache.cached(f"stand-in-{env_dir}", compute, ok=lambda v: v["returncode"] == 0)
        proc = subprocess.CompletedProcess(value["args"], value["returncode"], value["stdout"], value["stderr"])
        proc.results_file = Path(value["results_file"])  # each function call's results, as the stand-in recorded them
        _STAND_IN_RENDERS[env_dir] = proc
    return _STAND_IN_RENDERS[env_dir]


# -- running a function on small inputs (one set for every test file) ------------------------


def block(*docs: str) -> str:
    """`- ` entries from YAML streams written in a test (a leading newline is ignored)."""
    return items_block(*(d.strip("\n") + "\n" for d in docs))


def run_docs(name: str, *docs: str, config: str) -> "object":
    """Run function `name` on the YAML documents `docs` with `config`, as the CLI does."""
    return run_function(name, resource_list(block(*docs), config))


def run_rendered(name: str, version: str, config: str):
    """Run function `name` on a whole rendered Kubeflow release with `config`."""
    return run_function(name, resource_list(rendered_items_text(version), config))


def run_ok(name: str, *docs: str, config: str) -> tuple[dict, object]:
    """run_docs, asserting success; returns (the output ResourceList parsed, the outcome)."""
    outcome = run_docs(name, *docs, config=config)
    assert outcome.exit_code == 0, outcome.stderr
    return load_output(outcome.stdout), outcome


# -- golden examples: examples/<function>-<case>/ ----------------------------------------------

GOLDEN = REPO / "examples"


def golden_cases() -> list[Path]:
    """Every example folder (one with a fn-config.yaml), sorted by name."""
    return sorted(p.parent for p in GOLDEN.glob("*/fn-config.yaml"))


def function_of_case(case: Path) -> str:
    """The function an example folder runs: the longest registered name its folder name starts with."""
    names = [n for n in BY_NAME if case.name.startswith(n + "-")]
    if not names:
        raise ValueError(f"{case.name}: an example folder is named <function>-<case>; no function {case.name!r}")
    return max(names, key=len)


def golden_input(case: Path) -> str:
    """The ResourceList an example folder stands for: its resources.yaml as items, its fn-config.yaml."""
    resources = case / "resources.yaml"
    items = items_block(resources.read_text()) if resources.exists() else ""
    return resource_list(items, (case / "fn-config.yaml").read_text())


def run_golden(case: Path):
    """Run an example folder as `kfkrm FUNCTION` runs it; returns Outcome(stdout, stderr, exit_code)."""
    return run_function(function_of_case(case), golden_input(case))


@lru_cache(maxsize=None)
def example_render(env_dir: str) -> subprocess.CompletedProcess:
    """`kfkrm build` of an example (the README's first command), made once per test run for
    all xdist workers (tests/render_cache.py). Its fast path gives the bytes of
    stand_in_render (tests/test_build.py proves it on the examples), at a fraction of the
    cost: tests that only read a render use this one."""

    def compute(workdir: Path) -> dict:
        args = [sys.executable, "-m", "kfkrm", "build", str(EXAMPLES / env_dir)]
        env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        return {"args": args, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}

    value = render_cache.cached(f"build-{env_dir}", compute, ok=lambda v: v["returncode"] == 0)
    return subprocess.CompletedProcess(value["args"], value["returncode"], value["stdout"], value["stderr"])
