"""kfkrm under the real kpt: `kpt fn eval --exec` and `kpt fn render --allow-exec`.

kpt hands functions the user's file text as it is and writes the result back into the
user's files, so every YAML 1.1 trap and comment here must survive untouched.
"""

import subprocess

import pytest

from helpers import kpt_binary

TRAPS = """\
# The platform team's settings. Comments must survive.
apiVersion: v1
kind: ConfigMap
metadata:
  name: traps # inline comment
  namespace: kubeflow
data:
  enabled: on
  answer: yes
  mode: 0777
  date: 2021-01-29
  version: 1.10
  empty:
  quoted: "0777"
"""

DEPLOYMENT = """\
# Web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the name
  namespace: kubeflow
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web # selector label
    spec:
      containers:
        - name: web # wide sequence indent
          image: nginx
          args: ["--flag=on", "0777"]
          env:
            - name: FEATURE
              value: "off"
            - name: PERMS
              value: 0755
"""

KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: traps
pipeline:
  mutators:
    - exec: {kfkrm}
      configPath: labels.yaml
"""

LABELS = """\
apiVersion: kfkrm.dev/v1alpha1
kind: PodTemplateLabels
metadata:
  name: labels
  annotations:
    config.kubernetes.io/local-config: "true"
labels:
  team: ml
"""


@pytest.fixture
def package(tmp_path, kfkrm_exec):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "traps.yaml").write_text(TRAPS)
    (pkg / "deployment.yaml").write_text(DEPLOYMENT)
    (pkg / "labels.yaml").write_text(LABELS)
    (pkg / "Kptfile").write_text(KPTFILE.format(kfkrm=kfkrm_exec))
    return pkg


def _expected_deployment():
    return DEPLOYMENT.replace(
        "        app: web # selector label\n", "        app: web # selector label\n        team: ml\n"
    )


def test_kpt_fn_render_allow_exec_keeps_traps_and_comments(package):
    proc = subprocess.run([kpt_binary(), "fn", "render", str(package), "--allow-exec"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (package / "traps.yaml").read_text() == TRAPS
    assert (package / "labels.yaml").read_text() == LABELS
    rendered = (package / "deployment.yaml").read_text()
    assert rendered == _expected_deployment(), rendered


def test_kpt_fn_eval_exec_with_configmap_arguments(package, kfkrm_exec):
    (package / "Kptfile").unlink()
    (package / "labels.yaml").unlink()
    proc = subprocess.run(
        [kpt_binary(), "fn", "eval", str(package), "--exec", f"{kfkrm_exec} pod-template-labels", "--", "team=ml"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (package / "traps.yaml").read_text() == TRAPS
    assert (package / "deployment.yaml").read_text() == _expected_deployment()


def test_kpt_fn_eval_reports_config_errors(package, kfkrm_exec):
    (package / "Kptfile").unlink()
    bad = package / "bad.yaml"
    bad.write_text(LABELS.replace("labels:\n  team: ml", "lables:\n  team: ml"))
    proc = subprocess.run(
        [kpt_binary(), "fn", "eval", str(package), "--exec", str(kfkrm_exec), "--fn-config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "lables: unknown field" in proc.stderr
    assert (package / "deployment.yaml").read_text() == DEPLOYMENT
