"""The `kfkrm` command's help and schema, and the example configs in fnconfigs/."""

import json
import re
from pathlib import Path

import pytest

from helpers import REPO, run_cli, yamlio
from kfkrm.fns.registry import FUNCTIONS
from kfkrm.runtime.config import parse_config

FNCONFIGS = sorted((REPO / "fnconfigs").glob("*.yaml"))


def test_help_lists_every_function():
    proc = run_cli(["--help"], "")
    assert proc.returncode == 0
    for spec in FUNCTIONS:
        assert f"  {spec.name} " in proc.stdout and spec.kind in proc.stdout


@pytest.mark.parametrize("name", [f.name for f in FUNCTIONS])
def test_function_help_shows_fields_and_an_example_that_validates(name):
    proc = run_cli([name, "--help"], "")
    assert proc.returncode == 0, proc.stderr
    assert "Example:" in proc.stdout
    example = proc.stdout.split("Example:\n", 1)[1]
    spec = next(f for f in FUNCTIONS if f.name == name)
    config = parse_config(spec.load().Config, yamlio.load(example), name)
    assert config.kind == spec.kind
    # the one documented example (examples/<name>-simple/fn-config.yaml), and no module docstring
    assert example.strip() == (REPO / "examples" / f"{name}-simple" / "fn-config.yaml").read_text().strip()
    assert (spec.load().__doc__ or "").strip().splitlines()[0] not in proc.stdout
    assert f"docs/functions/{name}.md" in proc.stdout


def test_schema_is_json_schema_for_every_kind():
    proc = run_cli(["schema"], "")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]}
    assert kinds == {f.kind for f in FUNCTIONS}
    for spec in FUNCTIONS:
        one = schema["$defs"][spec.kind]
        assert one["properties"]["kind"] == {"const": spec.kind}
        assert one.get("additionalProperties") is False  # unknown fields are rejected
    refs = re.findall(r'"#/\$defs/([^"]+)"', proc.stdout)
    assert refs and all(ref in schema["$defs"] for ref in refs)


@pytest.mark.parametrize("path", FNCONFIGS, ids=[p.name for p in FNCONFIGS])
def test_every_fnconfig_validates_and_is_named_after_its_function(path: Path):
    doc = yamlio.load(path.read_text())
    spec = next(f for f in FUNCTIONS if f.kind == doc["kind"])
    assert path.stem == spec.name
    parse_config(spec.load().Config, doc, spec.name)
    assert "#" in path.read_text()  # documented


def test_every_function_has_an_fnconfig_and_a_doc_page():
    for spec in FUNCTIONS:
        assert (REPO / "fnconfigs" / f"{spec.name}.yaml").exists(), spec.name
        assert (REPO / "docs" / "functions" / f"{spec.name}.md").exists(), spec.name


def test_unknown_command_and_stray_arguments_are_usage_errors():
    assert run_cli(["no-such-function"], "").returncode == 2
    proc = run_cli(["pod-template-labels", "extra"], "")
    assert proc.returncode == 2 and "unexpected arguments" in proc.stderr
