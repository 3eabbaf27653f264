"""service-account-annotations (workload identity) on the real renders, and the object-store
readers it is meant for (docs/functions/service-account-annotations.md)."""

from __future__ import annotations

import pytest

from helpers import (
    EMBEDDED_VERSIONS,
    items_block,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_cli,
    run_function,
    run_rendered,
    yaml_load,
)
from kfkrm.runtime.resourcelist import items_from_stream

ROLE = "eks.amazonaws.com/role-arn"
CONFIG = f"""\
apiVersion: kfkrm.dev/v1alpha1
kind: ServiceAccountAnnotations
metadata: {{name: s3}}
annotations: {{{ROLE}: "arn:aws:iam::123456789012:role/kfp"}}
include:
- {{kind: ServiceAccount, namespace: kubeflow, name: ml-pipeline}}
- {{kind: ServiceAccount, namespace: kubeflow, name: ml-pipeline-ui}}
"""

# Hand-checked in each release's render (the docs' table): KFP's API server and UI carry the
# store's address and keys; KFP runs workflows (and sync.py the artifact server) as default-editor.
READERS = ["kubeflow/ml-pipeline", "kubeflow/ml-pipeline-ui", "<each profile namespace>/default-editor"]


@pytest.mark.parametrize("version", EMBEDDED_VERSIONS)
def test_the_object_store_readers_of_each_release(version):
    from kfkrm.domain.workload_identity import object_store_readers

    readers = object_store_readers(items_from_stream(rendered_text(version)))
    assert [r.ref() for r in readers] == READERS


def test_annotates_exactly_the_selected_accounts_and_nothing_else():
    from kfkrm.runtime.resourcelist import ResourceList

    text_in = resource_list(rendered_items_text("v1.10"), CONFIG)
    out = run_function("service-account-annotations", text_in)
    assert out.exit_code == 0, out.stderr
    before = ResourceList.parse(text_in).items
    after = ResourceList.parse(out.stdout).items
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after) if a.raw != b.raw]
    assert [(a.kind, a.namespace, a.name) for _, a in changed] == [
        ("ServiceAccount", "kubeflow", "ml-pipeline"),
        ("ServiceAccount", "kubeflow", "ml-pipeline-ui"),
    ]
    for b, a in changed:  # read back by PyYAML, not by kfkrm
        old, new = yaml_load(b.raw[2:].replace("\n  ", "\n")), yaml_load(a.text(0)[2:].replace("\n  ", "\n"))
        assert new["metadata"]["annotations"] == {
            **(old["metadata"].get("annotations") or {}),
            ROLE: "arn:aws:iam::123456789012:role/kfp",
        }
        assert {k: v for k, v in new.items() if k != "metadata"} == {k: v for k, v in old.items() if k != "metadata"}
    infos = [r for r in load_output_results(out.stdout) if r["severity"] == "info"]
    assert [(r["resourceRef"]["name"], r["field"]["path"]) for r in infos] == [
        ("ml-pipeline", f'metadata.annotations["{ROLE}"]'),
        ("ml-pipeline-ui", f'metadata.annotations["{ROLE}"]'),
    ]
    # idempotence: a second run changes nothing and reports no change
    again = run_function("service-account-annotations", out.stdout)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.split("\nresults:\n")[0].rstrip() == out.stdout.split("\nresults:\n")[0].rstrip()
    assert "annotated 0 ServiceAccounts (2 of 2 selected already up to date)" in again.stderr


def load_output_results(stdout: str) -> list:
    return yaml_load(stdout[stdout.rfind("\nresults:\n") :])["results"]


def test_an_include_term_that_selects_nothing_is_an_error():
    config = CONFIG.replace("name: ml-pipeline-ui}", "name: ml-pipelin-ui}")
    text = resource_list(
        items_block("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ml-pipeline, namespace: kubeflow}\n"),
        config,
    )
    proc = run_cli(["service-account-annotations"], text)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "include[1]" in proc.stderr and "selects no ServiceAccount" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_annotation_key_is_a_config_error():
    config = CONFIG.replace(ROLE, "not a key!")
    proc = run_cli(["service-account-annotations"], resource_list("", config).replace("items:\n", "items: []\n"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "annotations" in proc.stderr


def test_profile_section_errors_name_the_profile_path():
    profile = (
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterpriseProfile\nmetadata: {name: p}\n"
        "serviceAccounts: {annotations: {a/b: c}, include: [{namespace: nowhere}]}\n"
    )
    out = run_rendered("enterprise-profile", "v1.3.0", profile)
    assert out.exit_code == 1
    assert "step service-account-annotations (profile serviceAccounts)" in out.stderr
    assert "include[0]" in out.stderr
