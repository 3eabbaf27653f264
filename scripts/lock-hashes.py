#!/usr/bin/env python3
"""Add (or refresh) the sha256 hashes of every pinned requirement in kfkrm's lock files.

    python3 scripts/lock-hashes.py requirements.lock requirements-build.lock requirements-test.lock

Why: the image and CI install with `pip install --require-hashes`, so a file on the package
index that changes under a pinned version is refused rather than installed. pip-compile is
not part of the toolchain; this asks pip itself: `pip download --no-deps --only-binary=:all:`
of each pin for every interpreter and platform kfkrm supports (CPython 3.9 to 3.13 on Linux
x86_64 and aarch64: the image, CI and a developer's machine), then `pip hash` of each file
downloaded. A pure-Python wheel is one file and one hash; a compiled one (PyYAML,
pydantic-core) gets one hash per wheel. The versions stay exactly as pinned; to upgrade,
edit `NAME==VERSION` and run this again. Comments and environment markers are kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(;[^\\]*)?")


def _hashes(name: str, version: str, marker: str) -> list[str]:
    files: set[Path] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for python in PYTHONS:
            for platform in PLATFORMS:
                dest = Path(tmp) / f"{python}-{platform}"
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "-q",
                        "--no-deps",
                        "--only-binary=:all:",
                        "--python-version",
                        python,
                        "--platform",
                        platform,
                        "--implementation",
                        "cp",
                        "-d",
                        str(dest),
                        f"{name}=={version}",
                    ],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode == 0:
                    files.update(dest.iterdir())
        if not files:
            raise SystemExit(f"no wheel of {name}=={version} for any supported Python/platform")
        digests = set()
        for path in files:
            out = subprocess.run(
                [sys.executable, "-m", "pip", "hash", "-a", "sha256", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            digests.add(re.search(r"--hash=(sha256:[0-9a-f]{64})", out).group(1))
    return sorted(digests)


def relock(path: Path) -> None:
    out = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = _PIN.match(line)
        if not m:
            if not line.strip().startswith("--hash="):
                out.append(line)
            continue
        while line.rstrip().endswith("\\") and i < len(lines) and lines[i].strip().startswith("--hash="):
            line = lines[i]
            i += 1
        name, version, marker = m.group(1), m.group(2), (m.group(3) or "").strip()
        head = f"{name}=={version}" + (f" {marker}" if marker else "")
        hashes = _hashes(name, version, marker)
        out.append(head + " \\")
        out.extend(f"    --hash={h}" + (" \\" if k < len(hashes) - 1 else "") for k, h in enumerate(hashes))
    path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["requirements.lock", "requirements-build.lock", "requirements-test.lock"]:
        relock(Path(arg))
        print(f"hashed {arg}")
