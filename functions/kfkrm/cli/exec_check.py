"""`kfkrm exec-check [DIR]`: the files under DIR that declare an exec KRM function.

argocd/generate.sh runs kustomize without --enable-exec, and `kubectl kustomize` then skips
an exec function silently (exit 0, function not run), so the plugin refuses such a
directory before rendering. A text match misses the spellings kustomize accepts (a quoted
annotation key, a JSON file, a flow mapping), so this parses every YAML and JSON file the
way kustomize does: each document's `metadata.annotations` function annotation, itself
YAML, declares an exec function when it has `exec` and no `container` (kustomize runs the
container when both are there).

Prints one file per line (escaped, so a file name cannot forge a line), exit 0; exit 2 on a
usage error. A file that does not parse is not a transformer kustomize could read.
"""

from __future__ import annotations

import os
import sys

from ..runtime import yamlio
from ..runtime.results import escape

FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
SUFFIXES = (".yaml", ".yml", ".json")


def declares_exec(spec) -> bool:
    """Whether a function annotation's value (YAML text, or already a mapping) names an exec
    function that kustomize would run as exec, i.e. not also a container."""
    if isinstance(spec, str):
        try:
            spec = yamlio.load(spec)
        except yamlio.YAMLError:
            return False
    return isinstance(spec, dict) and "exec" in spec and "container" not in spec


def file_declares_exec(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            docs = yamlio.load_all(f.read())
    except (OSError, UnicodeDecodeError, yamlio.YAMLError):
        return False
    for doc in docs:
        metadata = doc.get("metadata") if isinstance(doc, dict) else None
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if isinstance(annotations, dict) and any(declares_exec(annotations.get(a)) for a in FUNCTION_ANNOTATIONS):
            return True
    return False


def exec_function_files(root: str) -> list[str]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(SUFFIXES) and file_declares_exec(os.path.join(directory, name)):
                found.append(os.path.join(directory, name))
    return found


def main(argv) -> int:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        sys.stderr.write("usage: kfkrm exec-check [DIR]\n")
        return 2
    for path in exec_function_files(argv[0] if argv else "."):
        sys.stdout.write(escape(path) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
