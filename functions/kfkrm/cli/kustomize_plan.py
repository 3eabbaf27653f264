"""How `kfkrm build` renders a kustomization: the fast path, or the per-call route and why.

Per call (what `kubectl kustomize --enable-alpha-plugins` does): kustomize serialises every
resource to each function and parses the answer back, which costs more than the render
itself on Kubeflow (a no-op function adds 127% on v1.3, 174% on v1.10).

Fast path: when the top-level kustomization's `transformers:` end in kfkrm functions,
optionally alternating with kustomize builtins (`apiVersion: builtin` files), kustomize renders
the kustomization cut before the first of those kfkrm entries (in a private mirror, below);
then each segment runs in turn: kfkrm functions in one process, builtins through one more plain
kustomize run over the current stream (`stage_kustomization`: only the stream, the builtin
entries as spelled, and `sortOptions`; the other top-level fields ran in the first render).
The output is ordered as kustomize would have (the last kustomize stage sorts; after a kfkrm
segment, `sort_order`). The output is the same bytes as per call.

It falls back to the per-call route, and says why, when that equality could not hold or
cannot be checked here:
  * the top-level kustomization has no trailing kfkrm functions (nothing to gain);
  * `validators:` (kustomize runs them after the transformers);
  * generators anywhere in the tree (configMapGenerator, secretGenerator, generators:):
    kustomize appends their content hash to the name after the transformers, so per call
    a function sees the name without the hash and changes the content that is hashed;
  * a remote base (a URL): the tree cannot be inspected for generators;
  * a field of the top-level kustomization the fast path does not know (e.g. helmCharts);
  * an `exec:` function, or a container function whose image is not a kfkrm one, among
    the trailing transformers (those stay with kustomize, so the ones before them too).
The sandbox (`sandbox`): kustomize renders the trimmed kustomization in a private temporary
mirror of the filesystem path up to the kustomization's real folder. The folder itself is
copied (regular files copied, symlinks re-pointed at what they resolve to, nothing else), the
kustomization's text is the user's minus the trailing kfkrm entries, and every sibling on the
way up is a symlink to the original. A relative path therefore resolves to the same file or
folder as in the original, and kustomize's own load restrictor (files only in or below the
root) gives the same verdict: kfkrm copies nothing a kustomization names, and kfkrm's own
`docker` stand-in lives in another private folder.

One difference is deliberate: kustomize `vars` are resolved before the fast path's
functions run, where per call they are still `$(VAR)` text. Functions then see the real
values, which is what makes AuthServiceRelocation possible on a source tree with vars.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .docker_shim import is_kfkrm_image

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
GENERATOR_FIELDS = ("configMapGenerator", "secretGenerator", "generators")
# Top-level fields the fast path copies as they are (no file paths in them).
_PLAIN_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "commonAnnotations",
    "labels",
    "images",
    "replicas",
    "sortOptions",
    "buildMetadata",
}
# Fields that list files or directories, copied with their files.
_PATH_LIST_FIELDS = ("resources", "components", "transformers", "patchesStrategicMerge", "crds", "configurations")
_PATH_ENTRY_FIELDS = ("patches", "patchesJson6902", "replacements")  # entries with an optional `path:`


class PlanError(Exception):
    """The kustomization cannot be read: shown as kfkrm build's one-line error."""


@dataclass
class Call:
    """One kfkrm function call of the trailing transformers."""

    source: str  # the transformers entry it came from
    config: dict  # the function config, as the file has it


@dataclass
class Stage:
    """One segment after kustomize's first render: kfkrm calls run in-process, or builtin
    transformer entries (as the user spelled them) that a further plain kustomize run applies."""

    calls: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    # Builtin segment made only of PatchTransformers with a `target.kind` and no options: the
    # kinds they can touch (kustomize selects a kind by equality), so only those objects need
    # to go through kustomize; None: every object goes.
    kinds: Optional[frozenset] = None
    docs: list = field(default_factory=list)  # the builtin configs, read as kustomize will


@dataclass
class Plan:
    directory: Path
    kustomization: Optional[Path]
    calls: list = field(default_factory=list)  # every kfkrm call after the cut, applied in-process (fast path)
    stages: list = field(default_factory=list)  # the segments after the cut, in order (Stage)
    fallback: str = ""  # why the per-call route is used ("" on the fast path)
    document: dict = field(default_factory=dict)
    text: str = ""  # the kustomization's text without the trailing kfkrm entries (fast path)

    @property
    def fast(self) -> bool:
        return not self.fallback


def find_kustomization(directory: Path) -> Optional[Path]:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def _load(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise PlanError(f"{path}: cannot read it: {' '.join(str(e).split())}") from None
    return doc if isinstance(doc, dict) else {}


def _function_spec(doc: dict) -> Optional[dict]:
    annotations = ((doc.get("metadata") or {}).get("annotations")) or {}
    for name in FUNCTION_ANNOTATIONS:
        if name in annotations:
            try:
                spec = yaml.safe_load(str(annotations[name]))
            except yaml.YAMLError:
                return {}
            return spec if isinstance(spec, dict) else {}
    return None


def _folder_configs(path: Path, kustomize: Optional[list]) -> Optional[str]:
    """The transformer configs a folder entry stands for: kustomize builds the folder as a
    kustomization of its own and uses what it renders as configs (multi-cluster profiles
    patch the organisation's profile this way). Rendered here with plain kustomize, no
    plugins, so nothing in it runs; a folder that itself declares functions, or that
    kustomize cannot render, is left to the per-call route (None)."""
    kustomization = find_kustomization(path)
    if kustomize is None or kustomization is None:
        return None
    doc = _load(kustomization)
    if any(doc.get(name) for name in ("transformers", "generators", "validators")):
        return None
    import subprocess

    proc = subprocess.run(kustomize + [str(path)], capture_output=True)
    if proc.returncode != 0:
        return None
    try:
        return proc.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None


MAX_CONFIG_BYTES = 16 << 20  # a transformer config larger than this is not read (kustomize reads it)


def _inside(real_root: str, path: str) -> bool:
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def _loadable_file(directory: Path, entry: str, restricted: bool) -> Optional[Path]:
    """The file kustomize would load for `entry` (a regular file, in or below the real root
    unless the load restrictor is off), else None."""
    path = Path(os.path.normpath(os.path.join(str(directory), entry)))  # filepath.Join cleans `..` lexically
    real = os.path.realpath(path)
    if restricted and not _inside(os.path.realpath(directory), real):
        return None
    try:
        st = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CONFIG_BYTES:
        return None
    return Path(real)


def _kfkrm_calls(
    entry: str, directory: Path, restricted: bool = True, kustomize: Optional[list] = None
) -> Optional[list]:
    """The kfkrm function calls a transformers entry (a file, or a folder kustomize renders into
    configs) makes, or None if it is anything else (including a file kustomize would refuse to
    load: that entry stays with kustomize)."""
    if not isinstance(entry, str) or "://" in entry:
        return None
    folder = directory / entry
    path = folder if folder.is_dir() else _loadable_file(directory, entry, restricted)
    if path is None:
        return None
    from ..runtime import yamlio

    source = entry
    if path.is_dir():
        text = _folder_configs(path, kustomize)
        if text is None:
            return None
        kustomization = find_kustomization(path)
        source = f"{entry}: {kustomization}"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    try:  # read as a function reads its config (YAML 1.2: `on` stays a string)
        docs = [d for d in yamlio.load_all(text) if d is not None]
    except yamlio.YAMLError:
        return None
    from ..fns.registry import BY_KIND
    from ..runtime.config import API_VERSION

    calls = []
    for doc in docs:
        if not isinstance(doc, dict):
            return None
        spec = _function_spec(doc)
        image = ((spec or {}).get("container") or {}).get("image")
        if not image or not is_kfkrm_image(str(image)):
            return None
        if doc.get("apiVersion") != API_VERSION or doc.get("kind") not in BY_KIND:
            return None  # kfkrm's image, but not a config it knows: let the per-call route report it
        calls.append(Call(source, doc))
    return calls or None


# kustomize's builtin transformers (api/builtins): `apiVersion: builtin` with one of these kinds.
BUILTIN_TRANSFORMER_KINDS = frozenset(
    {
        "AnnotationsTransformer",
        "ImageTagTransformer",
        "LabelTransformer",
        "NamespaceTransformer",
        "PatchJson6902Transformer",
        "PatchStrategicMergeTransformer",
        "PatchTransformer",
        "PrefixSuffixTransformer",
        "PrefixTransformer",
        "SuffixTransformer",
        "ReplacementTransformer",
        "ReplicaCountTransformer",
    }
)


def _patch_kinds(docs: list) -> Optional[frozenset]:
    """The kinds a list of builtin configs can change, when all are PatchTransformers with a
    plain `target.kind` and no `options` (allowNameChange/allowKindChange make kustomize fix
    references in other objects); else None."""
    kinds = set()
    for doc in docs:
        target = doc.get("target")
        kind = target.get("kind") if isinstance(target, dict) else None
        if doc.get("kind") != "PatchTransformer" or doc.get("options") or not isinstance(kind, str):
            return None
        if not kind.isalnum():
            return None
        kinds.add(kind)
    return frozenset(kinds) or None


def _builtin_entry(entry, directory: Path, restricted: bool = True) -> Optional[list]:
    """The documents of a transformers entry that is a file (relative, loadable as kustomize
    would load it) whose every document is a kustomize builtin transformer config: `apiVersion:
    builtin`, a kind of BUILTIN_TRANSFORMER_KINDS, no function annotation and no `configFn`.
    None for anything else (a folder, a URL, an absolute path, a plugin): it keeps the per-call
    route."""
    if not isinstance(entry, str) or "://" in entry or os.path.isabs(entry) or (directory / entry).is_dir():
        return None
    path = _loadable_file(directory, entry, restricted)
    if path is None:
        return None
    from ..runtime import yamlio

    try:
        docs = [d for d in yamlio.load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, UnicodeDecodeError, yamlio.YAMLError):
        return None
    for doc in docs:
        if not isinstance(doc, dict) or _function_spec(doc) is not None:
            return None
        if "configFn" in (doc.get("metadata") or {}):
            return None
        if doc.get("apiVersion") != "builtin" or doc.get("kind") not in BUILTIN_TRANSFORMER_KINDS:
            return None
    return docs or None


def _generators_in_tree(directory: Path, seen: set) -> str:
    """'' when no kustomization reachable from `directory` uses generators, else why not."""
    real = directory.resolve()
    if real in seen:
        return ""
    seen.add(real)
    kustomization = find_kustomization(directory)
    if kustomization is None:
        return ""
    doc = _load(kustomization)
    for name in GENERATOR_FIELDS:
        if doc.get(name):
            return f"{kustomization} uses {name} (kustomize hashes generated names after the transformers)"
    for list_field in ("resources", "components", "bases"):
        for entry in doc.get(list_field) or []:
            if not isinstance(entry, str):
                continue
            if "://" in entry or entry.startswith("git@") or "github.com/" in entry:
                return f"{kustomization} has the remote base {entry} (its tree cannot be inspected here)"
            target = directory / entry
            if target.is_dir():
                why = _generators_in_tree(target, seen)
                if why:
                    return why
    return ""


def plan(directory: Path, restricted: bool = True, kustomize: Optional[list] = None) -> Plan:
    """Decide the route for `directory` (see the module docstring). `restricted`: kustomize's
    load restrictor is on (the default, LoadRestrictionsRootOnly). `kustomize` renders folder
    entries of `transformers:` (without it, a folder entry takes the per-call route)."""
    directory = Path(os.path.abspath(directory))  # `.`, relative or absolute: the same decision
    kustomization = find_kustomization(directory)
    if kustomization is None:
        raise PlanError(f"no kustomization.yaml in {directory}")
    doc = _load(kustomization)
    result = Plan(directory, kustomization, document=doc)
    transformers = doc.get("transformers") or []
    if not isinstance(transformers, list):
        result.fallback = "transformers is not a list (kustomize's message will say so)"
        return result
    # The longest tail of kfkrm and builtin entries, cut before its first kfkrm entry: kustomize
    # renders what comes before, then the tail runs segment by segment (kfkrm in-process,
    # builtins in a further plain kustomize run each).
    stages: list = []
    start = len(transformers)
    while start > 0:
        entry = transformers[start - 1]
        found = _kfkrm_calls(entry, directory, restricted, kustomize)
        if found is not None:
            if not stages or not stages[0].calls:
                stages.insert(0, Stage())
            stages[0].calls[:0] = found
        elif builtin := _builtin_entry(entry, directory, restricted):
            if not stages or not stages[0].entries:
                stages.insert(0, Stage())
            stages[0].entries.insert(0, entry)
            stages[0].docs[:0] = builtin
        else:
            break
        start -= 1
    keep = start
    if stages and stages[0].entries:  # builtins before the first kfkrm entry stay in the first render
        keep += len(stages.pop(0).entries)
    calls = [call for stage in stages for call in stage.calls]
    for stage in stages:
        if stage.entries and (doc.get("sortOptions") or {}).get("order") != "fifo":
            stage.kinds = _patch_kinds(stage.docs)
    if not calls:
        result.fallback = (
            "no kfkrm functions at the end of the kustomization's transformers "
            "(after its last entry that is neither a kfkrm function nor a kustomize builtin)"
        )
        return result
    unknown = sorted(set(doc) - _PLAIN_FIELDS - set(_PATH_LIST_FIELDS) - set(_PATH_ENTRY_FIELDS) - {"bases"})
    if doc.get("validators"):
        result.fallback = "validators: kustomize runs them after the transformers"
    elif unknown:
        result.fallback = f"the fast path does not copy the field(s) {', '.join(unknown)}"
    elif doc.get("buildMetadata") and any(stage.entries for stage in stages):
        result.fallback = (
            "buildMetadata with builtins after kfkrm functions (their origin would name kfkrm's stage file)"
        )
    else:
        result.fallback = _generators_in_tree(directory, set())
    if not result.fallback:
        try:
            result.text = trimmed_text(kustomization.read_text(encoding="utf-8"), keep, doc)
        except _Untrimmable as e:
            result.fallback = f"the kustomization's transformers cannot be cut out of its text ({e})"
    if not result.fallback:
        result.calls = calls
        result.stages = stages
        result.document = dict(doc, transformers=transformers[:keep])
        if not result.document["transformers"]:
            del result.document["transformers"]
    return result


class _Untrimmable(Exception):
    pass


def trimmed_text(text: str, keep: int, doc: dict) -> str:
    """The kustomization's own text without the transformers entries after the first `keep`:
    every other byte is the user's (no YAML 1.1 round trip rewrites a date or an `on`).
    Checked by parsing the result again."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise _Untrimmable(" ".join(str(e).split())) from None
    if not isinstance(root, yaml.MappingNode):
        raise _Untrimmable("not a mapping")
    found = [(k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "transformers"]
    if len(found) != 1 or not isinstance(found[0][1], yaml.SequenceNode):
        raise _Untrimmable("no single transformers list")
    key, seq = found[0]
    items = seq.value
    if keep == 0:  # `transformers:` and its whole list become `transformers: []`
        start, end, replacement = key.end_mark.index, seq.end_mark.index, ": []"
        if not seq.flow_style:
            end = items[-1].end_mark.index
    elif seq.flow_style:  # [a, b, c] -> [a]
        start, end, replacement = items[keep - 1].end_mark.index, items[-1].end_mark.index, ""
    else:  # the lines from the first removed `- ` item to the end of the last one
        start = text.rfind("\n", 0, items[keep].start_mark.index) + 1
        end, replacement = items[-1].end_mark.index, ""
    trimmed = text[:start] + replacement + text[end:]
    try:
        again = yaml.safe_load(trimmed)
    except yaml.YAMLError as e:
        raise _Untrimmable(" ".join(str(e).split())) from None
    expected = dict(doc, transformers=(doc.get("transformers") or [])[:keep])
    if not isinstance(again, dict) or dict(again, transformers=again.get("transformers") or []) != expected:
        raise _Untrimmable("the cut text does not parse to the kustomization without them")
    return trimmed


def stage_kustomization(stream_file: str, entries: list, document: dict) -> str:
    """The kustomization of a builtin segment: the current stream as its only resource, the
    builtin entries as the user spelled them (so they resolve, and the load restrictor decides,
    as in the original folder), and the user's sortOptions. Top-level fields such as namespace,
    namePrefix, patches or images are not repeated: kustomize applied them in the first render,
    before any of the transformers. JSON strings are YAML, so every entry is kept verbatim."""
    import json

    lines = ["resources:", f"- {json.dumps(stream_file)}", "transformers:"]
    lines += [f"- {json.dumps(entry)}" for entry in entries]
    if document.get("sortOptions") is not None:
        lines.append(f"sortOptions: {json.dumps(document['sortOptions'])}")
    return "\n".join(lines) + "\n"


class NotMirrored(Exception):
    """The kustomization's folder cannot be mirrored faithfully (the fast path falls back):
    too large, or a file in it names the folder by its absolute path (which kustomize accepts
    inside the root, and which would point out of the mirror)."""


MAX_MIRROR_FILES = 20_000
MAX_MIRROR_BYTES = 512 << 20


def sandbox(p: Plan, into: Path) -> Path:
    """A private mirror (in the empty folder `into`) of the path up to the kustomization's real
    folder, holding a copy of that folder with the trimmed kustomization; returns the copy's path.

    Each folder on the way up is a real folder of the mirror whose other entries are symlinks to
    the originals, so `../base`, `../../x.yaml` and symlinks resolve to the same files as in the
    user's tree; the copy keeps kustomize's root (files must be in or below it). Inside the copy:
    regular files are copied, symlinks point at what the original resolves to (into the copy
    when that is inside the folder), FIFOs, devices and sockets are left out, `.git` too."""
    real_root = os.path.realpath(p.directory)
    spellings = {os.fsencode(real_root), os.fsencode(str(p.directory))}
    if any(s in p.text.encode("utf-8", "surrogateescape") for s in spellings):
        raise NotMirrored("the kustomization names its own folder by absolute path")
    mirror = str(into)
    source = os.sep
    for name in Path(real_root).parts[1:]:
        try:
            siblings = os.listdir(source)
        except OSError:
            siblings = []  # unreadable: a path through it stays missing (kustomize's error)
        for sibling in siblings:
            if sibling != name:
                os.symlink(os.path.join(source, sibling), os.path.join(mirror, sibling))
        source, mirror = os.path.join(source, name), os.path.join(mirror, name)
        os.mkdir(mirror)
    budget = [MAX_MIRROR_FILES, MAX_MIRROR_BYTES]

    def copy(src: str, dst: str) -> None:
        with os.scandir(src) as entries:
            for entry in entries:
                target = os.path.join(dst, entry.name)
                budget[0] -= 1
                if budget[0] < 0:
                    raise NotMirrored(f"more than {MAX_MIRROR_FILES} files")
                if entry.is_symlink():
                    resolved = os.path.realpath(entry.path)
                    os.symlink(str(into) + resolved if _inside(real_root, resolved) else resolved, target)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        os.mkdir(target)
                        copy(entry.path, target)
                elif entry.is_file(follow_symlinks=False):
                    budget[1] -= entry.stat(follow_symlinks=False).st_size
                    if budget[1] < 0:
                        raise NotMirrored(f"more than {MAX_MIRROR_BYTES >> 20} MiB")
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
                    with os.fdopen(fd, "rb") as f:
                        data = f.read(MAX_MIRROR_BYTES + 1) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
                    with open(target, "xb") as f:
                        f.write(data)
                    if any(s in data for s in spellings):
                        raise NotMirrored(f"{entry.path} names the kustomization's folder by absolute path")

    copy(real_root, mirror)
    kustomization = os.path.join(mirror, p.kustomization.name)
    if os.path.lexists(kustomization):
        os.unlink(kustomization)
    with open(kustomization, "x", encoding="utf-8") as f:
        f.write(p.text)
    return Path(mirror)


# -- kustomize's output order ---------------------------------------------------------------

# kustomize's legacy order (api/resid/gvk.go): these kinds first, in this order; these last.
LEGACY_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
LEGACY_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def sort_order(doc: dict):
    """A key function ordering items as the kustomization's sortOptions (legacy by default)
    would, or None for fifo (kustomize then keeps the order the last function gave)."""
    options = doc.get("sortOptions") or {}
    if options.get("order") == "fifo":
        return None
    legacy = options.get("legacySortOptions") or {}
    first = tuple(legacy.get("orderFirst") or LEGACY_FIRST)
    last = tuple(legacy.get("orderLast") or LEGACY_LAST)
    rank = {kind: i - len(first) for i, kind in enumerate(first)}
    rank.update({kind: i + 1 for i, kind in enumerate(last)})

    def key(item):
        # Gvk.String() and ResId.LegacySortString() of kustomize's resid package: "~G"/"~V"/"~X"
        # stand for an empty group, version, namespace; names are compared as "namespace|name".
        gvk = "_".join((item.group or "~G", item.version or "~V", item.kind or "~K"))
        return (rank.get(item.kind, 0), gvk, f"{item.namespace or '~X'}|{item.name or '~N'}")

    return key
