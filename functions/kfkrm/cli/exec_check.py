"""`kfkrm exec-check [DIR]`: the files that declare an exec KRM function kustomize would skip.

argocd/generate.sh and `kfkrm build` run kustomize without --enable-exec, and kustomize then
skips an exec function silently (exit 0, function not run), so they refuse such a folder
before rendering. The decision follows kustomize's own rules (kyaml's
runtimeutil.GetFunctionSpec and runfn): a document is a function when its
`config.kubernetes.io/function` (or `config.k8s.io/function`) annotation, itself YAML, or
the legacy `metadata.configFn` field holds a spec; it is an exec function when that spec has
`exec` and no container image (`container: {}` next to `exec` is exec).

Which files: every `.yaml`/`.yml`/`.json` file under DIR, and every file, whatever its name,
that a kustomization reachable from DIR names under `transformers:`, `generators:` or
`validators:`, following `resources:`, `bases:` and `components:` folders, `../` included.
Each is read the way kyaml reads it: UTF-8 or UTF-16/32 with a byte-order mark, aliases and
merge keys (`<<`) expanded, any tag accepted for its plain value. Only regular files are
read, and at most MAX_BYTES of each (a symlink to /dev/zero or a FIFO is not read; a
referenced file larger than that is reported as unchecked).

Prints one file per line (escaped, so a file name cannot forge a line), exit 0; exit 2 on a
usage error.
"""

from __future__ import annotations

import codecs
import os
import stat
import sys

import yaml

from ..runtime import yamlio
from ..runtime.results import escape
from .output import write_stdout

FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_BYTES = 16 << 20
TOO_LARGE = "too large to check"


class _AnyTagLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as kyaml accepts it: any tag stands for its node's plain value; `<<` merges."""


def _untagged(loader, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_AnyTagLoader.add_constructor(None, _untagged)
for _tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"):
    _AnyTagLoader.add_constructor(_tag, _untagged)


def _read(path: str) -> str | None:
    """The text of a regular file (at most MAX_BYTES), TOO_LARGE, or None (not a regular
    file, unreadable, not text)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # replaced since the stat
                return None
            data = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_BYTES:
        return TOO_LARGE
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            data, chosen = data[len(bom) :], encoding
            break
    else:
        chosen = "utf-8"
    try:
        return data.decode(chosen)
    except UnicodeDecodeError:
        return None


def _load_all(text: str) -> list:
    try:
        yamlio.check_limits(text)  # alias bombs and depth, as for every input
        return list(yaml.load_all(text, Loader=_AnyTagLoader))
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        return []


def declares_exec(spec) -> bool:
    """Whether a function spec (YAML text, or already a mapping) is an exec function as kustomize
    runs it: an `exec` entry and no container image."""
    if isinstance(spec, str):
        docs = _load_all(spec)
        spec = docs[0] if docs else None
    if not isinstance(spec, dict) or "exec" not in spec:
        return False
    container = spec.get("container")
    return not (isinstance(container, dict) and container.get("image"))


def _declares_exec_text(text: str) -> bool:
    for doc in _load_all(text):
        metadata = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(metadata, dict):
            continue
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            specs = [annotations.get(a) for a in FUNCTION_ANNOTATIONS if annotations.get(a)]
            if specs:  # kustomize reads the first annotation found, then stops
                if declares_exec(specs[0]):
                    return True
                continue
        if declares_exec(metadata.get("configFn")):
            return True
    return False


def file_declares_exec(path: str) -> bool:
    text = _read(path)
    return text is not None and text != TOO_LARGE and _declares_exec_text(text)


def _referenced_configs(root: str) -> list[str]:
    """The transformer, generator and validator config files of every kustomization reachable
    from `root` through resources, bases and components folders (`../` included)."""
    configs: list[str] = []
    seen: set[str] = set()
    queue = [root]
    while queue:
        directory = queue.pop(0)
        real = os.path.realpath(directory)
        if real in seen or len(seen) > 10_000:
            continue
        seen.add(real)
        names = [os.path.join(directory, n) for n in KUSTOMIZATION_NAMES]
        kustomization = next((n for n in names if os.path.isfile(n)), None)
        text = _read(kustomization) if kustomization else None
        docs = _load_all(text) if text and text != TOO_LARGE else []
        doc = docs[0] if docs and isinstance(docs[0], dict) else {}
        for name in ("transformers", "generators", "validators", "resources", "bases", "components"):
            entries = doc.get(name)
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, str) or "://" in entry or "\n" in entry:
                    continue
                path = os.path.normpath(os.path.join(directory, entry))
                if os.path.isdir(path):
                    queue.append(path)
                elif name in ("transformers", "generators", "validators") and path not in configs:
                    configs.append(path)
    return configs


def exec_function_files(root: str) -> list[str]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(SUFFIXES) and file_declares_exec(os.path.join(directory, name)):
                found.append(os.path.join(directory, name))
    reported = {os.path.realpath(p) for p in found}
    for path in _referenced_configs(root):
        if os.path.realpath(path) in reported:
            continue
        text = _read(path)
        if text == TOO_LARGE:
            found.append(f"{path} ({TOO_LARGE}: more than {MAX_BYTES >> 20} MiB)")
        elif text is not None and _declares_exec_text(text):
            found.append(path)
    return found


def main(argv) -> int:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        sys.stderr.write("usage: kfkrm exec-check [DIR]\n")
        return 2
    write_stdout("".join(escape(path) + "\n" for path in exec_function_files(argv[0] if argv else ".")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
