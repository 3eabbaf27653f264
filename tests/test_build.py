"""`kfkrm build`: the fast path gives the bytes of the per-call route (kubectl kustomize
with the stand-in), its fallbacks are taken and named, every function's warnings and
errors reach the table, kustomize's own errors pass through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    REPO,
    STAND_IN_ENVS,
    UPSTREAM,
    VERSIONS,
    example_render,
    kpt_binary,
    rendered_text,
    stand_in_dir,
    stand_in_render,
    yaml_docs,
    yaml_load,
)
from kfkrm.cli import kustomize_yaml, results_table
from kfkrm.cli.kustomize_plan import plan, sort_order
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import items_from_stream

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

IMAGE = "localhost/kfkrm:0.1.0"


def _build(directory: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO / "functions"), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "kfkrm", "build", *args, str(directory)], capture_output=True, text=True, env=full_env
    )


def _fast(env_dir: str) -> subprocess.CompletedProcess:
    return example_render(env_dir)


def _warnings(calls: list[dict]) -> list[tuple]:
    """The rows as the table shows them (whole: stderr is not a terminal here)."""
    return sorted(results_table.rows(calls))


# -- kustomize's writing and ordering, checked against kustomize's own output -------------


@pytest.mark.parametrize("version", ["v1.3.0", "v1.7.0", "v1.10"])
def test_writer_gives_kustomizes_bytes_for_every_upstream_resource(version):
    """Every resource of upstream's render (printed by kustomize) written again from its
    parsed value gives the same text: sorted keys, quoting, folding, block scalars."""
    items = items_from_stream(rendered_text(version))
    different = [f"{i.kind} {i.name}" for i in items if kustomize_yaml.dump(yamlio.load(i.body)) != i.body]
    assert not different, different[:5]


@pytest.mark.parametrize("version", VERSIONS)
def test_legacy_order_is_kustomizes(version, tmp_path):
    """kustomize's default (legacy) order of upstream's objects, against our sort key."""
    (tmp_path / "kustomization.yaml").write_text(f"resources:\n- {os.path.relpath(UPSTREAM / version, tmp_path)}\n")
    proc = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    items = items_from_stream(rendered_text(version))
    items.sort(key=sort_order({}))
    assert "---\n".join(i.body for i in items) == proc.stdout


def test_writer_quotes_what_go_yaml_would_misread():
    text = kustomize_yaml.dump(
        {
            "b": "true",
            "a": "on",
            "c": "0777",
            "d": "2021-01-29",
            "e": "plain",
            "f": "",
            "g": "a\nb\n",
            "h": "*",
            "i": 3,
            "j": None,
            "k": "1:20",
        }
    )
    assert text == (
        'a: "on"\nb: "true"\nc: "0777"\nd: "2021-01-29"\ne: plain\nf: ""\ng: |\n  a\n  b\n'
        "h: '*'\ni: 3\nj: null\nk: \"1:20\"\n"
    )


# -- the fast path equals the per-call route on the examples ---------------------------


@pytest.mark.parametrize("env_dir", STAND_IN_ENVS)
def test_fast_path_gives_the_bytes_and_warnings_of_the_per_call_route(env_dir):
    fast, reference = _fast(env_dir), stand_in_render(env_dir)
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert fast.returncode == 0, fast.stderr[-3000:]
    assert "(fast path)" in fast.stderr.splitlines()[-1]
    assert fast.stdout == reference.stdout
    # the same warnings, function by function, as each call through kustomize gave
    per_call = results_table.read(str(reference.results_file))
    assert per_call and _warnings(per_call) == _table_rows(fast.stderr)


def _table_rows(stderr: str) -> list[tuple]:
    """The table kfkrm build printed, parsed back by its header's column offsets."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FUNCTION  "))
    header = lines[start]
    cols = [header.index(h) for h in ("FUNCTION", "SEVERITY", "OBJECT", "FIELD", "MESSAGE")]
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith(("kfkrm build: ", "To do on your cluster")):
            break
        cells = [line[a:b].strip() for a, b in zip(cols, cols[1:] + [None])]
        rows.append(tuple(cells))
    return sorted(rows)


def test_v1_3_examples_relocate_the_auth_service():
    docs = yaml_docs(_fast("v1.3/envs/dev").stdout)
    auth = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "authservice"]
    assert [d["metadata"]["namespace"] for d in auth] == ["kubeflow"]
    assert not any(
        d["metadata"].get("namespace") == "istio-system" and "authservice" in d["metadata"]["name"] for d in docs
    )


# -- routes and failures on small kustomizations ---------------------------------------

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: docker.io/library/nginx:1.25
"""


def _function(kind: str, body: str, image: str = IMAGE) -> str:
    return (
        f"apiVersion: kfkrm.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: fn-{kind.lower()}\n  annotations:\n"
        f"    config.kubernetes.io/function: |\n      container:\n        image: {image}\n{body}"
    )


def _app(tmp_path: Path, transformers: list[str], extra: str = "", resources=("namespace.yaml", "web.yaml")) -> Path:
    app = tmp_path / "app"
    (app / "fns").mkdir(parents=True)
    (app / "namespace.yaml").write_text(NAMESPACE)
    (app / "web.yaml").write_text(DEPLOYMENT)
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "namespace: kubeflow",
        "resources:",
    ] + [f"- {r}" for r in resources]
    if transformers:
        lines.append("transformers:")
        for i, text in enumerate(transformers):
            (app / "fns" / f"{i}.yaml").write_text(text)
            lines.append(f"- fns/{i}.yaml")
    (app / "kustomization.yaml").write_text("\n".join(lines) + "\n" + extra)
    return app


LABELS = _function("PodTemplateLabels", "labels:\n  corp.example.com/team: ml\n  istio-injected: \"true\"\n")
PROXY = _function("ImageProxy", "rules:\n- {from: docker.io, to: registry.corp.example.com/dockerhub}\n")
GATEWAY_WARNS = _function("VirtualServiceGateway", "gateway: istio-system/corp-gateway\nhosts: [kf.corp.example.com]\n")
VIRTUAL_SERVICE = """apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: ui
  namespace: kubeflow
spec:
  gateways: [kubeflow/kubeflow-gateway]
  hosts: ["*"]
  exportTo: ["."]
  http:
  - route:
    - destination: {host: ui.kubeflow.svc.cluster.local}
"""


def _reference(app: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{stand_in_dir()}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        ["kubectl", "kustomize", "--enable-alpha-plugins", str(app)], capture_output=True, text=True, env=env
    )


def test_small_app_fast_path_equals_per_call_and_kustomize(tmp_path):
    app = _app(tmp_path, [PROXY, LABELS])
    assert plan(app).fast and [c.config["kind"] for c in plan(app).calls] == ["ImageProxy", "PodTemplateLabels"]
    fast, per_call = _build(app), _build(app, "--per-call")
    assert fast.returncode == 0 and per_call.returncode == 0, fast.stderr + per_call.stderr
    assert fast.stdout == per_call.stdout == _reference(app).stdout
    assert "registry.corp.example.com/dockerhub/library/nginx:1.25" in fast.stdout
    assert "(fast path)" in fast.stderr and "(per call: --per-call)" in per_call.stderr


def test_a_relative_directory_takes_the_fast_path(tmp_path):
    """`kfkrm build .` in the app's folder, as the Argo CD plugin runs it (argocd/generate.sh):
    its transformer files are its own, so the fast path applies, with the same bytes."""
    app = _app(tmp_path, [PROXY, LABELS])
    env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
    per_call = _build(app, "--per-call")
    assert per_call.returncode == 0, per_call.stderr
    for relative in (".", "./", "../app"):
        proc = subprocess.run(
            [sys.executable, "-m", "kfkrm", "build", relative], capture_output=True, text=True, env=env, cwd=app
        )
        assert proc.returncode == 0, proc.stderr
        assert "(fast path)" in proc.stderr.splitlines()[-1], (relative, proc.stderr.splitlines()[-1])
        assert proc.stdout == per_call.stdout


def test_warnings_are_shown_on_both_routes_and_match_kpt(tmp_path):
    app = _app(tmp_path, [GATEWAY_WARNS], resources=("namespace.yaml", "vs.yaml"))
    (app / "vs.yaml").write_text(VIRTUAL_SERVICE)
    fast, per_call = _build(app), _build(app, "--per-call")
    assert fast.returncode == per_call.returncode == 0, fast.stderr + per_call.stderr
    rows = _table_rows(fast.stderr)
    assert rows == _table_rows(per_call.stderr)
    assert any(r[1] == "warning" and "corp-gateway" in r[4] for r in rows), rows
    # kpt fn eval of the same config over the same resources reports the same warnings
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "resources.yaml").write_text(_reference_without_functions(app))
    config = tmp_path / "fn-config.yaml"
    config.write_text(GATEWAY_WARNS)
    script = tmp_path / "bin" / "kfkrm"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nPYTHONPATH={REPO / 'functions'} exec {sys.executable} -m kfkrm \"$@\"\n")
    script.chmod(0o755)
    results_dir = tmp_path / "results"
    proc = subprocess.run(
        [
            kpt_binary(),
            "fn",
            "eval",
            str(pkg),
            "--exec",
            f"{script} virtualservice-gateway",
            "--fn-config",
            str(config),
            "--results-dir",
            str(results_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    kpt_results = yaml_load((results_dir / "results.yaml").read_text())["items"][0]["results"]
    kpt_rows = _warnings([{"function": "virtualservice-gateway", "results": kpt_results}])
    assert kpt_rows == rows


def _reference_without_functions(app: Path) -> str:
    text = (app / "kustomization.yaml").read_text()
    plain = app.parent / "plain"
    plain.mkdir()
    for name in ("namespace.yaml", "vs.yaml"):
        (plain / name).write_text((app / name).read_text())
    (plain / "kustomization.yaml").write_text(text.split("transformers:")[0])
    return subprocess.run(["kubectl", "kustomize", str(plain)], capture_output=True, text=True, check=True).stdout


def test_validators_keep_the_per_call_route(tmp_path):
    app = _app(tmp_path, [LABELS], "validators:\n- policy.yaml\n")
    (app / "policy.yaml").write_text(_function("EnterprisePolicy", "allowedRegistries: [docker.io]\n"))
    assert "validators" in plan(app).fallback


def test_generators_keep_the_per_call_route_with_the_same_bytes(tmp_path):
    """kustomize hashes a generated ConfigMap's name after the transformers."""
    app = _app(tmp_path, [LABELS], "configMapGenerator:\n- name: settings\n  literals: [a=b]\n")
    proc = _build(app)
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert "per call:" in last and "configMapGenerator" in last, last
    assert proc.stdout == _reference(app).stdout


def test_a_foreign_function_last_keeps_the_per_call_route_and_fails_loudly(tmp_path):
    app = _app(tmp_path, [LABELS, _function("SetLabels", "labels: {a: b}\n", image="gcr.io/kpt-fn/set-labels:v0.1")])
    proc = _build(app)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "refusing to run gcr.io/kpt-fn/set-labels:v0.1" in proc.stderr
    assert "per call: no kfkrm functions at the end" in proc.stderr.splitlines()[-1]


def test_kustomize_errors_pass_through_verbatim(tmp_path):
    app = _app(tmp_path, [LABELS], resources=("namespace.yaml", "missing.yaml"))
    reference = _reference(app)
    assert reference.returncode != 0
    message = reference.stderr.split("run.go", 1)[-1]  # after klog's time and process id
    for args in ((), ("--per-call",)):
        proc = _build(app, *args)
        assert proc.returncode == 1 and proc.stdout == ""
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_function_error_fails_the_build_with_the_error_in_the_table(tmp_path):
    app = _app(tmp_path, [_function("PodTemplateLabels", "labels: {a: b}\nlables: {c: d}\n")])
    for args in ((), ("--per-call",)):
        proc = _build(app, *args)
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        assert "lables" in proc.stderr
        assert any(r[1] == "error" and r[0] == "pod-template-labels" for r in _table_rows(proc.stderr)), proc.stderr
        assert "1 error" in proc.stderr.splitlines()[-1]


def test_exec_functions_are_refused(tmp_path):
    exec_fn = LABELS.replace(
        "      container:\n        image: localhost/kfkrm:0.1.0\n", "      exec:\n        path: /bin/kfkrm\n"
    )
    app = _app(tmp_path, [exec_fn])
    proc = _build(app)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "exec functions" in proc.stderr and "fns/0.yaml" in proc.stderr


def test_bad_directory_is_one_line(tmp_path):
    proc = _build(tmp_path / "nowhere")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = _build(tmp_path)
    assert proc.returncode == 1 and "no kustomization.yaml" in proc.stderr


def test_progress_one_line_per_phase_on_a_terminal_only(tmp_path):
    import pty

    app = _app(tmp_path, [LABELS])
    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "kfkrm", "build", str(app)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=dict(os.environ, PYTHONPATH=str(REPO / "functions")),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    terminal = b"".join(chunks).decode()
    assert proc.returncode == 0
    phases = [line for line in terminal.splitlines() if line.startswith("kfkrm build: [")]
    assert len(phases) == 3 and "kustomize" in phases[0] and "in-process" in phases[1] and "done" in phases[2], terminal
    assert "kfkrm build: [" not in _build(app).stderr  # not on a pipe or a file
