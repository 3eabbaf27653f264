"""The `kfkrm` command as a new user meets it: help for everything, "did you mean", a closed
pipe, a profile accepted where a policy is expected."""

import json
import os
import subprocess
import sys

from helpers import EXAMPLES, REPO, rendered_path, run_cli
from kfkrm.fns.registry import BY_KIND, COMMANDS


def test_help_describes_every_command():
    proc = run_cli(["--help"], "")
    assert proc.returncode == 0
    commands = proc.stdout.split("Commands:", 1)[1].split("\n\n")[0].splitlines()
    described = {line.split()[0]: line.split(None, 1)[1:] for line in commands if line.strip()}
    assert set(described) == set(COMMANDS) | {"schema"}
    assert all(described[name] and len(described[name][0]) > 10 for name in described), described


def test_closed_pipe_is_one_line_and_not_a_success():
    """All or nothing on stdout (issue 25): a reader that stops early is one line, no traceback,
    and a non-zero exit (the shell's `echo $?` of the first command of the pipeline)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
    proc = subprocess.run(
        f"{sys.executable} -m kfkrm schema | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.stdout == "{\n"
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "kfkrm: error: cannot write the output (the reader closed the pipe); it is incomplete\n"


def test_did_you_mean_a_function_a_kind_and_a_field():
    proc = run_cli(["pod-template-label"], "")
    assert proc.returncode == 2 and "did you mean pod-template-labels?" in proc.stderr
    rl = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n"
        "  apiVersion: kfkrm.dev/v1alpha1\n  kind: {kind}\n  metadata: {{name: x}}\n{body}"
    )
    proc = run_cli([], rl.format(kind="PodTemplateLabel", body=""))
    assert proc.returncode == 1 and "did you mean PodTemplateLabels?" in proc.stderr
    # a misspelled field at the top of a config, and inside a section of the profile
    proc = run_cli([], rl.format(kind="PodTemplateLabels", body="  labels: {a: b}\n  exlude: []\n"))
    assert proc.returncode == 1 and "exlude: unknown field (did you mean exclude?)" in proc.stderr, proc.stderr
    proc = run_cli([], rl.format(kind="EnterpriseProfile", body="  mesh: {gatway: istio-system/gw}\n"))
    assert proc.returncode == 1 and "mesh.gatway: unknown field (did you mean gateway?)" in proc.stderr, proc.stderr
    # nothing close: no suggestion
    proc = run_cli([], rl.format(kind="PodTemplateLabels", body="  labels: {a: b}\n  zzzzzz: 1\n"))
    assert "zzzzzz: unknown field" in proc.stderr and "did you mean" not in proc.stderr
    assert set(BY_KIND)  # the kinds the suggestions come from


def test_validate_accepts_a_profile_as_its_derived_policy():
    """v1.3 prod-profile's settings derive exactly v1.3 prod's hand-written policy."""
    rendered = str(rendered_path("v1.3.0"))
    profile = EXAMPLES / "v1.3/envs/prod-profile/transformers/enterprise-profile.yaml"
    by_profile = run_cli(["validate", rendered, "--config", str(profile), "--format", "json"], "")
    by_policy = run_cli(
        ["validate", rendered, "--config", str(EXAMPLES / "v1.3/envs/prod/policy.yaml"), "--format", "json"], ""
    )
    assert by_profile.returncode == by_policy.returncode == 1, by_profile.stderr
    assert json.loads(by_profile.stdout)["violations"] == json.loads(by_policy.stdout)["violations"]
    assert json.loads(by_profile.stdout)["counts"]["auth"] > 0


def test_validate_with_a_profile_needs_a_baseline_for_integrity():
    """The profile's integrity rule reports what the adaptation broke: without the unadapted
    render there is nothing to compare with, so it is off and stderr says why."""
    rendered = str(rendered_path("v1.3.0"))
    profile = EXAMPLES / "v1.3/envs/prod-profile/transformers/enterprise-profile.yaml"
    proc = run_cli(["validate", rendered, "--config", str(profile), "--format", "json"], "")
    assert "integrity not checked" in proc.stderr and "--baseline" in proc.stderr
    assert "integrity" not in json.loads(proc.stdout)["counts"]
    with_baseline = run_cli(["validate", rendered, "--config", str(profile), "--baseline", rendered], "")
    assert "integrity not checked" not in with_baseline.stderr
