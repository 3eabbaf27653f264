#!/usr/bin/env python3
"""The whole-chain benchmark: what kfkrm adds to a `kubectl kustomize` render.

For each Kubeflow version, the wall time of
  plain:     `kubectl kustomize` of the base (upstream Kubeflow, no functions);
  env ...:   the shipped example environments (envs/prod: a few separate functions;
             v1.3 envs/prod-profile: one EnterpriseProfile);
  separate:  (a) every adaptation as a separate function: the configs of fnconfigs/,
             chained in the profile's order in a temporary kustomization;
  profile:   (b) the same adaptations as one EnterpriseProfile (fnconfigs/enterprise-profile.yaml);
  no-op:     one function whose `docker` is `cat`: what kustomize itself pays for a function
             call (it serialises every resource to the function and parses them back),
             whatever the function does;
each `kubectl kustomize --enable-alpha-plugins` with the functions run the way the README's
no-container command runs them: a PATH folder whose `docker` runs `python -m
kfkrm.cli.docker_shim` from this checkout (one Python process per function call).
Targets (issue 8): (b) adds at most 25% to plain, (a) at most 100%.

The temporary kustomizations adapt fnconfigs/ so every function succeeds on the input:
  * json-patch (a generic tool, not an adaptation) and ingress-gateway (it exposes the
    bundled istio-ingressgateway Service, which remove-istio removes) are left out;
  * (v1.3 relocates the auth service too: the examples' base is upstream's rendered
    stream, in which v1.3's kustomize vars are already resolved);
  * v1.10: Istio "1.22" instead of the field report's "1.6": Kubeflow v1.10 uses Istio
    APIs that Istio 1.6 does not serve (the policy would fail the render).

kfkrm build (issue 12), measured side by side in the same run:
  upstream:  plain `kubectl kustomize` of upstream's example (the source tree in
             ../shared/kubeflow when present, which a user's clone does not have);
  embedded:  plain `kubectl kustomize` of the embedded upstream render (upstream/kubeflow);
  build:     `kfkrm build` of the prod example (its fast path: kustomize without the
             kfkrm transformers, then every function in one process).
Target: build within 1.25x of upstream (of embedded where the source tree is absent).
`--build-only` measures just these three.

  python3 benchmarks/chain.py [--versions v1.3 v1.10] [--repeat N] [--keep] [--check] [--build-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "kustomization-examples"
SHARED = Path(os.environ.get("KFKRM_SHARED", REPO.parent / "shared"))
IMAGE = "localhost/kfkrm:0.1.0"
TARGET_PROFILE, TARGET_SEPARATE = 0.25, 1.00
TARGET_BUILD = 1.25
UPSTREAM = REPO / "upstream" / "kubeflow"
UPSTREAM_DIR = {"v1.3": "v1.3.0", "v1.10": "v1.10"}

# The profile's order (docs/functions/enterprise-profile.md): removals, relocations and
# rewrites, enrolment, validation.
SEPARATE_ORDER = [
    "remove-istio",
    "remove-argo",
    "authservice-relocation",
    "image-proxy",
    "virtualservice-gateway",
    "argo-artifact-repository",
    "namespace-injection",
    "pod-template-labels",
    "pod-template-annotations",
    "envoy-base-id",
    "enterprise-policy",
]
ISTIO_VERSION = {"v1.3": "1.6", "v1.10": "1.22"}


def load_config(name: str) -> dict:
    config = yaml.safe_load((REPO / "fnconfigs" / f"{name}.yaml").read_text())
    config.setdefault("metadata", {})["annotations"] = {
        "config.kubernetes.io/function": f"container:\n  image: {IMAGE}\n"
    }
    return config


def separate_configs(version: str) -> list[tuple[str, dict]]:
    """fnconfigs/ adapted to the version (see the module docstring)."""
    configs = []
    for name in SEPARATE_ORDER:
        config = load_config(name)
        if "istioVersion" in config:
            config["istioVersion"] = ISTIO_VERSION[version]
        configs.append((name, config))
    return configs


def profile_config(version: str) -> dict:
    config = load_config("enterprise-profile")
    config["mesh"]["istioVersion"] = ISTIO_VERSION[version]
    return config


def write_kustomization(root: Path, name: str, base: Path, configs: list[tuple[str, dict]]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    files = []
    for i, (fn, config) in enumerate(configs):
        path = f"{i:02d}-{fn}.yaml"
        (folder / path).write_text(yaml.safe_dump(config, sort_keys=False))
        files.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base, folder)],
        "transformers": files,
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return folder


def stand_in_path(root: Path) -> str:
    """A PATH whose first `docker` runs kfkrm's functions in-process (the README's no-container way)."""
    bin_dir = root / "stand-in"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(
        f"#!/bin/sh\nPYTHONPATH={REPO / 'functions'} exec {sys.executable} -m kfkrm.cli.docker_shim \"$@\"\n"
    )
    docker.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def no_op_path(root: Path) -> str:
    """A PATH whose first `docker` hands the ResourceList back unchanged."""
    bin_dir = root / "no-op"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\nexec cat\n")
    docker.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def render(folder: Path, path_env: str, plugins: bool) -> tuple[float, subprocess.CompletedProcess]:
    args = ["kubectl", "kustomize"] + (["--enable-alpha-plugins"] if plugins else []) + [str(folder)]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, PATH=path_env))
    return time.perf_counter() - start, proc


def timed(args: list[str], env=None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc


def build_cases(version: str, repeat: int) -> list[str]:
    """kfkrm build of envs/prod against plain kustomize of upstream, best of `repeat`, interleaved
    so that a busy machine slows every case alike. Returns the targets missed."""
    cases = []
    source = SHARED / "kubeflow" / UPSTREAM_DIR[version] / "example"
    if source.is_dir():
        cases.append(("plain kustomize (upstream example)", ["kubectl", "kustomize", str(source)], None))
    cases.append(
        ("plain kustomize (embedded upstream)", ["kubectl", "kustomize", str(UPSTREAM / UPSTREAM_DIR[version])], None)
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
    cases.append(
        (
            "kfkrm build envs/prod",
            [sys.executable, "-m", "kfkrm", "build", str(EXAMPLES / version / "envs" / "prod")],
            env,
        )
    )
    best = {label: float("inf") for label, _, _ in cases}
    for _ in range(repeat):
        for label, args, case_env in cases:
            seconds, proc = timed(args, case_env)
            if proc.returncode != 0:
                print(f"{version:8} {label:38} failed: {(proc.stderr.splitlines() or [''])[-1][:200]}")
                return [f"{version} {label}: failed"]
            best[label] = min(best[label], seconds)
            if label.startswith("kfkrm build"):
                route = proc.stderr.splitlines()[-1]
    reference = cases[0][0]
    missed = []
    for label, _, _ in cases:
        ratio = best[label] / best[reference]
        verdict = ""
        if label.startswith("kfkrm build"):
            verdict = f"<= {TARGET_BUILD:.2f}x of {reference.split('(')[1][:-1]} " + (
                "ok" if ratio <= TARGET_BUILD else "MISSED"
            )
            if ratio > TARGET_BUILD:
                missed.append(f"{version} {label}: {ratio:.2f}x (target {TARGET_BUILD}x)")
        print(f"{version:8} {label:38} {'':9} {best[label]:7.2f} {ratio:6.2f}x  {verdict}")
    print(f"{'':8}   {route[:200]}")
    return missed


def kfkrm_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kfkrm")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="+", default=["v1.3", "v1.10"], choices=["v1.3", "v1.10"])
    parser.add_argument("--repeat", type=int, default=2, help="renders per case; the best time counts")
    parser.add_argument("--keep", action="store_true", help="keep the temporary kustomizations and print where")
    parser.add_argument("--verbose", action="store_true", help="print each function's summary line")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--build-only", action="store_true", help="only kfkrm build against plain kustomize")
    args = parser.parse_args()
    if shutil.which("kubectl") is None:
        print("chain: kubectl is not on PATH", file=sys.stderr)
        return 2
    print(f"{'version':8} {'case':38} {'':9} {'wall s':>7} {'ratio':>7}")
    build_missed = [m for version in args.versions for m in build_cases(version, args.repeat)]
    if args.build_only:
        if build_missed:
            print("targets missed:\n  " + "\n  ".join(build_missed))
        return 1 if build_missed and args.check else 0
    root = Path(tempfile.mkdtemp(prefix="kfkrm-chain-"))
    path_env, no_op_env = stand_in_path(root), no_op_path(root)
    missed, failed = [], False
    print(f"{'version':8} {'case':38} {'functions':>9} {'wall s':>7} {'added':>7}  target")
    try:
        for version in args.versions:
            base = EXAMPLES / version / "base"
            separate = separate_configs(version)
            profile_folder = write_kustomization(
                root, f"{version}-profile", base, [("enterprise-profile", profile_config(version))]
            )
            cases = [
                ("plain kustomize (base)", base, 0, False, path_env),
                ("no-op function (kustomize's own cost)", profile_folder, 1, True, no_op_env),
            ]
            for env in sorted((EXAMPLES / version / "envs").iterdir()):
                if env.name.startswith("prod"):
                    count = len(yaml.safe_load((env / "kustomization.yaml").read_text()).get("transformers") or [])
                    cases.append((f"env {env.name}", env, count, True, path_env))
            cases.append(
                (
                    "(a) separate functions",
                    write_kustomization(root, f"{version}-separate", base, separate),
                    len(separate),
                    True,
                    path_env,
                )
            )
            cases.append(("(b) EnterpriseProfile", profile_folder, 1, True, path_env))
            plain = no_op = None
            for label, folder, functions, plugins, env_path in cases:
                best, proc = float("inf"), None
                for _ in range(args.repeat):
                    seconds, proc = render(folder, env_path, plugins)
                    best = min(best, seconds)
                    if proc.returncode != 0:
                        break
                if proc.returncode != 0:
                    failed = True
                    print(
                        f"{version:8} {label:38} {functions:9} failed: {(kfkrm_lines(proc.stderr) or proc.stderr.splitlines()[-1:])[-1][:200]}"
                    )
                    continue
                if plain is None:
                    plain = best
                    print(f"{version:8} {label:38} {functions:9} {best:7.2f} {'':>7}")
                    continue
                added = best / plain - 1
                if no_op is None:
                    no_op = best - plain
                kustomize_share = (
                    f"  (kustomize's own cost of {functions} call{'s' if functions > 1 else ''} ~ +{functions * no_op / plain:.0%})"
                    if functions
                    else ""
                )
                target = (
                    TARGET_SEPARATE if label.startswith("(a)") else TARGET_PROFILE if label.startswith("(b)") else None
                )
                verdict = "" if target is None else f"<= {target:.0%} " + ("ok" if added <= target else "MISSED")
                print(
                    f"{version:8} {label:38} {functions:9} {best:7.2f} {added:+7.0%}  {verdict}{kustomize_share if target else ''}"
                )
                if target is not None and added > target:
                    missed.append(f"{version} {label}: +{added:.0%} (target {target:.0%})")
                if args.verbose:
                    for line in kfkrm_lines(proc.stderr):
                        print(f"{'':8}   {line[:220]}")
    finally:
        if args.keep:
            print(f"temporary kustomizations kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    missed += build_missed
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed))
    elif not failed:
        print("all targets met: the profile adds <= 25%, separate functions <= 100% to plain kustomize")
    return 1 if failed or (missed and args.check) else 0


if __name__ == "__main__":
    raise SystemExit(main())
