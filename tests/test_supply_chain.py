"""The image's supply chain (issue 13): base images pinned by digest, pip installing only
hash-checked files from the locks, and a build context holding only what the build copies."""

import fnmatch
import re
import subprocess

import pytest

from helpers import REPO

DOCKERFILE = REPO / "Dockerfile"
LOCKS = ("requirements.lock", "requirements-build.lock", "requirements-test.lock")
_DIGEST_REF = re.compile(
    r"^[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)+:[\w.-]+@sha256:[0-9a-f]{64}$|"
    r"^[a-z0-9._-]+:[\w.-]+@sha256:[0-9a-f]{64}$"
)


def _instructions() -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_every_base_image_is_pinned_by_digest_with_its_tag():
    args, stages = {}, []
    for line in _instructions():
        m = re.match(r"ARG\s+(\w+)=(\S+)$", line)
        if m and not stages:
            args[m.group(1)] = m.group(2)
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.I)
        if m:
            image = re.sub(r"\$\{(\w+)\}", lambda a: args[a.group(1)], m.group(1))
            if image not in stages:  # FROM an earlier stage is not an image
                assert _DIGEST_REF.match(image), f"FROM {m.group(1)} = {image}: not NAME:TAG@sha256:DIGEST"
            stages.append(m.group(2) or "")
    assert len(stages) >= 3
    assert "imagetools inspect" in DOCKERFILE.read_text(), "the Dockerfile documents how to refresh a digest"


def test_pip_installs_only_hash_checked_requirements():
    installs = [i for line in _instructions() for i in line.split(";") if re.search(r"pip install", i)]
    from_locks = [i for i in installs if re.search(r"\s-r\s", i)]
    assert from_locks, installs
    for install in from_locks:
        assert "--require-hashes" in install, install


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_requirement_has_hashes(lock):
    text = (REPO / lock).read_text()
    blocks = re.split(r"(?<!\\)\n", text)
    pins = [b for b in blocks if b.strip() and not b.strip().startswith("#")]
    assert pins
    for block in pins:
        assert re.match(r"^[A-Za-z0-9_.-]+==[\w.]+", block), block
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"{lock}: {block.splitlines()[0]} has no hash"
    assert "scripts/lock-hashes.py" in (REPO / "scripts" / "lock-hashes.py").read_text()


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parent
    directories decides; `!` re-includes."""
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        rx = re.compile(
            "^"
            + re.escape(pat)
            .replace(r"\*\*/", "(?:.*/)?")
            .replace(r"\*\*", ".*")
            .replace(r"\*", "[^/]*")
            .replace(r"\?", "[^/]")
            + "$"
        )
        if any(
            rx.match(c) or fnmatch.fnmatchcase(c, pat) and "**" not in pat and "/" not in pat.replace("*", "")
            for c in candidates
        ):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_context_to_what_the_build_copies():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sent = [f for f in files if not _ignored(f, patterns)]
    # what the Dockerfile copies from the context
    sources = [
        s for line in _instructions() if line.startswith("COPY") and "--from" not in line for s in line.split()[1:-1]
    ]
    for source in sources:
        assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in sent), (
            f"COPY {source} would be excluded"
        )
    for unwanted in (
        ".git/config",
        ".venv/bin/python",
        "tests/helpers.py",
        "kustomization-examples",
        "docs",
        "functions/kfkrm/__pycache__/x.pyc",
        ".cache/x",
        ".hypothesis/x",
    ):
        assert _ignored(unwanted, patterns), unwanted
    assert not [f for f in sent if f.startswith(("tests/", "docs/", "kustomization-examples/", "kpt-examples/"))]
    size = sum((REPO / f).stat().st_size for f in sent if (REPO / f).is_file())
    assert size < 2_000_000, size
