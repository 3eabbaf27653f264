"""Moves whole namespaces (Kubeflow's `kubeflow` to `ml-platform`) and every reference to them.

kustomize's `namespace:` and kpt's set-namespace move objects but not the references to
them; a Kubeflow installed outside `kubeflow` then breaks only at run time (the field
report's ask, kubeflow/kubeflow#5647). This function moves every namespaced object of each
old namespace, renames its Namespace object (labels and annotations kept), and rewrites
every reference, in every object of the input, in the shapes domain/namespace_refs.py
knows. What it cannot rewrite is reported rather than left silent:

* a string that still holds the old name in a shape it does not know: a warning with the
  field path;
* a Kubeflow component whose code falls back to `kubeflow` at run time when its manifests
  do not override it (domain/kubeflow_namespace_defaults.py): a warning naming the
  component, the upstream line, and the env var or flag that would override it;
* a reference it rewrote whose target is not in the output (and was in the input): a warning.

Run twice, it changes nothing the second time: an old namespace that is gone while its new
one is present counts as moved already.
"""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator

from ..domain import kubeflow_namespace_defaults as defaults
from ..domain.namespace_refs import NamespaceShapes, ObjectRewriter, dangling, metadata_namespace_value
from ..runtime.config import FunctionConfig
from ..runtime.k8svalidation import NamespaceName
from ..runtime.paths import field_path, walk_strings
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.results import warn

EXAMPLE = """
apiVersion: kfkrm.dev/v1alpha1
kind: NamespaceRelocation
metadata:
  name: ml-platform
namespaces:              # old: new, one or more
  kubeflow: ml-platform
"""

_LISTED = 8  # field paths listed per object in its info result


class Config(FunctionConfig):
    KIND = "NamespaceRelocation"
    FROM_CONFIGMAP = "map:namespaces"

    namespaces: dict[NamespaceName, NamespaceName] = Field(
        ..., description="old namespace -> new namespace; every object and every reference moves"
    )

    @field_validator("namespaces")
    @classmethod
    def _a_real_move(cls, namespaces):
        if not namespaces:
            raise ValueError("must map at least one namespace (old: new)")
        for old, new in namespaces.items():
            if old == new:
                raise ValueError(f"{old!r} maps to itself: nothing would move")
        both = sorted(set(namespaces) & set(namespaces.values()))
        if both:
            raise ValueError(f"{', '.join(both)} is both moved and a target; relocate in two steps")
        return namespaces


def transform(rl, config: Config) -> str:
    mapping = config.namespaces
    present = {i.namespace for i in rl.items} | {i.name for i in rl.items if _is_namespace(i)}
    moves = {}
    for old, new in mapping.items():
        if old in present:
            moves[old] = new
        elif new not in present:
            rl.result(
                f"namespace {old} is not in the input: no object in it and no Namespace {old}",
                "error",
                field=f"namespaces.{old}",
            )
    if rl.has_errors or not _no_clashes(rl, moves) or _pending_kustomize_vars(rl, moves):
        return ""
    for old, new in moves.items():
        if old == defaults.KUBEFLOW:
            _warn_runtime_defaults(rl, old, new)
    held_before = {(i.namespace, i.kind, i.name) for i in rl.items if i.namespace in moves}
    moved = _move(rl, moves)
    rewritten, touched = _rewrite(rl, mapping)
    for old, new in moves.items():
        for ref in dangling(rl.items, new):
            kinds = ("Service", "Gateway") if ref.kind == "address" else (ref.kind,)
            if any((old, kind, ref.name) in held_before for kind in kinds):  # its target was there before the move
                what = "a Service or Gateway" if ref.kind == "address" else f"a {ref.kind}"
                rl.result(
                    f"{ref.path} points at {what} {ref.name!r} in {new}, which is not in the output",
                    "warning",
                    _find(rl, ref.source),
                )
    done = ", ".join(f"{o} -> {n}" for o, n in mapping.items() if o not in moves) or None
    parts = [
        f"moved {moved} objects ({', '.join(f'{o} -> {n}' for o, n in moves.items())})" if moves else "nothing to move"
    ]
    if done:
        parts.append(f"already relocated: {done}")
    parts.append(f"rewrote {rewritten} references in {touched} objects")
    return "; ".join(parts)


_KUSTOMIZE_VAR = re.compile(r"\$\(([A-Z][A-Z0-9_]*)\)")
_CONTAINER_EXPANSION = ("args", "command", "env")  # where $(VAR) is Kubernetes' own env expansion


def _pending_kustomize_vars(rl, moves: dict) -> bool:
    """Error on objects still holding kustomize vars (`$(CERTIFICATE_NAMESPACE)`): kustomize
    resolves vars after every transformer, matching each var to the object it named by that
    object's current id; an object a function moved to another namespace is no longer found
    and the build fails with "var ... cannot be mapped". Kubeflow's upstream kustomizations
    (cert-manager wiring of pvcviewer, notebook and tensorboard controllers) declare such vars."""
    found = False
    for item in rl.mutable_items():
        if (
            item.namespace not in moves
            or item.kind in ("CustomResourceDefinition", "ConfigMap", "Secret")
            or (item.raw is not None and not _KUSTOMIZE_VAR.search(item.raw))
        ):
            continue  # data and pod templates use $(VAR) for Kubernetes' own env expansion
        names = sorted(
            {
                m[1]
                for path, _, _, text in walk_strings(item.obj)
                if not set(path) & set(_CONTAINER_EXPANSION)
                for m in _KUSTOMIZE_VAR.finditer(text)
            }
        )
        if names:
            found = True
            listed = ", ".join(f"$({n})" for n in names)
            rl.result(
                f"holds kustomize vars not resolved yet ({listed}): kustomize resolves "
                "vars after every transformer and loses the objects a function moves to another namespace; run "
                "namespace-relocation on rendered manifests (kpt, or a kustomization over the rendered output)",
                "error",
                item,
            )
    return found


def _is_namespace(item) -> bool:
    return item.kind == "Namespace" and item.group == ""


def _no_clashes(rl, moves: dict) -> bool:
    """Error on every object whose kind and name the new namespace already holds."""
    holding: dict = {}
    for item in rl.items:
        target = moves.get(item.namespace, item.namespace)
        if item.namespace and target:
            holding.setdefault((target, item.group, item.kind, item.name), []).append(item)
    clean = True
    for (target, _, _, _), items in holding.items():
        movers = [i for i in items if i.namespace in moves]
        if len(items) > 1 and movers:
            others = ", ".join(o.ref() for o in items if o is not movers[0])
            rl.result(
                f"cannot move it to {target}: {others} would have the same kind and name there",
                "error",
                movers[0],
                "metadata.namespace",
            )
            clean = False
    return clean


def _move(rl, moves: dict) -> int:
    moved = 0
    existing = {i.name for i in rl.items if _is_namespace(i)}
    gone = []
    shapes = [NamespaceShapes(old, new) for old, new in moves.items()]
    for item in list(rl.mutable_items()):
        if item.namespace in moves:
            edited = _namespace_line_moved(item, moves[item.namespace])
            if edited is not None and not any(s.might_refer(edited) for s in shapes):
                rl.replace_text(item, edited)  # nothing else to rewrite in it: no parse, no re-dump
            else:
                item.obj["metadata"]["namespace"] = moves[item.namespace]
            moved += 1
        elif _is_namespace(item) and item.name in moves:
            new = moves[item.name]
            if new in existing:
                gone.append(item)
                rl.result(
                    f"removed: Namespace {new} is already in the input and now holds this namespace's objects",
                    "info",
                    item,
                )
                continue
            item.obj["metadata"]["name"] = new
            existing.add(new)
            moved += 1
    rl.remove(gone)
    return moved


def _namespace_line_moved(item, new: str) -> Optional[str]:
    """The item's text with its `metadata.namespace` line naming `new`, or None when that line
    is not found exactly once in the plain block layout kustomize and kpt write."""
    if item.raw is None or item.changed:
        return None
    span = metadata_namespace_value(item.raw, item.namespace)
    return None if span is None else item.raw[: span[0]] + new + item.raw[span[1] :]


def _rewrite(rl, mapping: dict) -> tuple[int, int]:
    """Rewrite every reference to every old namespace; report changes and leftovers per object."""
    rewriters = [ObjectRewriter(NamespaceShapes(old, new)) for old, new in mapping.items()]
    shapes = [r.shapes for r in rewriters]
    rewritten = touched = 0
    for item in rl.mutable_items():
        # base64 (Secret data, ConfigMap binaryData) hides the name from a text scan
        encoded = item.group == "" and (
            item.kind == "Secret" or (item.kind == "ConfigMap" and "binaryData" in (item.raw or ""))
        )
        if item.raw is not None and not encoded and not any(s.might_refer(item.raw) for s in shapes):
            continue
        changes, leftovers = [], []
        for rewriter in rewriters:
            c, left = rewriter.rewrite(item.obj, item.kind, item.group)
            changes += c
            leftovers += [(rewriter.old, x) for x in left]
        if changes:
            touched += 1
            rewritten += len(changes)
            listed = ", ".join(f"{field_path(c.path)} ({c.what})" for c in changes[:_LISTED])
            more = f" and {len(changes) - _LISTED} more" if len(changes) > _LISTED else ""
            noun = "reference" if len(changes) == 1 else "references"
            rl.result(f"rewrote {len(changes)} namespace {noun}: {listed}{more}", "info", item)
        for old, left in leftovers:
            rl.result(
                f"still names {old} in a shape namespace-relocation does not rewrite: {left.snippet!r}; "
                f"check whether it refers to the namespace",
                "warning",
                item,
                field_path(left.path),
            )
    return rewritten, touched


def _warn_runtime_defaults(rl, old: str, new: str) -> None:
    """Components in `old` whose code falls back to `kubeflow` at run time unless overridden."""
    config_keys = {
        i.name: set((i.obj.get("data") or {}).keys())
        for i in rl.items
        if i.kind == "ConfigMap" and i.group == "" and i.namespace == old
    }
    for item in rl.items:
        if item.namespace != old or not has_pod_template(item):
            continue
        if item.raw is not None and not any(g.split("/")[-1] in item.raw for e in defaults.DEFAULTS for g in e.images):
            continue
        tpl = pod_template(item)
        if tpl is None:
            continue
        for where, container in tpl.containers():
            env_names = {e.get("name") for e in container.get("env") or [] if isinstance(e, dict)}
            for source in container.get("envFrom") or []:
                name = (source.get("configMapRef") or {}).get("name") if isinstance(source, dict) else None
                env_names |= {(source.get("prefix") or "") + k for k in config_keys.get(name, ())}
            args = list(container.get("args") or []) + list(container.get("command") or [])
            for entry in defaults.DEFAULTS:
                if defaults.applies(entry, container.get("image")) and not defaults.overridden(entry, env_names, args):
                    warn(
                        rl,
                        f"{entry.component}: its code falls back to {entry.default} at run time "
                        f"({entry.evidence}); {entry.fix(new)}",
                        item,
                        where,
                        key=entry.key,
                    )


def _find(rl, ref: str):
    return next((i for i in rl.items if i.ref() == ref), None)
