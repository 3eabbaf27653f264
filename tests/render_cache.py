"""Expensive artifacts many test files read (renders of the examples), computed once per
run for every pytest-xdist worker, on disk.

An entry lives in `.cache/test-renders/<fingerprint>/<name>.json`. The fingerprint hashes
every input a render can depend on: kfkrm's source (functions/, pyproject.toml), the
kustomization and kpt examples, the embedded upstream renders, this file and helpers.py
(how a render is run), the Python interpreter, and the identity of the tools on PATH
(kubectl, kustomize, kpt: resolved path, size, modification time) with the environment
variables kfkrm reads for them. A change to any of them gives a new fingerprint, so a
render made from other code is never reused; the controller removes other fingerprints'
folders at the start of a run (conftest.py). Only successful computations are stored: a
failure is recomputed by whoever asks next, and reported there.

An entry is computed under an exclusive lock on its own lock file (fcntl), so two workers
asking for the same render wait for one computation. `KFKRM_TEST_CACHE=off` turns the disk
cache off (each process computes what it needs, as before); `KFKRM_TEST_CACHE=DIR` moves it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
_SETTING = os.environ.get("KFKRM_TEST_CACHE", "")
ENABLED = _SETTING != "off"
ROOT = Path(_SETTING) if _SETTING not in ("", "off") else REPO / ".cache" / "test-renders"

# Every folder or file whose content a cached render can depend on (relative to REPO).
INPUTS = ("functions/kfkrm", "pyproject.toml", "kustomization-examples", "kpt-examples", "upstream", "argocd")
TOOLS = ("kubectl", "kustomize", "kpt")
ENVIRONMENT = ("KFKRM_KUSTOMIZE", "KFKRM_DOCKER_IMAGES", "KUBECTL_KUSTOMIZE")


def _files(root: Path):
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if not name.endswith(".pyc"):
                yield Path(dirpath) / name


@lru_cache(maxsize=None)
def fingerprint() -> str:
    """A hash of every input named above (computed once per process, about 0.1 s)."""
    here = Path(__file__).resolve()
    return fingerprint_of(REPO, extra=(here, here.parent / "helpers.py"))


def fingerprint_of(repo: Path, extra=()) -> str:
    h = hashlib.sha256()
    for root in [repo / p for p in INPUTS] + list(extra):
        for path in _files(root) if root.exists() else ():
            h.update(str(path.relative_to(repo) if path.is_relative_to(repo) else path).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    h.update(f"{sys.executable}\0{sys.version}\0".encode())
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            real = Path(found).resolve()
            st = real.stat()
            h.update(f"{tool}={real}:{st.st_size}:{st.st_mtime_ns}\0".encode())
        else:
            h.update(f"{tool}=absent\0".encode())
    for var in ENVIRONMENT:
        h.update(f"{var}={os.environ.get(var, '')}\0".encode())
    return h.hexdigest()[:20]


def entry_dir() -> Path:
    return ROOT / fingerprint()


def cached(
    name: str, compute: Callable[[Path], dict], ok: Callable[[dict], bool], directory: Optional[Path] = None
) -> dict:
    """The JSON-able dict `compute(workdir)` returns, computed once per fingerprint across
    processes. `workdir` is a folder reserved for this entry (for files the computation
    writes, such as a results file); `ok` says whether the value may be stored. `directory`
    is the fingerprint's folder (default: this checkout's, entry_dir())."""
    if not ENABLED and directory is None:
        import tempfile

        return compute(Path(tempfile.mkdtemp(prefix="kfkrm-render-")))
    directory = directory or entry_dir()
    directory.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    path, workdir = directory / f"{safe}.json", directory / safe
    with open(directory / f"{safe}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return json.loads(path.read_text())
        shutil.rmtree(workdir, ignore_errors=True)  # an interrupted computation's leftovers
        workdir.mkdir(parents=True)
        value = compute(workdir)
        if ok(value):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(value))
            os.replace(tmp, path)
        return value


def prune() -> None:
    """Remove the folders of other fingerprints (renders of code that is no longer here)."""
    if not ENABLED or not ROOT.is_dir():
        return
    current = fingerprint()
    for child in ROOT.iterdir():
        if child.is_dir() and child.name != current:
            shutil.rmtree(child, ignore_errors=True)
