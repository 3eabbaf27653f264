"""`kfkrm build`'s segmented fast path (issue 24): kfkrm functions alternating with kustomize
builtins in `transformers:` run segment by segment (kfkrm in-process, each builtin segment in
one more plain kustomize run) and give the bytes and warnings of the per-call route, which is
the oracle (kubectl kustomize calling the stand-in once per function).

The v1.10 pair (about 6 s segmented, 60-90 s per call) runs once per session.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

from helpers import yaml_docs
from kfkrm.cli.kustomize_plan import plan
from test_build import LABELS, PROXY, _app, _build, _reference, _table_rows
from test_build_results import PROFILE, _kustomization

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

# Patches the relocated ml-pipeline by its *new* namespace: only a transformer after the
# profile can (kustomize applies `patches:` before `transformers:`), see docs/build.md.
PATCH_AFTER_RELOCATION = """\
apiVersion: builtin
kind: PatchTransformer
metadata:
  name: ml-pipeline-replicas
target:
  kind: Deployment
  namespace: ml
  name: ml-pipeline
patch: |-
  - op: replace
    path: /spec/replicas
    value: 2
"""


@lru_cache(maxsize=None)
def _profile_then_patch():
    directory = _kustomization(Path(tempfile.mkdtemp(prefix="kfkrm-segments-")), PROFILE)
    (directory / "t" / "patch.yaml").write_text(PATCH_AFTER_RELOCATION)
    with open(directory / "kustomization.yaml", "a") as f:
        f.write("- t/patch.yaml\n")
    return directory, _build(directory), _build(directory, "--per-call")


def _replicas(stream: str, namespace: str, name: str):
    for doc in yaml_docs(stream):
        meta = doc.get("metadata") or {}
        if doc["kind"] == "Deployment" and (meta.get("namespace"), meta.get("name")) == (namespace, name):
            return doc["spec"].get("replicas")
    raise AssertionError(f"no Deployment {namespace}/{name}")


def test_v1_10_profile_then_builtin_patch_equals_per_call():
    directory, segmented, per_call = _profile_then_patch()
    p = plan(directory)
    assert p.fast and [bool(s.calls) for s in p.stages] == [True, False], p.fallback
    assert p.stages[1].kinds == {"Deployment"}
    assert segmented.returncode == 0, segmented.stderr[-3000:]
    assert per_call.returncode == 0, per_call.stderr[-3000:]
    assert "(fast path, 2 kustomize stages)" in segmented.stderr.splitlines()[-1]
    assert "(per call: --per-call)" in per_call.stderr.splitlines()[-1]
    assert segmented.stdout == per_call.stdout
    rows = _table_rows(segmented.stderr)
    assert rows and rows == _table_rows(per_call.stderr)
    # the patch found the relocated object (an independent read of the output)
    assert _replicas(segmented.stdout, "ml", "ml-pipeline") == 2


PATCH_WEB = """\
apiVersion: builtin
kind: PatchTransformer
metadata: {name: sidecar}
target: {kind: Deployment}
patch: |-
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: any, labels: {patched: "yes"}}
  spec:
    template:
      spec:
        containers:
        - name: side
          image: docker.io/library/busybox:1
"""


def test_kfkrm_builtin_kfkrm_equals_per_call_and_kustomize(tmp_path):
    """ImageProxy, a builtin patch adding a docker.io container, then PodTemplateLabels: the
    patch runs after the proxy (its image stays on docker.io) and before the labels."""
    app = _app(tmp_path, [PROXY, PATCH_WEB, LABELS])
    p = plan(app)
    assert p.fast and [(s.entries, [c.config["kind"] for c in s.calls]) for s in p.stages] == [
        ([], ["ImageProxy"]),
        (["fns/1.yaml"], []),
        ([], ["PodTemplateLabels"]),
    ]
    assert p.stages[1].kinds == {"Deployment"}  # only the Deployments go through kustomize
    segmented, per_call = _build(app), _build(app, "--per-call")
    assert segmented.returncode == per_call.returncode == 0, segmented.stderr + per_call.stderr
    assert segmented.stdout == per_call.stdout == _reference(app).stdout
    assert "(fast path, 2 kustomize stages)" in segmented.stderr.splitlines()[-1]
    assert "image: docker.io/library/busybox:1" in segmented.stdout
    assert "registry.corp.example.com/dockerhub/library/nginx:1.25" in segmented.stdout
    assert "patched: \"yes\"" in segmented.stdout and "corp.example.com/team: ml" in segmented.stdout


def test_top_level_fields_run_once_and_leading_builtins_stay_in_the_first_render(tmp_path):
    """namePrefix (a top-level field) is applied once, in the first render: repeated in the
    builtin stage it would give a-a-web. A builtin before the first kfkrm entry stays there."""
    app = _app(
        tmp_path,
        [
            PATCH_WEB,
            PROXY,
            PATCH_WEB.replace("name: sidecar", "name: again").replace("{kind: Deployment}", "{name: a-web}"),
            LABELS,
        ],
        "namePrefix: a-\n",
    )
    p = plan(app)
    assert p.fast and [s.entries for s in p.stages] == [[], ["fns/2.yaml"], []]
    assert p.stages[1].kinds is None  # a target without a kind: the whole stream goes through kustomize
    assert p.text.count("fns/") == 1  # the first render keeps fns/0.yaml
    segmented, per_call = _build(app), _build(app, "--per-call")
    assert segmented.returncode == per_call.returncode == 0, segmented.stderr + per_call.stderr
    assert segmented.stdout == per_call.stdout
    assert "name: a-web\n" in segmented.stdout and "a-a-" not in segmented.stdout


def test_a_plugin_after_the_kfkrm_functions_keeps_the_per_call_route(tmp_path):
    """Only `apiVersion: builtin` files of kustomize's builtin kinds are segmented."""
    other = PATCH_WEB.replace("apiVersion: builtin", "apiVersion: example.com/v1")
    app = _app(tmp_path, [PROXY, other])
    assert "no kfkrm functions at the end" in plan(app).fallback
