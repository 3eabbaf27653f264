"""Idempotence: the EnterpriseProfile and RemoveArgo on their own output.

A GitOps pipeline re-renders what it already adapted, and a platform team re-runs a
profile after a change: a second run must exit 0, say that there is nothing (left) to
remove, and give back every item byte for byte. Checked on all three renders with the
field report's profile, every section set (removals, relocation, rewrites, enrolment,
the derived policy).
"""

from __future__ import annotations

import pytest
import yaml

from helpers import REPO, rendered_items_text, resource_list, run_function
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import ResourceList

RENDERS = ("v1.3.0", "v1.7.0", "v1.10")
# The Istio each render bundles: its Istio config then passes the derived policy's istio rule.
BUNDLED_ISTIO = {"v1.3.0": "1.9", "v1.7.0": "1.16", "v1.10": "1.26"}
PROFILE = (REPO / "fnconfigs" / "enterprise-profile.yaml").read_text()


def _items(stdout: str) -> str:
    return "".join(item.raw for item in ResourceList.parse(stdout).items)


def _results(stdout: str) -> list:
    at = stdout.rfind("\nresults:\n")
    return yaml.load(stdout[at:], Loader=yamlio.Loader)["results"] if at >= 0 else []


def twice(name: str, version: str, config: str):
    first = run_function(name, resource_list(rendered_items_text(version), config))
    assert first.exit_code == 0, first.stderr
    second = run_function(name, resource_list(_items(first.stdout), config))
    return first, second


@pytest.mark.parametrize("version", RENDERS)
def test_the_profile_on_its_own_output_changes_nothing(version):
    profile = PROFILE.replace('istioVersion: "1.6"', f'istioVersion: "{BUNDLED_ISTIO[version]}"')
    assert "validate: true" in profile and "external: true" in profile and "removeBundledIstio: true" in profile
    first, second = twice("enterprise-profile", version, profile)
    assert second.exit_code == 0, second.stderr
    assert _items(second.stdout) == _items(first.stdout)
    assert _items(first.stdout) != rendered_items_text(version)  # the first run did adapt
    nothing = [r for r in _results(second.stdout) if r["message"].startswith("nothing to remove")]
    assert {r["severity"] for r in nothing} == {"info"} and len(nothing) == 2, nothing  # remove-istio, remove-argo
    assert "remove-argo: nothing to remove" in second.stderr
    assert not [r for r in _results(second.stdout) if r["severity"] == "error"]
    # nothing new to worry about: every warning of the second run was a warning of the first
    first_warnings = {_warning(r) for r in _results(first.stdout) if r["severity"] == "warning"}
    assert [
        r["message"]
        for r in _results(second.stdout)
        if r["severity"] == "warning" and _warning(r) not in first_warnings
    ] == []


def _warning(result: dict) -> tuple:
    ref = result.get("resourceRef") or {}
    return result["message"], ref.get("kind"), ref.get("name")


@pytest.mark.parametrize("version", RENDERS)
def test_remove_argo_on_its_own_output_changes_nothing(version):
    first, second = twice("remove-argo", version, "apiVersion: kfkrm.dev/v1alpha1\nkind: RemoveArgo\n")
    assert second.exit_code == 0, second.stderr
    assert _items(second.stdout) == _items(first.stdout)
    assert [r["severity"] for r in _results(second.stdout) if r["message"].startswith("nothing to remove")] == ["info"]
    assert second.stderr.startswith("kfkrm remove-argo: nothing to remove")


def test_remove_argo_without_argo_or_pipelines_is_still_an_error():
    """Not Kubeflow at all (no Pipelines, no Argo): the wrong input, as before."""
    sa = "- apiVersion: v1\n  kind: ServiceAccount\n  metadata: {name: a, namespace: ml}\n"
    out = run_function("remove-argo", resource_list(sa, "apiVersion: kfkrm.dev/v1alpha1\nkind: RemoveArgo\n"))
    assert out.exit_code == 1 and "no Kubeflow Pipelines" in out.stderr
