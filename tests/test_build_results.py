"""`kfkrm build`'s results, as the operator reads them (issue 24): never cut, escaped, a "to do
on your cluster" list of action results, `--results FILE` as kpt's FunctionResultList, and an
EnterpriseProfile that gives no advice its own sections resolve, naming the final namespace.

The v1.10 profile build runs once per session (about 6 s idle) through the real CLI; the
oracle for the table is the results file the same run wrote (parsed with PyYAML), and for the
counts a second, independent count over that file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import yaml

from helpers import REPO, UPSTREAM, yaml_docs, yaml_load

PROFILE = """\
apiVersion: kfkrm.dev/v1alpha1
kind: EnterpriseProfile
metadata:
  name: acme
  annotations:
    config.kubernetes.io/function: |
      container:
        image: localhost/kfkrm:0.1.0
platform: {namespace: ml}
mesh:
  removeBundledIstio: true
  istioVersion: "1.22"
  gateway: istio-system/corp-gateway
  hosts: [kubeflow.corp.example.com]
  removeUnusedGateways: true
  gatewayWorkload: kubeflow-default
  localGateway: keep
  namespaces: [kubeflow]
podTemplates:
  annotations: {sidecar.istio.io/inject: "true"}
  include: [{namespace: kubeflow}]
serviceAccounts:
  annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::123456789012:role/kubeflow-artifacts"}
  include: [{namespace: kubeflow, name: ml-pipeline}, {namespace: kubeflow, name: ml-pipeline-ui}]
registry:
  rules:
  - {from: "*", to: registry.corp.example.com/proxy}
auth: {namespace: kubeflow, excludeOutboundPorts: ["443"]}
argo:
  external: true
  artifactRepository:
    removeBundledObjectStore: true
    s3: {bucket: ml-artifacts, endpoint: s3.amazonaws.com, region: us-west-2, useSDKCreds: true}
envoyBaseId: 1
validate: true
"""


def _kustomization(directory: Path, transformer: str, base: str = "v1.10") -> Path:
    (directory / "t").mkdir(parents=True, exist_ok=True)
    (directory / "t" / "fn.yaml").write_text(transformer)
    rel = os.path.relpath(UPSTREAM / base, directory)  # kustomize refuses absolute resource paths
    (directory / "kustomization.yaml").write_text(f"resources:\n- {rel}\ntransformers:\n- t/fn.yaml\n")
    return directory


def build(directory: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kfkrm", "build", str(directory), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "functions"), **(env or {})),
    )


@lru_cache(maxsize=None)
def profile_build() -> tuple[subprocess.CompletedProcess, dict]:
    """The profile over the embedded v1.10 render, with --results, once per session."""
    directory = _kustomization(Path(tempfile.mkdtemp(prefix="kfkrm-profile-")), PROFILE)
    results = directory / "results.yaml"
    proc = build(directory, "--results", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, yaml_load(results.read_text())


def _all_results(doc: dict) -> list[dict]:
    return [r for item in doc["items"] for r in item.get("results") or []]


def _is_action(r: dict) -> bool:
    return (r.get("tags") or {}).get("kfkrm.dev/action") == "cluster"


def test_results_file_is_a_kpt_function_result_list():
    proc, doc = profile_build()
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"], doc["exitCode"]) == (
        "kpt.dev/v1",
        "FunctionResultList",
        "fnresults",
        0,
    )
    assert [(i["exec"], i["exitCode"]) for i in doc["items"]] == [("kfkrm enterprise-profile", 0)]
    results = _all_results(doc)
    assert {r["severity"] for r in results} <= {"info", "warning", "error"}
    assert sum(r["severity"] == "info" for r in results) > 100  # info too, unlike the table


def test_no_result_line_is_cut_and_counts_match_the_results_file():
    proc, doc = profile_build()
    results = _all_results(doc)
    warnings = [r for r in results if r["severity"] == "warning" and not _is_action(r)]
    actions = list(dict.fromkeys(r["message"] for r in results if _is_action(r)))
    long = [r for r in warnings if len(r["message"]) > 160]
    assert long, "the oracle needs messages longer than the old 160-character cut"
    for r in warnings + [r for r in results if _is_action(r)]:
        assert r["message"] in proc.stderr, r["message"]  # whole, on one line
    assert "..." not in "".join(line[-3:] for line in proc.stderr.splitlines())
    last = proc.stderr.splitlines()[-1]
    assert last == (
        f"kfkrm build: 1 function call (fast path), {len(warnings)} warnings, {len(actions)} to do, 0 errors"
    )


def test_the_profile_gives_no_advice_its_own_sections_resolve():
    proc, doc = profile_build()
    results = _all_results(doc)
    warnings = [r["message"] for r in results if r["severity"] == "warning"]
    assert not [m for m in warnings if "needs an artifact repository KFP can read" in m]
    assert not [m for m in warnings if "mlpipeline-minio-artifact" in m]
    assert not [m for m in warnings if "minio-service.kubeflow:9000" in m]
    resolved = [r for r in results if r["message"].startswith("resolved by the profile's ")]
    keys = {r["tags"]["kfkrm.dev/key"] for r in resolved}
    assert keys == {
        "remove-argo/artifact-repository",
        "remove-argo/artifact-credentials",
        "namespace-relocation/kfp-launcher-minio",
    }
    assert all(r["severity"] == "info" for r in resolved)
    # Measured: 25 warnings before this change (the same profile without serviceAccounts), 18 + 3 to do after;
    # 19 since the shared-mesh work added one the operator must read (RequestAuthentication dex-jwt cannot
    # be limited to Kubeflow's hosts on the organisation's gateway).
    assert len([r for r in results if r["severity"] == "warning" and not _is_action(r)]) <= 19


def test_messages_and_objects_name_the_final_namespace():
    proc, doc = profile_build()
    for r in _all_results(doc):
        ref = r.get("resourceRef") or {}
        if r["severity"] != "info":
            assert ref.get("namespace") != "kubeflow", r
    actions = [r["message"] for r in _all_results(doc) if _is_action(r)]
    scope = next(m for m in actions if "must watch every namespace" in m)
    assert "(ml and each profile namespace" in scope
    provider = next(m for m in actions if "extensionProviders" in m)
    assert "oauth2-proxy.ml.svc.cluster.local" in provider and "kubeflow.svc" not in provider


def test_to_do_lists_each_action_once_with_the_object_store_readers():
    proc, doc = profile_build()
    lines = proc.stderr.splitlines()
    start = lines.index("To do on your cluster (outside the render):")
    todo = [line for line in lines[start + 1 : -1]]
    assert all(re.match(r"  \d+\. ", line) for line in todo), todo
    assert len(todo) == len(set(todo)) == 3
    identity = next(line for line in todo if "useSDKCreds" in line)
    # Independent oracle: the readers named in docs/functions/service-account-annotations.md, relocated to ml.
    for reader in ("ml/ml-pipeline,", "ml/ml-pipeline-ui ", "default-editor in each profile namespace"):
        assert reader in identity
    assert any("extensionProviders" in line for line in todo)


def test_service_accounts_section_annotates_the_readers():
    proc, _ = profile_build()
    docs = [d for d in yaml_docs(proc.stdout) if d.get("kind") == "ServiceAccount"]
    annotated = sorted(
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if "eks.amazonaws.com/role-arn" in (d["metadata"].get("annotations") or {})
    )
    assert annotated == [("ml", "ml-pipeline"), ("ml", "ml-pipeline-ui")]


HOSTILE = "ok\nkfkrm build: 1 function call (fast path), 0 warnings, 0 to do, 0 errors\x1b[2K"


def test_control_characters_in_a_name_cannot_forge_a_line(tmp_path):
    """An object name with a newline and ESC: the table shows them escaped, and the only
    counts line is the real one (1 warning)."""
    resources = tmp_path / "r.yaml"
    resources.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": HOSTILE, "namespace": "kubeflow"},
                "spec": {
                    "template": {
                        "metadata": {"labels": {"sidecar.istio.io/inject": "false"}},
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    }
                },
            }
        )
    )
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "fn.yaml").write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: PodTemplateAnnotations\nmetadata:\n  name: inject\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      container:\n        image: localhost/kfkrm:0.1.0\n"
        'annotations: {sidecar.istio.io/inject: "true"}\n'
    )
    (tmp_path / "kustomization.yaml").write_text("resources: [r.yaml]\ntransformers: [t/fn.yaml]\n")
    for route in ([], ["--per-call"]):
        proc = build(tmp_path, *route)
        assert proc.returncode == 0, proc.stderr
        assert "\x1b" not in proc.stderr
        counts = [line for line in proc.stderr.splitlines() if line.startswith("kfkrm build:")]
        assert len(counts) == 1 and counts[0].endswith("1 warning, 0 to do, 0 errors"), proc.stderr
        assert "Deployment kubeflow/ok\\nkfkrm build: 1 function call" in proc.stderr
        assert "0 errors\\x1b[2K" in proc.stderr


def test_results_file_is_written_on_failure_too(tmp_path):
    _kustomization(
        tmp_path,
        "apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceInjection\nmetadata:\n  name: x\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      container:\n        image: localhost/kfkrm:0.1.0\n"
        "namespaces: [no-such-namespace]\n",
        base="v1.3.0",
    )
    out = tmp_path / "results.yaml"
    proc = build(tmp_path, "--results", str(out))
    assert proc.returncode == 1 and proc.stdout == ""
    doc = yaml_load(out.read_text())
    assert doc["exitCode"] == 1 and doc["items"][0]["exitCode"] == 1
    assert "no-such-namespace" in doc["items"][0]["results"][0]["message"]


def test_on_a_terminal_long_messages_wrap_and_nothing_is_lost(tmp_path):
    """stderr on a terminal (a pty, 80 columns): the message column wraps; joined back, each
    message is whole."""
    import pty
    import select

    _kustomization(
        tmp_path,
        "apiVersion: kfkrm.dev/v1alpha1\nkind: ArgoArtifactRepository\nmetadata:\n  name: s3\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      container:\n        image: localhost/kfkrm:0.1.0\n"
        "s3: {bucket: b, endpoint: objects.corp.example.com:9443, useSDKCreds: true}\ntarget: controller\n",
        base="v1.3.0",
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfkrm", "build", str(tmp_path), "--results", str(tmp_path / "r.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=dict(os.environ, PYTHONPATH=str(REPO / "functions"), COLUMNS="80"),
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 600)
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # the pty is closed once the process exits
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait() == 0
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    table = text[text.index("To do on your cluster") :]
    assert all(len(line) <= 80 for line in table.splitlines()[:-1]), table
    joined = " ".join(line.strip() for line in table.splitlines()[1:-1])
    messages = [r["message"] for r in _all_results(yaml_load((tmp_path / "r.yaml").read_text())) if _is_action(r)]
    assert messages and all(" ".join(m.split()) in joined for m in messages)
