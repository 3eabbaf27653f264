"""What applying a new release over an old one does: the comparison behind `kfkrm upgrade-plan`.

Both renders are compared object by object. An object's identity is its kind, its API group
(a workload that moved from `extensions` to `apps` is the same object), its namespace and its
name; an object whose namespace changed (namespace relocation) is still the same one when
its kind and name are unique on both sides. For each pair the comparison finds:

- blockers for `kubectl apply`, the fields the API server refuses to change (workload
  selectors; StatefulSet fields other than replicas, ordinals, template, updateStrategy,
  persistentVolumeClaimRetentionPolicy and minReadySeconds; a Job's template; a Service's
  clusterIP, its headlessness, its primary IP family and a move to or from ExternalName; a PVC's
  spec beyond a storage increase; an immutable ConfigMap's or Secret's data; a binding's roleRef;
  a CRD's scope and names), each with the remedy;
- CRD version changes: served versions added and removed, a storage version change (a storage
  migration), a stored version dropped from `spec.versions` (a blocker: the API server refuses
  it while objects are stored in it), conversion webhooks added or removed;
- RBAC widening: (API group, resource, verb) triples a ClusterRole or Role grants that it did
  not before;
- the fields of every changed object.

A pure comparison: it reads the two lists of objects and changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Optional

from ..runtime.paths import field_path
from ..runtime.resourcelist import Item

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)
# Kinds that moved API group: the same object under its old and its new group.
MOVED_GROUPS = {
    ("extensions", "Deployment"): "apps",
    ("extensions", "DaemonSet"): "apps",
    ("extensions", "ReplicaSet"): "apps",
    ("extensions", "Ingress"): "networking.k8s.io",
    ("extensions", "NetworkPolicy"): "networking.k8s.io",
    ("extensions", "PodSecurityPolicy"): "policy",
}
RBAC = "rbac.authorization.k8s.io"
CRD_GROUP = "apiextensions.k8s.io"

RECREATE = "delete the object and apply again (kubectl replace --force)"
REMEDY_WORKLOAD = (
    "kubectl delete --cascade=orphan the old workload, apply, then delete the orphaned ReplicaSets/pods once "
    "the new ones are ready (the pods keep running meanwhile)"
)
REMEDY_STATEFULSET = (
    "kubectl delete statefulset --cascade=orphan (its pods and PVCs stay), apply, then delete the old pods one "
    "by one so they come back under the new StatefulSet"
)
REMEDY_JOB = "kubectl delete the Job (it ran already) and apply: the new one runs again"
REMEDY_SERVICE = "kubectl delete the Service and apply (a new clusterIP: clients resolving by DNS follow)"
REMEDY_PVC = "back up the volume, delete the PVC, apply and restore; or keep the old spec"
REMEDY_IMMUTABLE = "delete the ConfigMap/Secret and apply, then restart the pods that mount it"
REMEDY_BINDING = "kubectl delete the binding and apply (or kubectl auth reconcile, which recreates it)"
REMEDY_CRD = "export the kind's objects, delete the CRD (which deletes them), apply, restore: or keep the old CRD"
REMEDY_STORED = (
    "before applying, migrate stored objects to a version the new CRD keeps (read and write each object, e.g. "
    "kube-storage-version-migrator) and remove the old version from the CRD's status.storedVersions"
)


@dataclass
class Blocker:
    new: Item
    old: Item
    field: str
    message: str
    remedy: str


@dataclass
class CrdChange:
    item: Item
    change: str  # served-added, served-removed, storage-changed, stored-version-dropped, conversion-added, -removed
    version: str
    message: str


@dataclass
class Changed:
    old: Item
    new: Item
    fields: list[str]  # the changed field paths, shortened (spec.template.spec.containers[0].image)

    def summary(self, limit: int = 4) -> str:
        shown = ", ".join(self.fields[:limit])
        return shown + (f" (+{len(self.fields) - limit} more)" if len(self.fields) > limit else "")


@dataclass
class Widening:
    new: Item
    granted: list[str]  # "group/resource: verb" added


@dataclass
class Comparison:
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    relocated: list[tuple[Item, Item]] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    crds: list[CrdChange] = field(default_factory=list)
    rbac: list[Widening] = field(default_factory=list)


def identity(item: Item) -> tuple:
    group = MOVED_GROUPS.get((item.group, item.kind), item.group)
    return (group, item.kind, item.namespace, item.name)


def pair(old: list[Item], new: list[Item]) -> tuple[list[tuple[Item, Item]], list[Item], list[Item], list]:
    """(pairs, removed, added, relocated pairs): by identity, then by kind and name when unique on both sides."""
    old_by = {identity(i): i for i in old}
    new_by = {identity(i): i for i in new}
    pairs = [(old_by[k], new_by[k]) for k in new_by if k in old_by]
    lone_old = [i for k, i in old_by.items() if k not in new_by]
    lone_new = [i for k, i in new_by.items() if k not in old_by]

    def by_name(items):
        out: dict = {}
        for i in items:
            out.setdefault((identity(i)[0], i.kind, i.name), []).append(i)
        return out

    old_names, new_names = by_name(lone_old), by_name(lone_new)
    relocated = [
        (old_names[k][0], new_names[k][0])
        for k in new_names
        if k in old_names and len(old_names[k]) == 1 and len(new_names[k]) == 1
    ]
    moved_old = {id(o) for o, _ in relocated}
    moved_new = {id(n) for _, n in relocated}
    removed = [i for i in lone_old if id(i) not in moved_old]
    added = [i for i in lone_new if id(i) not in moved_new]
    return pairs + relocated, removed, added, relocated


def compare(old: list[Item], new: list[Item]) -> Comparison:
    old = [i for i in old if not i.is_local_config]
    new = [i for i in new if not i.is_local_config]
    pairs, removed, added, relocated = pair(old, new)
    out = Comparison(added=added, removed=removed, relocated=relocated)
    for o, n in pairs:
        if not o.changed and not n.changed and o.raw is not None and o.raw == n.raw:
            continue  # the same text: nothing to compare
        fields = sorted(set(_short(p) for p in diff_paths(o.obj, n.obj)))
        if not fields:
            continue
        out.changed.append(Changed(o, n, fields))
        out.blockers.extend(blockers(o, n))
        if n.kind == "CustomResourceDefinition" and n.group == CRD_GROUP:
            out.crds.extend(crd_changes(o, n))
        if n.group == RBAC and n.kind in ("ClusterRole", "Role"):
            granted = sorted(grants(n.obj) - grants(o.obj))
            if granted:
                out.rbac.append(Widening(n, granted))
    return out


# -- field differences -------------------------------------------------------------------------


def diff_paths(a, b, parts: tuple = ()) -> Iterator[tuple]:
    """The paths at which `a` and `b` differ (status is not the manifest's)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if not parts and key == "status":
                continue
            if key not in a or key not in b:
                yield parts + (key,)
            elif a[key] != b[key]:
                yield from diff_paths(a[key], b[key], parts + (key,))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                yield from diff_paths(x, y, parts + (i,))
    elif a != b:
        yield parts


def _short(parts: tuple, depth: int = 6) -> str:
    """A field path cut to `depth` segments (a schema's inner changes are one change of its version)."""
    return field_path(parts[:depth]) or "(whole object)"


def _get(node, *path):
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


# -- blockers ------------------------------------------------------------------------------------


def blockers(old: Item, new: Item) -> list[Blocker]:
    o, n = old.obj, new.obj
    kind, group = new.kind, identity(new)[0]
    out: list[Blocker] = []

    def block(where: str, message: str, remedy: str):
        out.append(Blocker(new, old, where, message, remedy))

    if group in ("apps", "extensions") and kind in WORKLOAD_KINDS:
        was, now = _selector(o), _selector(n)
        if was != now:
            remedy = REMEDY_STATEFULSET if kind == "StatefulSet" else REMEDY_WORKLOAD
            block("spec.selector", f"the selector changes ({_flat(was)} -> {_flat(now)}): immutable", remedy)
    if group == "apps" and kind == "StatefulSet":
        so, sn = o.get("spec") or {}, n.get("spec") or {}
        for key in sorted(set(so) | set(sn)):
            if key in STATEFULSET_MUTABLE or key == "selector" or so.get(key) == sn.get(key):
                continue
            block(
                f"spec.{key}",
                f"StatefulSet spec.{key} changes: only {', '.join(STATEFULSET_MUTABLE)} may",
                REMEDY_STATEFULSET,
            )
    if group == "batch" and kind == "Job":
        if _get(o, "spec", "template") != _get(n, "spec", "template"):
            block("spec.template", "a Job's pod template is immutable", REMEDY_JOB)
    if group == "" and kind == "Service":
        out.extend(_service(old, new))
    if group == "" and kind == "PersistentVolumeClaim":
        out.extend(_pvc(old, new))
    if group == "" and kind in ("ConfigMap", "Secret") and o.get("immutable") is True:
        for key in ("data", "binaryData", "stringData", "immutable"):
            if o.get(key) != n.get(key):
                block(key, f"the {kind} is immutable: {key} cannot change", REMEDY_IMMUTABLE)
    if group == RBAC and kind in ("RoleBinding", "ClusterRoleBinding") and o.get("roleRef") != n.get("roleRef"):
        ro, rn = o.get("roleRef") or {}, n.get("roleRef") or {}
        block(
            "roleRef",
            f"roleRef changes ({ro.get('kind')} {ro.get('name')} -> {rn.get('kind')} {rn.get('name')}): immutable",
            REMEDY_BINDING,
        )
    if group == CRD_GROUP and kind == "CustomResourceDefinition":
        so, sn = o.get("spec") or {}, n.get("spec") or {}
        if (so.get("scope") or "Namespaced") != (sn.get("scope") or "Namespaced"):
            block("spec.scope", f"the CRD's scope changes ({so.get('scope')} -> {sn.get('scope')})", REMEDY_CRD)
        for key in ("kind", "plural"):
            if _get(so, "names", key) != _get(sn, "names", key):
                block(
                    f"spec.names.{key}",
                    f"the CRD's names.{key} changes ({_get(so, 'names', key)} -> {_get(sn, 'names', key)})",
                    REMEDY_CRD,
                )
        for change in crd_changes(old, new):
            if change.change == "stored-version-dropped":
                block("spec.versions", change.message, REMEDY_STORED)
    return out


def _selector(obj: dict):
    """The workload's selector; absent (extensions/v1beta1, apps/v1beta1), the template's labels."""
    selector = _get(obj, "spec", "selector")
    if selector is None:
        return {"matchLabels": _get(obj, "spec", "template", "metadata", "labels") or {}}
    return selector


def _flat(selector) -> str:
    if not isinstance(selector, dict):
        return str(selector)
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    parts += [
        f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".strip()
        for e in selector.get("matchExpressions") or []
        if isinstance(e, dict)
    ]
    return "{" + ", ".join(parts) + "}"


def _service(old: Item, new: Item) -> Iterator[Blocker]:
    so, sn = old.obj.get("spec") or {}, new.obj.get("spec") or {}
    ip_o, ip_n = so.get("clusterIP"), sn.get("clusterIP")
    if ip_o and ip_n and ip_o != ip_n:
        what = "headless" if "None" in (ip_o, ip_n) else "clusterIP"
        yield Blocker(new, old, "spec.clusterIP", f"{what}: clusterIP {ip_o} -> {ip_n} is immutable", REMEDY_SERVICE)
    elif (ip_o == "None") != (ip_n == "None"):
        yield Blocker(
            new,
            old,
            "spec.clusterIP",
            f"the Service becomes {'headless' if ip_n == 'None' else 'not headless'} (clusterIP None): immutable",
            REMEDY_SERVICE,
        )
    fam_o, fam_n = so.get("ipFamilies") or [], sn.get("ipFamilies") or []
    if fam_o and fam_n and fam_o[0] != fam_n[0]:
        yield Blocker(
            new, old, "spec.ipFamilies", f"the primary IP family changes ({fam_o[0]} -> {fam_n[0]})", REMEDY_SERVICE
        )
    type_o, type_n = so.get("type") or "ClusterIP", sn.get("type") or "ClusterIP"
    if type_o != type_n and "ExternalName" in (type_o, type_n):
        yield Blocker(new, old, "spec.type", f"type {type_o} -> {type_n}: the live clusterIP conflicts", REMEDY_SERVICE)


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i?|[kmun]?)$")
_FACTORS = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "m": 1e-3}
_FACTORS.update({f"{p}i": 1024 ** (i + 1) for i, p in enumerate("KMGTPE")})


def quantity(value) -> Optional[float]:
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _FACTORS:
        return None
    return float(m.group(1)) * _FACTORS[m.group(2)]


def _pvc(old: Item, new: Item) -> Iterator[Blocker]:
    so, sn = old.obj.get("spec") or {}, new.obj.get("spec") or {}
    storage_o = _get(so, "resources", "requests", "storage")
    storage_n = _get(sn, "resources", "requests", "storage")
    for parts in diff_paths(so, sn):
        where = field_path(("spec",) + parts)
        if parts == ("resources", "requests", "storage"):
            qo, qn = quantity(storage_o), quantity(storage_n)
            if qo is not None and qn is not None and qn >= qo:
                continue  # an increase: allowed where the StorageClass allows expansion
            yield Blocker(new, old, where, f"storage {storage_o} -> {storage_n}: a PVC can only grow", REMEDY_PVC)
        else:
            yield Blocker(new, old, where, "a PVC's spec is immutable beyond a storage increase", REMEDY_PVC)


# -- CRD versions --------------------------------------------------------------------------------


def crd_versions(obj: dict) -> dict[str, tuple[bool, bool]]:
    """version -> (served, storage), for apiextensions v1 and v1beta1 (whose spec.version alone
    is served and stored)."""
    spec = obj.get("spec") or {}
    out = {}
    for v in spec.get("versions") or []:
        if isinstance(v, dict) and v.get("name"):
            out[str(v["name"])] = (v.get("served", True) is True, v.get("storage", False) is True)
    if not out and spec.get("version"):
        out[str(spec["version"])] = (True, True)
    return out


def crd_changes(old: Item, new: Item) -> list[CrdChange]:
    vo, vn = crd_versions(old.obj), crd_versions(new.obj)
    served_o = [v for v, (s, _) in vo.items() if s]
    served_n = [v for v, (s, _) in vn.items() if s]
    storage_o = next((v for v, (_, st) in vo.items() if st), None)
    storage_n = next((v for v, (_, st) in vn.items() if st), None)
    out = []
    for v in served_o:
        if v not in served_n:
            out.append(
                CrdChange(
                    new, "served-removed", v, f"version {v} is no longer served: clients and manifests using it fail"
                )
            )
    for v in served_n:
        if v not in served_o:
            out.append(CrdChange(new, "served-added", v, f"version {v} is served"))
    if storage_o and storage_n and storage_o != storage_n:
        message = (
            f"storage version {storage_o} -> {storage_n}: objects stay stored as {storage_o} until rewritten "
            "(storage migration)"
        )
        out.append(CrdChange(new, "storage-changed", storage_n, message))
    if storage_o and storage_o not in vn:
        out.append(
            CrdChange(
                new,
                "stored-version-dropped",
                storage_o,
                f"version {storage_o}, the old storage "
                "version, is not in the new CRD's spec.versions: the API server refuses the update while "
                "status.storedVersions lists it",
            )
        )
    conv_o = _get(old.obj, "spec", "conversion", "strategy") == "Webhook"
    conv_n = _get(new.obj, "spec", "conversion", "strategy") == "Webhook"
    if conv_n and not conv_o:
        out.append(
            CrdChange(
                new,
                "conversion-added",
                "",
                "a conversion webhook is added: its Service must be up before the CRD serves more than one version",
            )
        )
    if conv_o and not conv_n:
        out.append(CrdChange(new, "conversion-removed", "", "the conversion webhook is removed"))
    return out


# -- RBAC ----------------------------------------------------------------------------------------


def grants(role: dict) -> set[str]:
    """Every (API group, resource, verb) a role's rules grant, and its non-resource URLs."""
    out = set()
    for rule in role.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        verbs = [str(v) for v in rule.get("verbs") or []]
        for url in rule.get("nonResourceURLs") or []:
            out.update(f"{url}: {v}" for v in verbs)
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                names = rule.get("resourceNames")
                suffix = f" ({', '.join(map(str, names))})" if names else ""
                out.update(f"{group or 'core'}/{resource}{suffix}: {v}" for v in verbs)
    return out
