"""`kfkrm validate` refuses input that is not a render (issue 24): a Kustomization, a Kptfile,
a directory, kfkrm configs, a stream with no workload; the same for `--baseline`. Each gives
one line saying what the input is and what to run instead, exit 2 (could not validate; 1
means violations). `--config` takes a multi-document file with exactly one policy config."""

from __future__ import annotations

import pytest

from helpers import EXAMPLES, REPO, rendered_path, run_cli

PROD = EXAMPLES / "v1.10" / "envs" / "prod"
POLICY = str(PROD / "policy.yaml")


def _one_line_refusal(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("kfkrm validate: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "target, needles",
    [
        (str(PROD / "kustomization.yaml"), ("is a Kustomization, not a render", f"kfkrm build {PROD} |")),
        (str(PROD), ("is a directory, not a render", f"kfkrm build {PROD} |")),
        (POLICY, ("holds kfkrm configs only", "--config")),
        (str(REPO / "kpt-examples" / "image" / "Kptfile"), ("is a Kptfile, not a render", "kpt fn render")),
    ],
    ids=["kustomization", "directory", "policy", "kptfile"],
)
def test_a_file_that_is_not_a_render_is_refused(target, needles):
    _one_line_refusal(run_cli(["validate", target, "--config", POLICY], ""), *needles)


def test_a_stream_with_no_workload_is_refused():
    stream = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kubeflow}\n"
    _one_line_refusal(
        run_cli(["validate", "-", "--config", POLICY], stream), "holds 1 object and no workload", "kfkrm build DIR"
    )


@pytest.mark.parametrize("baseline", [str(PROD / "kustomization.yaml"), str(PROD)], ids=["kustomization", "directory"])
def test_a_baseline_that_is_not_a_render_is_refused(baseline):
    proc = run_cli(["validate", str(rendered_path("v1.10")), "--config", POLICY, "--baseline", baseline], "")
    _one_line_refusal(proc, f"--baseline {baseline}", "not a render")


def test_a_one_object_baseline_is_refused(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: kubeflow}\n")
    proc = run_cli(["validate", str(rendered_path("v1.10")), "--config", POLICY, "--baseline", str(one)], "")
    _one_line_refusal(proc, "--baseline", "holds 1 object and no workload")


def test_multi_document_config_with_one_policy(tmp_path):
    config = tmp_path / "both.yaml"
    config.write_text((PROD / "kustomization.yaml").read_text() + "\n---\n" + (PROD / "policy.yaml").read_text())
    single = run_cli(["validate", str(rendered_path("v1.10")), "--config", POLICY, "--format", "json"], "")
    multi = run_cli(["validate", str(rendered_path("v1.10")), "--config", str(config), "--format", "json"], "")
    assert single.returncode == multi.returncode == 1  # upstream itself violates prod's rules
    assert multi.stdout == single.stdout
    twice = tmp_path / "twice.yaml"
    twice.write_text((PROD / "policy.yaml").read_text() + "---\n" + (PROD / "policy.yaml").read_text())
    _one_line_refusal(
        run_cli(["validate", str(rendered_path("v1.10")), "--config", str(twice)], ""),
        "holds 2 documents and 2 kfkrm policy configs",
    )


def test_validate_table_escapes_control_characters(tmp_path):
    """A Deployment named with a newline and ESC cannot forge a "no violations" line."""
    import yaml

    name = "web\np: no violations in 1 resources\x1b[2K"
    stream = yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "kubeflow"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "docker.io/nginx:1.25"}]}}},
        }
    )
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\n"
        "allowedRegistries: [registry.corp.example.com]\n"
    )
    proc = run_cli(["validate", "-", "--config", str(policy)], stream)
    assert proc.returncode == 1, proc.stderr
    assert "\x1b" not in proc.stdout
    assert [line for line in proc.stdout.splitlines() if line.startswith("p: ")] == ["p: 1 violations in 1 resources"]
    assert "Deployment kubeflow/web\\np: no violations in 1 resources\\x1b[2K" in proc.stdout
