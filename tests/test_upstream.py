"""The embedded upstream Kubeflow streams (upstream/kubeflow/<release>/): each file is what its
PROVENANCE says, the tests and the examples use them, and nothing in the examples needs
../shared or the network."""

import hashlib
import os
import re
import subprocess

import pytest
import yaml

from helpers import EMBEDDED_VERSIONS, EXAMPLES, KUBEFLOW, REPO, UPSTREAM, VERSIONS, rendered_path, yaml_docs

FIELDS = ("source", "ref", "license", "render", "kustomize", "file", "objects", "sha256")


def _provenance(version: str) -> dict:
    return yaml.safe_load((UPSTREAM / version / "PROVENANCE").read_text())


def test_the_supported_releases_are_embedded():
    assert {"v1.3.0", "v1.7.0", "v1.10"} <= set(EMBEDDED_VERSIONS)
    assert set(VERSIONS) <= set(EMBEDDED_VERSIONS)
    assert "Apache License" in (UPSTREAM / "LICENSE").read_text()


@pytest.mark.parametrize("version", EMBEDDED_VERSIONS)
def test_each_file_matches_its_provenance(version):
    prov = _provenance(version)
    assert set(FIELDS) <= set(prov), f"PROVENANCE of {version} lacks {set(FIELDS) - set(prov)}"
    assert prov["source"] == "https://github.com/kubeflow/manifests"
    assert prov["render"] == "kubectl kustomize example"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", prov["ref"]) and prov["ref"].startswith(version)
    data = (UPSTREAM / version / prov["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == prov["sha256"], (
        f"{version}: the file is not the one its PROVENANCE names"
    )
    # an independent count: documents with a kind, parsed by PyYAML
    kinds = [d for d in yaml_docs(data.decode()) if "kind" in d]
    assert len(kinds) == prov["objects"]


@pytest.mark.parametrize("version", EMBEDDED_VERSIONS)
def test_the_directory_renders_to_the_file_unchanged(version):
    """The embedded directory is a kustomization: as a base it gives upstream's objects, and
    rendered by itself upstream's very bytes."""
    proc = subprocess.run(["kubectl", "kustomize", str(UPSTREAM / version)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == rendered_path(version).read_text()


@pytest.mark.parametrize("version", [v for v in VERSIONS if v != "v1.7.0"])
def test_the_file_is_upstreams_render_when_the_source_tree_is_at_hand(version):
    """Where ../shared holds upstream's source tree at that tag, re-render it as PROVENANCE
    says and compare bytes (skips in a user's clone; the sha256 test above still holds)."""
    example = KUBEFLOW / version / "example"
    if not example.is_dir():
        pytest.skip(f"{example} is absent (a user's clone)")
    proc = subprocess.run(["kubectl", "kustomize", str(example)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert hashlib.sha256(proc.stdout.encode()).hexdigest() == _provenance(version)["sha256"]


def test_the_examples_need_neither_shared_nor_network():
    for kustomization in EXAMPLES.rglob("kustomization.yaml"):
        doc = yaml.safe_load(kustomization.read_text())
        for entry in doc.get("resources") or []:
            assert "://" not in entry and "shared" not in entry, f"{kustomization}: {entry}"
            target = (kustomization.parent / entry).resolve()
            assert target.exists() and REPO in target.parents, f"{kustomization}: {entry} is outside the repository"


def test_refresh_script_documents_that_it_needs_network():
    script = REPO / "scripts" / "refresh-upstream.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert "NEEDS NETWORK" in text and "kubectl kustomize example" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
