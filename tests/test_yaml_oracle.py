"""The tests' YAML reader (tests/yaml_oracle.py) reads a text exactly as PyYAML reads it whole:
cutting a stream into documents and a ResourceList into items never changes an object, and
a cut that would (a quoted scalar running over a column-0 line) falls back to the whole read."""

from __future__ import annotations

import pytest
import yaml

import yaml_oracle
from helpers import EMBEDDED_VERSIONS, rendered_items_text, rendered_text, resource_list
from kfkrm.runtime import yamlio

PAD = "# padding so the text is long enough to be cut\n" * 2000


@pytest.mark.parametrize("version", EMBEDDED_VERSIONS)
def test_a_real_render_reads_as_pyyaml_reads_it_whole(version):
    text = rendered_text(version)
    assert yaml_oracle.load_all(text) == [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]


@pytest.mark.parametrize("version", EMBEDDED_VERSIONS)
def test_a_real_resource_list_reads_as_pyyaml_reads_it_whole_with_either_loader(version):
    text = resource_list(rendered_items_text(version), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    text += "results:\n- message: m\n  severity: info\n"
    for loader in (yaml.CSafeLoader, yamlio.Loader):
        whole = yaml.load(text, Loader=loader)
        assert yaml_oracle.load(text, loader) == whole
        assert len(whole["items"]) > 100 and whole["results"] == [{"message": "m", "severity": "info"}]


# A double-quoted scalar whose continuation line starts in column 0 with `- `: libyaml reads
# it as part of the string, so cutting there would change the object.
QUOTED_ACROSS = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: q}\ndata:\n  k: "first\n- second\nthird"\n'


def test_a_quoted_scalar_over_a_column_0_item_line_is_read_whole():
    items = "".join("- " + line if i == 0 else "  " + line for i, line in enumerate(QUOTED_ACROSS.splitlines(True)))
    text = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
        + items.replace("  - second", "- second")
        + "- {apiVersion: v1, kind: ConfigMap, metadata: {name: z}}\n"
        + PAD
    )
    whole = yaml.load(text, Loader=yaml.CSafeLoader)
    assert whole["items"][0]["data"]["k"] == "first - second third"  # libyaml's reading
    assert yaml_oracle.load(text) == whole


def test_a_quoted_scalar_over_a_column_0_document_line_is_an_error_as_read_whole():
    """libyaml refuses `---` in column 0 inside a quoted scalar, so a cut there cannot change
    an object: the cut read falls back to the whole read and fails as it does."""
    quoted = QUOTED_ACROSS.replace("- second", "---")
    text = quoted + PAD + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n"
    with pytest.raises(yaml.YAMLError, match="document indicator"):
        list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    with pytest.raises(yaml.YAMLError, match="document indicator"):
        yaml_oracle.load_all(text)


def test_each_reader_gets_its_own_copy():
    text = rendered_text("v1.3.0")
    first = yaml_oracle.load_all(text)
    first[0]["kind"] = "Changed"
    first[1]["metadata"].clear()
    again = yaml_oracle.load_all(text)
    assert again[0]["kind"] != "Changed" and again[1]["metadata"]
