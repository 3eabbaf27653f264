"""The tests' disk cache of renders (tests/render_cache.py): a changed input never reuses a
render, a render is computed once for every process, a failure is never stored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import render_cache


def _tree(root):
    for relative in render_cache.INPUTS:
        path = root / relative
        if relative.endswith(".toml"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("[project]\n")
        else:
            (path / "sub").mkdir(parents=True)
            (path / "sub" / "a.txt").write_text("a\n")
    return root


def test_every_input_changes_the_fingerprint(tmp_path):
    repo = _tree(tmp_path / "repo")
    seen = {render_cache.fingerprint_of(repo)}
    for relative in render_cache.INPUTS:
        path = repo / relative
        target = path if path.is_file() else path / "sub" / "a.txt"
        target.write_text(target.read_text() + "changed\n")
        seen.add(render_cache.fingerprint_of(repo))
        new = (path if path.is_dir() else path.parent) / "new-file"
        if path.is_dir():
            new.write_text("")
            seen.add(render_cache.fingerprint_of(repo))
    dirs = [p for p in render_cache.INPUTS if (repo / p).is_dir()]
    assert len(seen) == 1 + len(render_cache.INPUTS) + len(dirs)
    # a renamed file is another input
    shutil.move(repo / dirs[0] / "sub" / "a.txt", repo / dirs[0] / "sub" / "b.txt")
    assert render_cache.fingerprint_of(repo) not in seen
    # bytecode is not
    before = render_cache.fingerprint_of(repo)
    (repo / dirs[0] / "__pycache__").mkdir()
    (repo / dirs[0] / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (repo / dirs[0] / "sub" / "m.pyc").write_bytes(b"\0")
    assert render_cache.fingerprint_of(repo) == before


def test_the_real_fingerprint_covers_kfkrm_and_the_examples():
    assert {"functions/kfkrm", "kustomization-examples", "upstream"} <= set(render_cache.INPUTS)
    assert len(render_cache.fingerprint()) == 20


def test_computed_once_across_processes_and_failures_not_stored(tmp_path):
    """Two processes ask for the same entry at once: one computes, the other waits and reads."""
    directory = tmp_path / "fp"
    directory.mkdir()
    calls = tmp_path / "calls"
    script = f"""
import sys, time
sys.path.insert(0, {str(render_cache.REPO / "tests")!r})
import render_cache
from pathlib import Path
def compute(workdir):
    with open({str(calls)!r}, "a") as f:
        f.write("x")
    time.sleep(1)
    return {{"value": 42, "workdir": str(workdir)}}
print(render_cache.cached("entry", compute, ok=lambda v: True, directory=Path({str(directory)!r}))["value"])
"""
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    assert [p.communicate()[0].strip() for p in procs] == ["42", "42"]
    assert calls.read_text() == "x"
    assert json.loads((directory / "entry.json").read_text())["value"] == 42

    failures = []

    def failing(workdir):
        failures.append(workdir)
        return {"returncode": 1}

    for _ in range(2):
        assert render_cache.cached("bad", failing, ok=lambda v: v["returncode"] == 0, directory=directory) == {
            "returncode": 1
        }
    assert len(failures) == 2 and not (directory / "bad.json").exists()
