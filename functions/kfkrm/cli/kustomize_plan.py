"""How `kfkrm build` renders a kustomization: the fast path, or the per-call route and why.

Per call (what `kubectl kustomize --enable-alpha-plugins` does): kustomize serialises every
resource to each function and parses the answer back, which costs more than the render
itself on Kubeflow (a no-op function adds 127% on v1.3, 174% on v1.10).

Fast path: when the kfkrm functions come last in the top-level kustomization's
`transformers:`, kustomize renders a temporary copy of the kustomization without them,
and kfkrm applies them afterwards in one process, then orders the output as kustomize
would have (its `sortOptions`, legacy by default). The output is the same bytes.

It falls back to the per-call route, and says why, when that equality could not hold or
cannot be checked here:
  * the top-level kustomization has no trailing kfkrm functions (nothing to gain);
  * `validators:` (kustomize runs them after the transformers);
  * generators anywhere in the tree (configMapGenerator, secretGenerator, generators:):
    kustomize appends their content hash to the name after the transformers, so per call
    a function sees the name without the hash and changes the content that is hashed;
  * a remote base (a URL): the tree cannot be inspected for generators;
  * a field of the top-level kustomization the fast path does not know how to copy, or a
    file it names outside the kustomization's folder (kustomize's load restrictions);
  * an `exec:` function, or a container function whose image is not a kfkrm one, among
    the trailing transformers (those stay with kustomize, so the ones before them too).
One difference is deliberate: kustomize `vars` are resolved before the fast path's
functions run, where per call they are still `$(VAR)` text. Functions then see the real
values, which is what makes AuthServiceRelocation possible on a source tree with vars.
"""

from __future__ import annotations

import os
import shutil
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
class Plan:
    directory: Path
    kustomization: Optional[Path]
    calls: list = field(default_factory=list)  # trailing kfkrm calls, applied in-process (fast path)
    fallback: str = ""  # why the per-call route is used ("" on the fast path)
    document: dict = field(default_factory=dict)

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


def _kfkrm_calls(entry: str, directory: Path, kustomize: Optional[list] = None) -> Optional[list]:
    """The kfkrm function calls a transformers entry (a file, or a folder kustomize renders
    into configs) makes, or None if it is anything else."""
    if not isinstance(entry, str) or "://" in entry:
        return None
    path = directory / entry
    from ..runtime import yamlio

    source = entry
    if path.is_dir():
        text = _folder_configs(path, kustomize)
        if text is None:
            return None
        kustomization = find_kustomization(path)
        source = f"{entry}: {kustomization}"
    elif path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    else:
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


def _inside(directory: Path, entry: str) -> bool:
    # Absolute, so that a relative `directory` (`kfkrm build .`, as argocd/generate.sh runs it)
    # holds its own files: normpath("./fns/a.yaml") is "fns/a.yaml", not under ".".
    base = os.path.abspath(str(directory))
    target = os.path.normpath(os.path.join(base, entry))
    return target == base or target.startswith(base + os.sep)


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


def plan(directory: Path, kustomize: Optional[list] = None) -> Plan:
    """Decide the route for `directory` (see the module docstring). `kustomize` renders
    folder entries of `transformers:` (without it, a folder entry takes the per-call route)."""
    kustomization = find_kustomization(directory)
    if kustomization is None:
        raise PlanError(f"no kustomization.yaml in {directory}")
    doc = _load(kustomization)
    result = Plan(directory, kustomization, document=doc)
    transformers = doc.get("transformers") or []
    calls: list = []
    keep = len(transformers)
    while keep > 0:
        found = _kfkrm_calls(transformers[keep - 1], directory, kustomize)
        if found is None:
            break
        calls[:0] = found
        keep -= 1
    if not calls:
        result.fallback = "no kfkrm functions at the end of the kustomization's transformers"
        return result
    unknown = sorted(set(doc) - _PLAIN_FIELDS - set(_PATH_LIST_FIELDS) - set(_PATH_ENTRY_FIELDS) - {"bases"})
    if doc.get("validators"):
        result.fallback = "validators: kustomize runs them after the transformers"
    elif unknown:
        result.fallback = f"the fast path does not copy the field(s) {', '.join(unknown)}"
    else:
        result.fallback = _generators_in_tree(directory, set())
    if not result.fallback:
        for list_field in _PATH_LIST_FIELDS:
            for entry in doc.get(list_field) or []:
                if (
                    isinstance(entry, str)
                    and "://" not in entry
                    and not (directory / entry).is_dir()
                    and not _inside(directory, entry)
                ):
                    result.fallback = f"{list_field} entry {entry} is a file outside {directory}"
        for entry_field in _PATH_ENTRY_FIELDS:
            for entry in doc.get(entry_field) or []:
                path = entry.get("path") if isinstance(entry, dict) else None
                if path and not _inside(directory, path):
                    result.fallback = f"{entry_field} path {path} is outside {directory}"
    if not result.fallback:
        result.calls = calls
        result.document = dict(doc, transformers=transformers[:keep])
        if not result.document["transformers"]:
            del result.document["transformers"]
    return result


def write_copy(p: Plan, into: Path) -> Path:
    """The kustomization without its trailing kfkrm transformers, in the folder `into`:
    directories are referred to by relative path from there, files are copied alongside."""
    doc = dict(p.document)
    into.mkdir(parents=True, exist_ok=True)

    def relocate(entry: str) -> str:
        if "://" in entry or entry.startswith("git@"):
            return entry
        source = p.directory / entry
        if source.is_dir():
            return os.path.relpath(source.resolve(), into.resolve())
        if source.is_file():  # a missing file stays missing: kustomize's own error names it
            target = into / entry
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return entry

    for list_field in _PATH_LIST_FIELDS + ("bases",):
        if doc.get(list_field):
            doc[list_field] = [relocate(e) if isinstance(e, str) else e for e in doc[list_field]]
    for entry_field in _PATH_ENTRY_FIELDS:
        if doc.get(entry_field):
            doc[entry_field] = [
                dict(e, path=relocate(e["path"])) if isinstance(e, dict) and e.get("path") else e
                for e in doc[entry_field]
            ]
    out = into / "kustomization.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


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
