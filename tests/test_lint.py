"""ruff (lint and format, configured in pyproject.toml) over the tree and mypy over the runtime pass.

Both are pinned in requirements-test.lock, so scripts/test.sh and CI run them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CI, REPO, skip_or_fail


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        skip_or_fail(f"{name} is not installed (scripts/bootstrap.sh --test installs it)", CI)
    return found


def test_ruff_check_passes():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_leaves_the_tree_as_it_is():
    proc = subprocess.run(
        [_tool("ruff"), "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_passes_on_the_runtime():
    proc = subprocess.run(
        [_tool("mypy"), "--no-incremental", "--cache-dir", "/dev/null"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_the_tools_are_the_pinned_ones(tool):
    pinned = next(
        line.split("==")[1].split()[0]
        for line in (REPO / "requirements-test.lock").read_text().splitlines()
        if line.lower().startswith(tool + "==")
    )
    proc = subprocess.run([_tool(tool), "--version"], capture_output=True, text=True)
    assert pinned in proc.stdout, (tool, pinned, proc.stdout)
