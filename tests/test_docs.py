"""One source for each function's docs: examples/<name>-simple/fn-config.yaml and the config model.

scripts/gen-docs.py derives fnconfigs/<name>.yaml, functions/kfkrm/fns/examples.py (what
`kfkrm NAME --help` prints, also in the installed package) and the generated blocks of
docs/functions/<name>.md (the example and the field table). Stale output fails here.
"""

import subprocess
import sys

from helpers import REPO
from kfkrm.fns.registry import FUNCTIONS


def test_generated_docs_fnconfigs_and_examples_module_are_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-docs.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_every_field_of_every_config_is_described_and_in_its_docs_page():
    for spec in FUNCTIONS:
        page = (REPO / "docs" / "functions" / f"{spec.name}.md").read_text()
        for name, info in spec.load().Config.model_fields.items():
            if name in ("apiVersion", "kind", "metadata"):
                continue
            assert info.description, f"{spec.kind}.{name} has no description"
            assert f"| `{info.alias or name}` |" in page, f"{spec.name}.md lacks field {name}"


def test_each_fnconfig_is_its_simple_example():
    for spec in FUNCTIONS:
        example = REPO / "examples" / f"{spec.name}-simple" / "fn-config.yaml"
        assert (REPO / "fnconfigs" / f"{spec.name}.yaml").read_bytes() == example.read_bytes(), spec.name
